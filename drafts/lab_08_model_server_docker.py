"""Builds solutions/08-model-server-docker.ipynb (scratch tool, not committed)."""
import sys
from pathlib import Path

import nbformat

cells = []


def md(text):
    cells.append(nbformat.v4.new_markdown_cell(text.strip("\n")))


def code(text, *tags):
    cell = nbformat.v4.new_code_cell(text.strip("\n"))
    if tags:
        cell.metadata["tags"] = list(tags)
    cells.append(cell)


md(r'''
# Lab 8b · The KServe model server in a container

<!-- stated figures: 0.21 -->
<!-- (kserve's version number, not a measurement) -->

An InferenceService runs a model server in a container: KServe's own
runtime images, or an image of your own. In this lab you build lab 8a's
predictor into such an image, from the course's base image
`python:3.11-slim`, with kserve 0.21 and scikit-learn at the versions of
the course's lock file and the trained model inside; run it as a container
whose port is published on 127.0.0.1 only; send it the same v1 and v2
requests as in lab 8a and get the same predictions; and measure it under
the same bounded load as the same server run as a plain process, side by
side, on the same machine.

The outputs shown here come from the course's CI machine, which can reach
no registry: there the base image of that name is built locally by
`scripts/build_base_image.sh`, and the Dockerfile below works unchanged.
''')

md(r'''
## Learning objectives

After this lab you can:

- write a Dockerfile for a KServe predictor: pinned packages, the model
  and the server script inside, an unprivileged user, the server's
  arguments in `ENTRYPOINT` and `CMD`;
- say why the server binds `0.0.0.0` inside the container and why the
  published port still reaches 127.0.0.1 only, and check both;
- send v1 and v2 requests to the container and show that its predictions
  equal the model's in this process;
- compare the latency and throughput of the same server as a process and
  as a container under the same bounded load, and say where a difference
  could come from.
''')

md(r'''
## Prerequisites

| concept | importance | time to learn |
|---|---|---|
| [Lab 8a](08-model-server-local.ipynb): the predictor, the two protocols, the bounded load | necessary | 60 min |
| [Part 8, Serving with KServe](../book/08-serving.md) | necessary | 30 min |
| [Lab 2a](02-build-and-run.ipynb): Dockerfiles, `docker build`, `docker run -p` | necessary | 45 min |

**Time to complete:** about 40 min (the notebook runs in a few minutes; most
of it is the image's first build).
**Tier:** docker (a Docker daemon you may use; `scripts/course doctor --tier docker` checks).
''')

code(r'''
# Every lab starts here: is this the course kernel, and is this lab's tier ready?
try:
    from mlops_course import doctor
except ModuleNotFoundError:
    raise SystemExit(
        "This notebook needs the 'MLOps course (Python 3.11)' kernel: "
        "run scripts/course lab, then choose it under Kernel > Change Kernel."
    ) from None

checks = doctor.require("docker")
''')

code(r'''
n_rows = 5_000  # trips to train on (80% of them) and to ask about
seed = 42  # data seed, and the model's
base_image = "python:3.11-slim"  # pulled from Docker Hub if missing; built locally by scripts/build_base_image.sh offline
port = 0  # the container's published port on 127.0.0.1; 0 lets the lab find a free one
load_requests = 300  # each load run sends at most this many requests ...
load_seconds = 5.0  # ... and runs at most this long
batch_size = 100  # trips per request in the batch runs
''', "parameters")

md(r'''
## 0. Connect, clear what an earlier run left, train the model

Everything this lab creates carries the label
`mlops-course.lab=08-model-server-docker`; `containers.cleanup` removes
exactly that, and the lab's work folder, so it runs first and last. The
model is lab 8a's: the same trips, split, seed and pipeline, saved with
`joblib` into the folder that becomes the build context.
''')

