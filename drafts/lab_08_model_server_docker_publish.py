import re
def edit(f, a, b):
    s = open(f).read(); assert a in s, (f, a[:60]); open(f, "w").write(s.replace(a, b, 1))
edit("_toc.yml", "      - file: solutions/08-model-server-local\n", "      - file: solutions/08-model-server-local\n      - file: solutions/08-model-server-docker\n")
edit("README.md", "wrong requests, latency and throughput under a bounded load | local |",
     "wrong requests, latency and throughput under a bounded load; the same server built into an image and run as a container published on 127.0.0.1, measured against the process | local; docker |")
edit("README.md", "the Docker smoke test; Part 2: build and run, namespaces and cgroups, registry |",
     "the Docker smoke test; Part 2: build and run, namespaces and cgroups, registry; Part 8: the model server in a container |")
edit("book/instructor-guide.md", "| 8 Serving with KServe | 35 | 60 | {doc}`../solutions/08-model-server-local` (local: no cluster) |",
     "| 8 Serving with KServe | 35 | 60 + 40 | {doc}`../solutions/08-model-server-local` (local: no cluster), {doc}`../solutions/08-model-server-docker` (docker) |")
edit("book/instructor-guide.md", "| 11:35 | lab {doc}`../solutions/08-model-server-local` | 60 |\n| 12:35 | end | |",
     "| 11:35 | lab {doc}`../solutions/08-model-server-local` | 60 |\n| 12:35 | lab {doc}`../solutions/08-model-server-docker` (Docker) | 40 |\n| 13:15 | end | |")
edit("book/instructor-guide.md", "Part 5's first lab runs pipelines locally and Part 8's first lab serves the\nmodel locally; neither needs a cluster.",
     "Part 5's first lab runs pipelines locally and Part 8's labs serve the model\nlocally and in a container; none needs a cluster.")
edit("book/08-serving.md", """measures latency and throughput under a bounded load.
""", """measures latency and throughput under a bounded load.
{doc}`../solutions/08-model-server-docker` builds the same predictor into an
image from `python:3.11-slim`, runs it as a container published on
127.0.0.1 only, gets the same predictions, and measures it beside the same
server run as a process.
""")
print("ok")