code(r'''
import json
import time

import docker
import joblib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import requests

from mlops_course import containers, data, faults, model, paths, serving, split
from mlops_course.glue import glue

LAB = "08-model-server-docker"
MODEL = "taxi-tip"
faults.install()

client = docker.from_env()  # docker version
engine = glue("engine", containers.describe_engine(client.version()))
print(f"talking to {engine}")
print("servers left by an earlier run, now stopped:", serving.stop_all(LAB) or "none")
print(f"leftovers of an earlier run: {containers.describe_cleanup(containers.cleanup(LAB, client))}")
base = containers.ensure_image(client, base_image)  # docker pull python:3.11-slim, only if it is missing
print(f"base image {base_image}: {base.short_id}")

workdir = paths.workdir(LAB, fresh=True)
context = workdir / "context"
(context / "mlops_course").mkdir(parents=True)

trips = data.generate_trips(n_rows, seed=seed)
assigned = split.hash_split(trips["trip_id"]).to_numpy()
train, valid = trips[assigned == "train"], trips[assigned == "valid"]
fitted = model.train(train, seed=seed)
joblib.dump(fitted, context / "model.joblib")
raw = valid.drop(columns=[model.LABEL, "tips"])  # what a client knows about a trip before it ends
print(f"trained on {len(train)} trips and saved {paths.shown(context / 'model.joblib')}")
''')

md(r'''
## 1. The build context: the predictor, the model, pinned packages

The predictor script is lab 8a's, unchanged: a `kserve.Model` subclass that
answers v1 and v2 requests from the model's features, and the small
`ModelServer` subclass that chooses the address to listen on. Inside a
container it must listen on `0.0.0.0`: 127.0.0.1 there is the
container's own loopback interface, which a published port does not reach.
What the host exposes is decided outside, by `docker run -p
127.0.0.1:PORT:8080`, which binds the host side to its loopback address
only.

`requirements.txt` pins kserve, scikit-learn, pandas and joblib and
everything they need to the versions in `uv.lock`, as lab 2a did, so that
the model pickled in this kernel loads in the container with the very same
scikit-learn. The course module the script imports (`model.py`, for the
feature list) is copied in beside it.
''')

code(r'''
%%writefile ../.work/08-model-server-docker/context/predictor.py
"""The course model behind KServe's model server, spoken to with the v1 and v2 protocols (lab 8a's script).

    python predictor.py --model_name taxi-tip --model_path model.joblib --host 0.0.0.0 --http_port 8080
"""
import argparse
import sys
import uuid
from pathlib import Path

import joblib
import pandas as pd
from kserve import InferOutput, InferRequest, InferResponse, Model, ModelServer, model_server

from mlops_course.model import FEATURES


class TaxiTipModel(Model):
    """P(big tip) for trips given as the model's features."""

    def __init__(self, name: str, model_path: str):
        super().__init__(name)
        self.model_path = model_path
        self.classifier = None

    def load(self) -> bool:
        pipeline = joblib.load(self.model_path)
        self.classifier = pipeline[1:]  # encoding and classifier: the time features come from the transformer
        self.ready = True
        return self.ready

    def predict(self, payload, headers=None, response_headers=None):
        if isinstance(payload, InferRequest):  # v2: one input tensor per feature
            features = payload.as_dataframe()
        else:  # v1: {"instances": [{feature: value, ...}, ...]}
            features = pd.DataFrame(payload["instances"])
        probability = self.classifier.predict_proba(features[FEATURES])[:, 1]
        if isinstance(payload, InferRequest):
            output = InferOutput(name="probability", shape=[len(probability)], datatype="FP64", data=probability.tolist())
            # The v2 protocol makes a request's id optional and a response's id required.
            return InferResponse(response_id=payload.id or str(uuid.uuid4()), model_name=self.name, infer_outputs=[output])
        return {"predictions": probability.tolist()}


class LoopbackModelServer(ModelServer):
    """kserve 0.21's ModelServer listening on one address; its REST server always binds 0.0.0.0."""

    def __init__(self, host: str, **kwargs):
        super().__init__(**kwargs)
        self.host = host

    async def _serve(self):
        # start() has built the uvicorn configuration; nothing listens until the servers are awaited here.
        self._rest_server.config.host = self.host
        await super()._serve()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(parents=[model_server.parser])  # --http_port, --model_name, --predictor_host, ...
    parser.add_argument("--model_path", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    args, _ = parser.parse_known_args()
    if not Path(args.model_path).is_file():
        sys.exit(f"error: there is no model file at {args.model_path}: train and save the model first, or fix --model_path")
    predictor = TaxiTipModel(args.model_name, args.model_path)
    predictor.load()
    LoopbackModelServer(args.host, http_port=args.http_port, enable_grpc=False).start([predictor])
''')

code(r'''
UV_VERSION = "0.13.9"  # the uv that scripts/course installs for the course environment
requirements = containers.pinned_requirements(["kserve", "scikit-learn", "pandas", "joblib"])
(context / "requirements.txt").write_text("\n".join(requirements) + "\n")
for module in ("__init__.py", "model.py"):
    (context / "mlops_course" / module).write_text((paths.REPO_ROOT / "mlops_course" / module).read_text())

DOCKERFILE = f"""\
FROM {base_image}
LABEL mlops-course.lab={LAB}

RUN python3 -m pip install --no-cache-dir --break-system-packages uv=={UV_VERSION}
ENV UV_NATIVE_TLS=1 UV_NO_CACHE=1 UV_LINK_MODE=copy
RUN uv venv /opt/venv
# One OpenMP thread per server process (lab 8a, section 1)
ENV VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1
WORKDIR /app

COPY requirements.txt .
RUN uv pip install -r requirements.txt

COPY mlops_course/ mlops_course/
COPY predictor.py model.joblib ./
# A numeric user, so that a pod with runAsNonRoot can check that it is not root
USER 65532:65532
EXPOSE 8080
# Every interface of the container's own network namespace; the host decides where it is published
ENTRYPOINT ["python", "predictor.py", "--host", "0.0.0.0", "--http_port", "8080"]
CMD ["--model_name", "{MODEL}", "--model_path", "model.joblib"]
"""
(context / "Dockerfile").write_text(DOCKERFILE)
print(DOCKERFILE)
print(f"requirements.txt: {len(requirements)} packages, among them",
      ", ".join(r for r in requirements if r.split("==")[0] in ("kserve", "scikit-learn", "pandas", "numpy", "fastapi", "uvicorn")))
''')

code(r'''
pins = dict(line.split("==") for line in requirements)
for name in ("kserve", "scikit-learn", "pandas", "numpy", "joblib"):
    assert pins[name] == doctor.locked_packages()[name], f"{name} is not pinned to the lock's version"
assert pins["kserve"] == "0.21.0"
assert sorted(p.name for p in context.iterdir()) == ["Dockerfile", "mlops_course", "model.joblib", "predictor.py", "requirements.txt"]
print(f"✓ the context holds the predictor, the model and {len(pins)} packages pinned to uv.lock "
      f"(kserve {pins['kserve']}, scikit-learn {pins['scikit-learn']})")
''', "check")

md(r'''
## 2. Build the image

`client.images.build` is `docker build`. The first build installs every
package, which is most of its time and of the image's size; lab 2a showed
why the code and the model come after the packages in the Dockerfile.
''')

code(r'''
TAG = "taxi-tip-predictor:1"
start = time.perf_counter()
image, build_log = client.images.build(path=str(context), tag=TAG, rm=True, forcerm=True)  # docker build -t taxi-tip-predictor:1 .
build_seconds = glue("build_seconds", time.perf_counter() - start)
glue("image_mb", image.attrs["Size"] / 1e6)
print(f"built {TAG} ({image.short_id}) in {build_seconds:.0f} s: {containers.human_size(image.attrs['Size'])}")
print(containers.layers(image).tail(6).to_string(index=False))
''')

code(r'''
assert TAG in image.tags and image.labels.get(containers.LABEL) == LAB
assert image.attrs["Config"]["User"] == "65532:65532"
assert image.attrs["Config"]["Entrypoint"][:2] == ["python", "predictor.py"]
print(f"✓ {TAG} carries the lab's label, runs as user 65532 and starts the predictor")
''', "check")

md(r'''
## 3. Run it, published on 127.0.0.1 only

`client.containers.run` is `docker run`: `ports={"8080/tcp": ("127.0.0.1",
port)}` is `-p 127.0.0.1:PORT:8080`. Docker then listens on the host's
loopback address and forwards to the container's port 8080, where the
server listens on all of the container's own interfaces. The container
inspects as such (`docker port`), and `containers.wait_for_http` waits
until the server is ready, or says why the container stopped.
''')

code(r'''
port = serving.require_free_port(port or serving.free_port())
URL = f"http://127.0.0.1:{port}"
# docker run -d --name 08-model-server-docker-predictor -p 127.0.0.1:PORT:8080 taxi-tip-predictor:1
container = client.containers.run(TAG, detach=True, name=f"{LAB}-predictor", labels=containers.labels(LAB),
                                  ports={"8080/tcp": ("127.0.0.1", port)})
waited = containers.wait_for_http(f"{URL}/v2/health/ready", timeout=120, container=container)
container.reload()
published = container.attrs["NetworkSettings"]["Ports"]["8080/tcp"]
print(f"{container.name} is ready after {waited:.1f} s; docker port: 8080/tcp -> {published}")
print("its log:", *[line for line in container.logs().decode().splitlines() if "Uvicorn running" in line], sep="\n  ")
answers = {path: requests.get(URL + path, timeout=5) for path in ("/v2/health/ready", f"/v2/models/{MODEL}/ready", "/v2")}
print({path: (r.status_code, r.json()) for path, r in answers.items()})
''')

code(r'''
assert container.status == "running" and all(r.status_code == 200 for r in answers.values())
assert published == [{"HostIp": "127.0.0.1", "HostPort": str(port)}], "published on the host's loopback address only"
assert any("Uvicorn running on http://0.0.0.0:8080" in line for line in container.logs().decode().splitlines())
print(f"✓ the server listens on 0.0.0.0:8080 inside the container; the host publishes it on 127.0.0.1:{port} only")
''', "check")

md(r'''
A container whose server cannot start ends, and the reason is in its log.
Run the image once more with a model path that does not exist (the
arguments after the image name replace its `CMD`), and let
`wait_for_http` report it.
''')

code(r'''
broken_port = serving.free_port()
# docker run -d -p 127.0.0.1:PORT:8080 taxi-tip-predictor:1 --model_name taxi-tip --model_path missing.joblib
broken = client.containers.run(TAG, ["--model_name", MODEL, "--model_path", "missing.joblib"], detach=True,
                               name=f"{LAB}-broken", labels=containers.labels(LAB),
                               ports={"8080/tcp": ("127.0.0.1", broken_port)})
try:
    containers.wait_for_http(f"http://127.0.0.1:{broken_port}/v2/health/ready", timeout=120, container=broken)
except containers.ContainerError as exc:
    stopped_message = str(exc)
print(stopped_message)
''')

code(r'''
broken.reload()
assert broken.status == "exited" and broken.attrs["State"]["ExitCode"] == 1
assert "there is no model file at missing.joblib" in stopped_message
print(f"✓ the broken container exited with code {broken.attrs['State']['ExitCode']} and said why in one line")
''', "check")

md(r'''
## 4. The same requests, the same predictions

The requests are lab 8a's: five validation trips as v1 `instances` of
features and as v2 tensors, one per feature. The container's answers must
be the model's own predictions in this kernel, to the last bit: the same
pickled pipeline, the same scikit-learn, the same features.
''')

code(r'''
def v2_datatype(column):
    kind, bits = column.dtype.kind, 8 * column.dtype.itemsize
    return {"f": f"FP{bits}", "i": f"INT{bits}"}.get(kind, "BYTES")


def v2_inputs(frame):
    return [{"name": name, "shape": [len(frame)], "datatype": v2_datatype(frame[name]), "data": frame[name].tolist()}
            for name in frame.columns]


asked = raw.head(5)
features = model.add_time_features(asked)[model.FEATURES]
in_process = fitted.predict_proba(asked)[:, 1]
v1 = requests.post(f"{URL}/v1/models/{MODEL}:predict", json={"instances": features.to_dict(orient="records")}, timeout=10)
v2 = requests.post(f"{URL}/v2/models/{MODEL}/infer", json={"inputs": v2_inputs(features)}, timeout=10)
container_v1, container_v2 = np.array(v1.json()["predictions"]), np.array(v2.json()["outputs"][0]["data"])
pd.DataFrame({"container (v1)": container_v1, "container (v2)": container_v2, "in process": in_process}, index=asked["trip_id"])
''')

code(r'''
assert v1.status_code == 200 and v2.status_code == 200
assert np.array_equal(container_v1, in_process) and np.array_equal(container_v2, in_process)
print(f"✓ the container answered v1 and v2 with the model's own {len(in_process)} predictions, to the last bit")
''', "check")

md(r'''
## 5. Process or container: the same load, side by side

Is the container slower? Start the same script from the build context as
a plain process on another port (with the same `OMP_NUM_THREADS=1` that
the image sets), and send both servers the same bounded loads with
`serving.measure`, one after the other: one trip per request with v1 and
with v2, and a batch of trips per request.
''')

code(r'''
process = serving.start(LAB, "process", context / "predictor.py",
                        ["--model_name", MODEL, "--model_path", "model.joblib"], port=serving.free_port(),
                        env={"OMP_NUM_THREADS": "1"})
one_v1 = {"instances": features.head(1).to_dict(orient="records")}
one_v2 = {"inputs": v2_inputs(features.head(1))}
batch = {"instances": model.add_time_features(raw.head(batch_size))[model.FEATURES].to_dict(orient="records")}

shapes = {
    "v1, 1 trip": (lambda url: lambda s: s.post(f"{url}/v1/models/{MODEL}:predict", json=one_v1, timeout=10), 1),
    "v2, 1 trip": (lambda url: lambda s: s.post(f"{url}/v2/models/{MODEL}/infer", json=one_v2, timeout=10), 1),
    f"v1, {batch_size} trips": (lambda url: lambda s: s.post(f"{url}/v1/models/{MODEL}:predict", json=batch, timeout=10),
                                batch_size),
}
rows = {}
for shape, (sender, rows_per_request) in shapes.items():
    for where, url in (("process", process.url), ("container", URL)):
        load = serving.measure(sender(url), label=f"{shape} / {where}", requests=load_requests, seconds=load_seconds,
                               rows_per_request=rows_per_request)
        rows[(shape, where)] = {**load.summary(), "latencies": load.latencies}
comparison = pd.DataFrame({k: {c: v for c, v in r.items() if c != "latencies"} for k, r in rows.items()}).T
comparison = comparison.astype({"requests": int, "clients": int, "errors": int}).drop(columns=["clients"])
comparison.round(1)
''')

code(r'''
fig, ax = plt.subplots(figsize=(8, 3.4))
for (shape, where), r in rows.items():
    ms = np.sort(np.array(r["latencies"]) * 1000)
    ax.plot(ms, np.arange(1, len(ms) + 1) / len(ms), ls="-" if where == "process" else "--",
            color={0: "tab:blue", 1: "tab:orange", 2: "tab:green"}[list(shapes).index(shape)], label=f"{shape}, {where}")
ax.set(xscale="log", xlabel="latency (ms, log scale)", ylabel="share of requests answered",
       title="The same server as a process (solid) and in a container (dashed)")
ax.legend(fontsize=7, loc="lower right")
fig.tight_layout()
plt.show()
''')

code(r'''
for r in rows.values():
    assert r["errors"] == 0 and 0 < r["requests"] <= load_requests
for (shape, where), r in rows.items():
    key = {"v1, 1 trip": "v1", "v2, 1 trip": "v2"}.get(shape, "batch") + "_" + where
    glue(f"{key}_p50_ms", r["p50 (ms)"])
    glue(f"{key}_p99_ms", r["p99 (ms)"])
    glue(f"{key}_rps", r["requests/s"])
    glue(f"{key}_trips_per_s", r["trips/s"])
ratio = rows[("v1, 1 trip", "container")]["p50 (ms)"] / rows[("v1, 1 trip", "process")]["p50 (ms)"]
glue("container_over_process_p50", ratio)
print(f"✓ six bounded runs without errors; for one trip with v1 the container's median latency is {ratio:.2f} "
      "times the process's")
''', "check")

md(r'''
On Linux a container is a process with namespaces and cgroups (lab 2b),
so the server's own work costs the same; what differs is the way in. A
request to the published port goes through Docker's port forwarding
(`docker-proxy`, or the kernel's NAT rules) and a virtual network
interface into the container's namespace, where the process's requests
stay on the loopback interface. That adds a little to each request, and
shows most where the request itself is short. On Docker Desktop (macOS,
Windows) the container runs in a virtual machine and the way in is longer.
Either way it is small next to the model's own time for a batch, and on a
cluster the pod's network path is of the same kind.
''')

md(r'''
## Exercises

### Exercise 1: the container's access log

uvicorn writes one access-log line per request, `"POST
/v2/models/taxi-tip/infer HTTP/1.1" 200 OK` and the like, which `docker
logs` shows. From `container.logs()`, set `posts` to the number of lines
that record a POST to `/v1/models/taxi-tip:predict` or
`/v2/models/taxi-tip/infer` answered with 200. The check asserts that
`posts` equals the requests the container has answered in this lab: the
v1 and v2 requests of section 4 and every request of the container's three
load runs.
''')

code(r'''
### BEGIN SOLUTION
log_lines = container.logs().decode().splitlines()
posts = sum(1 for line in log_lines
            if ("POST /v1/models/taxi-tip:predict" in line or "POST /v2/models/taxi-tip/infer" in line) and '" 200' in line)
### END SOLUTION
print(f"the container's log records {posts} answered POST requests")
''', "solution", "hide-input")

code(r'''
answered = 2 + sum(r["requests"] for (shape, where), r in rows.items() if where == "container")
assert posts == answered, f"expected {answered}"
print(f"✓ docker logs shows {posts} answered predictions: section 4's two and the {answered - 2} of the load runs")
''', "check")

md(r'''
### Exercise 2: a container with half a CPU

On a cluster a pod gets a CPU limit, and the kernel throttles it
(lab 2b, Part 3). Run the image a second time as `limited`, published on
127.0.0.1 on a port of its own and with the lab's labels, with half a
CPU: `nano_cpus=500_000_000` (`docker run --cpus 0.5`). Wait until it is
ready, and measure it with `serving.measure` under the same bounds with
the batch request (`batch`, `batch_size` trips per request) into
`limited_load`. The check asserts that `limited` runs with a `NanoCpus`
of 500000000, publishes on 127.0.0.1 only, that `limited_load` answered
without errors, and prints its median latency beside the unlimited
container's for you to judge.
''')

code(r'''
### BEGIN SOLUTION
limited_port = serving.free_port()
limited = client.containers.run(TAG, detach=True, name=f"{LAB}-limited", labels=containers.labels(LAB),
                                ports={"8080/tcp": ("127.0.0.1", limited_port)}, nano_cpus=500_000_000)
containers.wait_for_http(f"http://127.0.0.1:{limited_port}/v2/health/ready", timeout=120, container=limited)
limited_load = serving.measure(lambda s: s.post(f"http://127.0.0.1:{limited_port}/v1/models/{MODEL}:predict",
                                                json=batch, timeout=30),
                               label="half a CPU", requests=load_requests, seconds=load_seconds, rows_per_request=batch_size)
### END SOLUTION
print(limited_load.summary())
''', "solution", "hide-input")

code(r'''
limited.reload()
assert limited.attrs["HostConfig"]["NanoCpus"] == 500_000_000
assert all(b["HostIp"] == "127.0.0.1" for b in limited.attrs["NetworkSettings"]["Ports"]["8080/tcp"])
assert limited_load.errors == 0 and len(limited_load.latencies) > 0
full = rows[(f"v1, {batch_size} trips", "container")]["p50 (ms)"]
print(f"✓ with half a CPU the batch request's median latency is {limited_load.summary()['p50 (ms)']:.1f} ms, "
      f"against {full:.1f} ms without a limit")
''', "check")

md(r'''
### Exercise 3 (open-ended): an image of your own

The image is large: kserve brings FastAPI, gRPC, the Kubernetes client and
more, which this predictor never uses. Choose what to improve (a smaller
image, a faster rebuild when only the model changes, the model mounted
as a volume instead of copied in, a base image pinned by digest), write
`Dockerfile.mine` in the build context (keep the `LABEL` line, so that
cleanup finds it), build it as `taxi-tip-predictor:mine` with
`containers.build_image`, and set `mine` to what that returns. The check
asserts only that the image has the lab's label and that a container of
it, published on 127.0.0.1, answers the v1 request of section 4 with the
same predictions; it prints the size and build time beside `TAG`'s for you
to judge.
''')

code(r'''
### BEGIN SOLUTION
# The model changes more often than the code: copy it last, so that a new model rebuilds one small layer.
mine_text = DOCKERFILE.replace("COPY predictor.py model.joblib ./", "COPY predictor.py ./\nCOPY model.joblib ./")
(context / "Dockerfile.mine").write_text(mine_text)
mine = containers.build_image(client, context, "taxi-tip-predictor:mine", LAB, dockerfile="Dockerfile.mine")
### END SOLUTION
print(mine.summary())
''', "solution", "hide-input")

code(r'''
assert mine.image.labels.get(containers.LABEL) == LAB, "keep the LABEL line so that cleanup finds the image"
mine_port = serving.free_port()
mine_container = client.containers.run(mine.image.id, detach=True, labels=containers.labels(LAB),
                                       ports={"8080/tcp": ("127.0.0.1", mine_port)})
containers.wait_for_http(f"http://127.0.0.1:{mine_port}/v2/health/ready", timeout=120, container=mine_container)
mine_answer = requests.post(f"http://127.0.0.1:{mine_port}/v1/models/{MODEL}:predict",
                            json={"instances": features.to_dict(orient="records")}, timeout=10)
assert np.array_equal(mine_answer.json()["predictions"], in_process)
print(f"✓ taxi-tip-predictor:mine answers as the model does: {containers.human_size(mine.image.attrs['Size'])}, "
      f"built in {mine.seconds:.0f} s, against {containers.human_size(image.attrs['Size'])} for {TAG}")
''', "check")

md(r'''
## Cleanup

Stop the process server, remove the lab's containers and images (every one
with the lab's label) and its work folder. The base image stays. Running
this cell twice is fine.
''')

code(r'''
print("stopped:", serving.stop_all(LAB) or "no process server was running")
print(containers.describe_cleanup(containers.cleanup(LAB, client)))
left = containers.lab_objects(client, LAB)
assert not any(left.values()), left
assert not serving.port_in_use(port), "the published port is free again"
client.images.get(base_image)  # still here
print(f"nothing with the label {containers.LABEL}={LAB} is left; {base_image} is kept; 127.0.0.1:{port} is free")
''', "cleanup")

md(r'''
## Summary

- A KServe predictor image is the base image, pinned packages, the server
  script and the model, run as an unprivileged user, with the server's
  arguments in `ENTRYPOINT` and `CMD`.
- Inside the container the server listens on `0.0.0.0`; `-p
  127.0.0.1:PORT:8080` publishes it on the host's loopback address only,
  and `docker port` (the container's `NetworkSettings`) shows it.
- A container that cannot start exits, and its log says why.
- The container answered the v1 and v2 requests with the model's own
  predictions, to the last bit.
- Under the same bounded load the container and the process did the same
  work; the container's way in adds a little to each request.

## What's next

On a cluster, this image is what an InferenceService's predictor runs as a
custom container; [Part 8](../book/08-serving.md) shows the resource, its
modes, canaries and autoscaling. Part 9 turns to what goes wrong silently
between training and serving.
''')

nb = nbformat.v4.new_notebook()
nb.cells = cells
nb.metadata = {
    "course": {"tier": "docker", "budget_seconds": 420},
    "kernelspec": {"display_name": "MLOps course (Python 3.11)", "language": "python", "name": "mlops-course"},
    "language_info": {"name": "python", "version": "3.11"},
}
out = Path(sys.argv[1] if len(sys.argv) > 1 else "solutions/08-model-server-docker.ipynb")
nbformat.write(nb, out)
print("wrote", out)
