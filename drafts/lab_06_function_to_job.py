"""Draft of lab 6a: writes solutions/06-function-to-job.ipynb (run from the repository root).

The lab could not be executed before the deadline (no Docker daemon or cluster was available), so it is not in
the toc yet. To finish it: run this script, `scripts/course refresh solutions/06-function-to-job.ipynb` with a
cluster up, fix what the run shows, put the lab after book/06-packaging in _toc.yml, restore its rows in README,
book/intro.md and the instructor guide (Time to complete: about 40 min), glue the figures the chapter may quote,
and delete this file: from then on the notebook is the source.
"""
import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

cells = []


def md(text, tags=None):
    cells.append(new_markdown_cell(text.strip("\n")))


def code(text, tags=None):
    cell = new_code_cell(text.strip("\n"))
    if tags:
        cell.metadata["tags"] = tags
    cells.append(cell)


md("""
# Lab 6a · From a notebook function to a Kubernetes Job

A training function that works in a notebook has to become an image and a
workload before a cluster can run it. Kubeflow Fairing, which the study notes
teach, did that in three stages: a *preprocessor* gathered the code, a
*builder* made the image, a *deployer* ran it as a Job, after *pod-spec
mutators* had edited the pod. Fairing is archived; its stages are not. In this
lab you do each stage by hand with the tools that do it today: write the build
context, build the image with the Docker SDK (`docker build`), put it on the
cluster's node, write the Job and create it with the Kubernetes client
(`kubectl apply -f`), and read the metric from its log. Then
`mlops_course.packaging` does the three stages in one call, and you look at
what each stage made. The metric from the cluster must equal the one the
notebook computes: same data, same seed, same pinned packages.

Every step goes to a real Docker daemon and a real API server: the kind
cluster on your laptop (`cluster/up`), or the single-node cluster the course's
CI machine builds from source, which can reach no registry.
""")

md("""
## Learning objectives

After this lab you can:

- write the build context for a Python function: its source
  (`inspect.getsource`), an entry point that calls it, requirements pinned to
  the course's lock and a Dockerfile;
- build the image with `client.images.build` (`docker build`) and put it on
  the cluster's node (`kind load docker-image`);
- write a Job for the image, create it with `batch.create_namespaced_job`
  (`kubectl apply -f`), wait for it (`kubectl wait`) and read its log
  (`kubectl logs`);
- name Fairing's preprocessor, builder, deployer and pod-spec mutators, and
  the tool that does each one's work today;
- run the three stages in one call, read what each one made (the context, the
  image's layers and labels, the Job's pod spec), and write a mutator that
  edits the pod before the Job is created.
""")

md("""
## Prerequisites

| concept | importance | time to learn |
|---|---|---|
| [Part 6, packaging](../book/06-packaging.md) (the chapter) | necessary | 30 min |
| [Lab 2a, build and run](02-build-and-run.ipynb): a Dockerfile, `client.images.build`, layers and the build cache | necessary | 45 min |
| [Lab 3e, Jobs and CronJobs](03-jobs-and-cronjobs.ipynb): a Job's spec, its conditions and its pod's log | helpful | 35 min |

**Time to complete:** about 40 min (the notebook itself runs in about three
minutes, most of it building the image and putting it on the node).
**Tier:** cluster (`cluster/up` on a laptop); the lab also builds its image
with Docker, which kind needs anyway.
""")

code('''
# Every lab starts here: is this the course kernel, and is this lab's tier ready?
try:
    from mlops_course import doctor
except ModuleNotFoundError:
    raise SystemExit(
        "This notebook needs the 'MLOps course (Python 3.11)' kernel: "
        "run scripts/course lab, then choose it under Kernel > Change Kernel."
    ) from None

checks = doctor.require("cluster")
''')

code('''
namespace = "lab-06-function-to-job"  # everything the lab makes on the cluster lives here, and goes with it
n_rows = 10_000  # trips the training function generates and trains on
seed = 42  # data and model seed: the same in the notebook and in the Job
learning_rate = 0.1  # the gradient-boosted model's learning rate (exercise 1 changes it)
job_timeout = 300  # seconds to wait for any one Job before saying why it did not finish
''', tags=["parameters"])

md("""
## 0. Connect, and clear what an interrupted run left behind

Two clients: the Docker SDK's, for the daemon that builds the image, and the
Kubernetes client, which reads kubectl's kubeconfig and talks to the same
API server. Jobs belong to the `batch/v1` API group and have their own client
class, `BatchV1Api`. Everything the lab makes carries its name: the images
the label `mlops-course.lab=06-function-to-job`, the cluster's objects the
namespace. `containers.cleanup` removes the lab's images (never the base
image) and its work folder; `cluster.fresh_namespace` deletes the namespace
if an earlier run left it and makes it again.
""")

code('''
import inspect
import json
import time

import docker
import pandas as pd
import yaml
from kubernetes import client as k8s, config, watch

from mlops_course import cluster, containers, faults, packaging, paths
from mlops_course.glue import glue

LAB = "06-function-to-job"
faults.install()  # a daemon or an API server lost mid-lab ends in one clear message
client = docker.from_env()  # docker version
print(f"Docker: {containers.describe_engine(client.version())}")
config.load_kube_config()  # kubectl's cluster: the current context of the kubeconfig
core, batch = k8s.CoreV1Api(), k8s.BatchV1Api()
print(f"Kubernetes: {k8s.VersionApi().get_code().git_version}")  # kubectl version
print(f"leftovers in Docker: {containers.describe_cleanup(containers.cleanup(LAB, client))}")
print("an earlier run's namespace was deleted" if cluster.fresh_namespace(namespace, LAB) else "no namespace left from an earlier run")
base = containers.ensure_image(client)  # docker pull python:3.11-slim, only if it is not here
work = paths.workdir(LAB, fresh=True)
''')

md("""
## 1. The function, in the notebook

This is the function to ship: Part 1's training run (generated trips, the
hash split, the course model) with its inputs as arguments and its metrics as
the result. It is written the way a function must be to run somewhere else:
it imports what it uses *inside* itself, because the container will have its
source and nothing of this notebook, and it returns plain values (a dict of
numbers), which travel as JSON. It also returns the host it ran on
(`platform.node()`, the pod's name in a pod) and its arguments, so that the
result says where and how it was made. Run it here first: this is the number
the cluster must reproduce.
""")

code('''
def train_taxi_model(n_rows: int = 10_000, seed: int = 42, learning_rate: float = 0.1) -> dict:
    """Train the course model on generated trips; return its validation metrics, where it ran and its arguments."""
    import platform

    from mlops_course import data, model, split

    trips = data.generate_trips(n_rows, seed=seed)
    assigned = split.hash_split(trips["trip_id"]).to_numpy()
    fitted = model.train(trips[assigned == "train"], seed=seed, learning_rate=learning_rate)
    metrics = model.evaluate(fitted, trips[assigned == "valid"])
    print(f"trained on {int((assigned == 'train').sum())} trips, ROC AUC {metrics['roc_auc']}", flush=True)
    return {"metrics": metrics, "host": platform.node(),
            "arguments": {"n_rows": n_rows, "seed": seed, "learning_rate": learning_rate}}


arguments = {"n_rows": n_rows, "seed": seed, "learning_rate": learning_rate}
start = time.perf_counter()
local = train_taxi_model(**arguments)
local_seconds = time.perf_counter() - start
pd.DataFrame([local["metrics"]], index=["in the notebook"])
''')

code('''
metrics = local["metrics"]
assert metrics["roc_auc"] > 0.75 and metrics["log_loss"] < metrics["baseline_log_loss"], "the model beats the baseline"
glue("local_roc_auc", metrics["roc_auc"])
glue("local_log_loss", metrics["log_loss"])
glue("baseline_log_loss", metrics["baseline_log_loss"])
print(f"✓ trained here in {local_seconds:.1f} s: ROC AUC {metrics['roc_auc']}, log loss {metrics['log_loss']} "
      f"(the majority-class baseline's {metrics['baseline_log_loss']})")
''', tags=["check"])

md("""
## 2. By hand, stage one: a build context

Fairing's preprocessor wrote the files an image needs into a *build
context*. Here you write them yourself into the lab's work folder:

- `train.py`: the function's source, which `inspect.getsource` reads (in
  Jupyter it finds a cell's source too), and a `__main__` block that takes the
  arguments as JSON from the command line, calls the function and prints the
  result as the log's last line;
- `mlops_course/`: the three course modules the function imports;
- `requirements.txt`: numpy, pandas and scikit-learn and what they need, each
  `==` the version in `uv.lock`, as lab 2a wrote it: the notebook and the
  image run the same versions, which is what lets their metrics agree;
- `Dockerfile`: lab 2a's, with the lab's label after `FROM`, packages before
  code, a numeric non-root user, and `ENTRYPOINT` rather than `CMD`, so that
  the Job's `args` are the arguments of `train.py`.
""")

code('''
context = work / "by-hand"
(context / "mlops_course").mkdir(parents=True)

ENTRY_POINT = """

if __name__ == "__main__":
    import json
    import sys

    result = train_taxi_model(**json.loads(sys.argv[1]))
    print("result:", json.dumps(result))
"""
(context / "train.py").write_text(inspect.getsource(train_taxi_model) + ENTRY_POINT)
for module in ("__init__.py", "data.py", "split.py", "model.py"):
    (context / "mlops_course" / module).write_text((paths.REPO_ROOT / "mlops_course" / module).read_text())
requirements = containers.pinned_requirements(["numpy", "pandas", "scikit-learn"])
(context / "requirements.txt").write_text("\\n".join(requirements) + "\\n")

DOCKERFILE = f"""\\
FROM {containers.BASE_IMAGE}
LABEL {containers.LABEL}={LAB}

RUN python3 -m pip install --no-cache-dir --break-system-packages uv==0.13.9
ENV UV_NATIVE_TLS=1 UV_NO_CACHE=1 UV_LINK_MODE=copy
RUN uv venv /opt/venv
ENV VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1
WORKDIR /app

COPY requirements.txt .
RUN uv pip install -r requirements.txt

COPY mlops_course/ mlops_course/
COPY train.py .
USER 65532:65532
ENTRYPOINT ["python", "train.py"]
"""
(context / "Dockerfile").write_text(DOCKERFILE)
print(f"the build context, {paths.shown(context)}:")
for path in sorted(p for p in context.rglob("*") if p.is_file()):
    print(f"  {str(path.relative_to(context)):28} {path.stat().st_size:>7,d} bytes")
print((context / "train.py").read_text())
''')

code('''
pins = dict(line.split("==") for line in requirements)
assert (context / "train.py").read_text().startswith("def train_taxi_model(")
assert all(pins[name] == doctor.locked_packages()[name] for name in ("numpy", "pandas", "scikit-learn"))
assert containers.dockerfile_labels_lab(DOCKERFILE, LAB), "the lab's label, for cleanup"
print(f"✓ the context holds the function's source with an entry point, {len(pins)} packages pinned to uv.lock "
      f"(scikit-learn {pins['scikit-learn']}), the course modules and a Dockerfile that labels its images")
''', tags=["check"])

md("""
## 3. By hand, stage two: build the image, and put it on the node

`client.images.build` is `docker build`: it sends the context to the daemon,
which runs the Dockerfile and tags the result. A cluster's node does not see
this machine's images. In production the image goes to a
registry the nodes pull from (Part 2's registry lab); on kind,
`kind load docker-image` copies it into the node's container runtime, and
the course's offline cluster does the same with `docker save` into its
containerd. `cluster.load_images` runs whichever fits the cluster you have.
The Job will say `imagePullPolicy: IfNotPresent`, so that the kubelet uses
the copy on the node instead of asking a registry.
""")

code('''
TAG = "mlops-course/taxi-train-job:1"
start = time.perf_counter()
image, build_log = client.images.build(path=str(context), tag=TAG, rm=True)  # docker build -t mlops-course/taxi-train-job:1 .
build_seconds = time.perf_counter() - start
steps = [c["stream"].strip() for c in build_log if c.get("stream", "").startswith("Step ")]
print(f"built {TAG} ({image.short_id}) in {build_seconds:.1f} s, {len(steps)} steps, "
      f"{containers.human_size(image.attrs['Size'])}")

start = time.perf_counter()
loaded_with = cluster.load_images(TAG)  # kind load docker-image mlops-course/taxi-train-job:1 --name mlops-course
load_seconds = time.perf_counter() - start
print(f"on the node in {load_seconds:.1f} s: {loaded_with}")
''')

code('''
image.reload()
assert TAG in image.tags and image.labels.get(containers.LABEL) == LAB
assert image.attrs["Config"]["User"] == "65532:65532" and image.attrs["Config"]["Entrypoint"] == ["python", "train.py"]
glue("build_seconds", build_seconds)
glue("load_seconds", load_seconds)
glue("image_mb", image.attrs["Size"] / 1e6)
print(f"✓ {TAG} is built ({build_seconds:.1f} s), labelled for the lab, runs train.py as user 65532, "
      f"and is on the node ({load_seconds:.1f} s)")
''', tags=["check"])

md("""
## 4. By hand, stage three: a Job that runs it

The Job runs one pod to completion. Its container has no `command`, so the
image's `ENTRYPOINT` runs; its `args` are the arguments as one JSON string.
`backoffLimit: 0` means no second pod: a function that raised once will raise
again. The manifest is written to `job.yaml` as well, so that
`kubectl apply -f job.yaml` in a terminal does what the cell does.

Waiting is a *watch*: the client keeps one request open and the API server
sends each change of the Job as it happens, which is what
`kubectl wait --for=condition=complete` does underneath. The pod's log ends
with the line `train.py` printed.
""")

code('''
JOB = f"""
apiVersion: batch/v1
kind: Job
metadata:
  name: train-by-hand
  labels: {{{containers.LABEL}: {LAB}}}
spec:
  backoffLimit: 0
  activeDeadlineSeconds: 600
  template:
    spec:
      restartPolicy: Never
      securityContext: {{runAsNonRoot: true}}
      containers:
        - name: train
          image: {TAG}
          imagePullPolicy: IfNotPresent
          args: [{json.dumps(json.dumps(arguments))}]
          resources: {{requests: {{cpu: 250m, memory: 256Mi}}, limits: {{memory: 1Gi}}}}
"""
(work / "job.yaml").write_text(JOB)
start = time.perf_counter()
batch.create_namespaced_job(namespace, yaml.safe_load(JOB))  # kubectl apply -f job.yaml -n lab-06-function-to-job

# kubectl wait --for=condition=complete job/train-by-hand -n lab-06-function-to-job --timeout=300s
done, watcher = set(), watch.Watch()
for event in watcher.stream(batch.list_namespaced_job, namespace, field_selector="metadata.name=train-by-hand",
                            timeout_seconds=job_timeout):
    done = {c.type for c in event["object"].status.conditions or [] if c.status == "True"} & {"Complete", "Failed"}
    if done:
        watcher.stop()
hand_seconds = time.perf_counter() - start
if done != {"Complete"}:
    raise cluster.NotReadyError(f"Job train-by-hand did not complete ({done or 'still running'}):\\n"
                                + cluster.diagnose(namespace, "job-name=train-by-hand"))

(pod,) = core.list_namespaced_pod(namespace, label_selector="job-name=train-by-hand").items  # kubectl get pods -l job-name=...
log = core.read_namespaced_pod_log(pod.metadata.name, namespace, _preload_content=False).data.decode()  # kubectl logs job/train-by-hand
print(log)
by_hand = json.loads(log.strip().splitlines()[-1].removeprefix("result: "))
pd.DataFrame([local["metrics"], by_hand["metrics"]], index=["in the notebook", f"in pod {by_hand['host']}"])
''')

code('''
assert by_hand["metrics"] == local["metrics"], "same data, same seed, same pinned packages: the same metrics"
assert by_hand["host"] == pod.metadata.name and by_hand["arguments"] == arguments
glue("job_roc_auc", by_hand["metrics"]["roc_auc"])
glue("hand_job_seconds", hand_seconds)
print(f"✓ Job train-by-hand completed in {hand_seconds:.1f} s in pod {pod.metadata.name}; its metrics equal the "
      f"notebook's: ROC AUC {by_hand['metrics']['roc_auc']}, log loss {by_hand['metrics']['log_loss']}")
''', tags=["check"])

md("""
## 5. The three stages in one call

That was Fairing's work, done by hand. `mlops_course.packaging` does the same
three stages, one function each, named after Fairing's:

| stage | Fairing | `packaging` | what does it today |
|---|---|---|---|
| gather the code | preprocessor (`function`, `notebook`, `full_notebook`) | `preprocess(func, folder, lab, arguments)`: `function.py`, `runner.py`, modules, pins, Dockerfile | a KFP lightweight component, or `kfp component build`; the Trainer SDK's `CustomTrainer(func=...)` |
| make the image | builder (`append`, `docker`, `cluster` with kaniko) | `build(context, lab)`: `docker build`, then onto the node | `docker build` / BuildKit, kaniko or BuildKit in the cluster, buildpacks |
| run it | deployer (`job`, `tfjob`, `serving`) | `deploy(tag, function, namespace, lab, arguments, mutators)`: a Job, waited for, its log read | a Kubernetes Job; `TrainerClient().train()`; KServe for an endpoint |
| edit the pod | pod-spec mutators | `mutators=[...]`: functions that edit the pod template | PodDefaults, pod templates, the Trainer's `RuntimePatch` |

`packaging.run` calls the three in turn, as `fairing.config.run()` did. A
mutator gets the Job's pod template, a dict with `metadata` and `spec`, and
edits it in place. The one below asks for half a CPU, caps memory and sets
an environment variable, as Fairing's resource and credential mutators did;
it runs after the helper has written the Job and before the Job is created.
""")

code('''
def half_a_cpu(template: dict) -> None:
    """Request half a CPU and at most 768 MiB, and tell the function which team runs it."""
    container = template["spec"]["containers"][0]
    container["resources"] = {"requests": {"cpu": "500m", "memory": "384Mi"}, "limits": {"memory": "768Mi"}}
    container.setdefault("env", []).append({"name": "TEAM", "value": "taxi-analytics"})


start = time.perf_counter()
fn_context, fn_image, fn_run = packaging.run(train_taxi_model, namespace, LAB, arguments, mutators=[half_a_cpu])
helper_seconds = time.perf_counter() - start
print(f"preprocess: {len(fn_context.files)} files in {paths.shown(fn_context.folder)}")
print(f"build:      {fn_image.build.summary()}; on the node in {fn_image.load_seconds:.1f} s")
print(f"deploy:     Job {fn_run.name} ran in {fn_run.seconds:.1f} s; all three in {helper_seconds:.1f} s")
pd.DataFrame([local["metrics"], fn_run.result["metrics"]], index=["in the notebook", f"in pod {fn_run.pod}"])
''')

code('''
assert fn_run.result["metrics"] == local["metrics"], "the helper's Job reproduces the notebook's metrics too"
assert packaging.tag_is_content_hash(fn_image.tag)
glue("helper_seconds", helper_seconds)
glue("helper_build_seconds", fn_image.build.seconds)
glue("helper_cached_steps", fn_image.build.cached)
print(f"✓ one call built {fn_image.tag} and ran Job {fn_run.name}: ROC AUC {fn_run.result['metrics']['roc_auc']}, "
      f"the notebook's, in {helper_seconds:.1f} s")
''', tags=["check"])

md("""
### What each stage made

**Stage one, the context.** The helper writes `function.py` (the source, as
in section 2, without decorators), `runner.py` (the entry point: arguments
from the command line as JSON, the result as the log's last line, marked),
the course modules, the pins and the Dockerfile. Before it writes anything it
checks that the function uses no name from outside itself (it would be a
`NameError` in the container) and that the arguments survive JSON. The
image's tag is a hash of the files, so the same function gives the same tag,
and the arguments are not in it: they are the Job's.
""")

code('''
display(fn_context.table())
print(fn_context.files["runner.py"])
''')

md("""
**Stage two, the image.** Its Dockerfile begins with the same lines as yours,
and the classic builder reuses a step when the step and everything before it
are unchanged: the uv, venv and package layers came from the build cache your
build left, and only the code layers were built. The labels name the lab (for
cleanup) and the function.
""")

code('''
layers = containers.layers(fn_image.image)  # docker history mlops-course/fn-train-taxi-model:...
display(layers[["instruction", "size"]])
steps = pd.DataFrame([{"step": s.number, "instruction": s.instruction[:60], "outcome": s.outcome} for s in fn_image.build.steps])
display(steps)
print("labels:", packaging.image_labels(fn_image.image))  # docker inspect -f '{{json .Config.Labels}}' IMAGE
''')

code('''
outcome = dict(zip(steps["instruction"], steps["outcome"]))
assert outcome["RUN uv pip install -r requirements.txt"] == "cached", "the packages came from the hand build's cache"
assert outcome["COPY . ."] == "built"
assert {containers.LABEL: LAB, packaging.FUNCTION_LABEL: "train_taxi_model"}.items() <= packaging.image_labels(fn_image.image).items()
print(f"✓ {fn_image.build.cached} of {len(steps)} steps came from the cache your build left, "
      f"{fn_image.build.built} were built; the image is labelled for the lab and the function")
''', tags=["check"])

md("""
**Stage three, the Job.** `fn_run.manifest` is the Job as it was sent, after
the mutator; the pod the Job made carries the mutator's resources and
variable. Reading the pod back from the API server is the proof: the
manifest is what was asked for, the pod is what runs.
""")

code('''
print(yaml.safe_dump(fn_run.pod_spec, sort_keys=False))
running = core.read_namespaced_pod(fn_run.pod, namespace)  # kubectl get pod POD -o yaml
container = running.spec.containers[0]
pd.DataFrame([{"pod": fn_run.pod, "image": container.image, "args": container.args[0],
               "requests": container.resources.requests, "limits": container.resources.limits,
               "env": {e.name: e.value for e in container.env or []}}]).T
''')

code('''
assert container.resources.requests == {"cpu": "500m", "memory": "384Mi"} and container.resources.limits == {"memory": "768Mi"}
assert {e.name: e.value for e in container.env} == {"TEAM": "taxi-analytics"}
assert json.loads(container.args[0]) == arguments and container.image == fn_image.tag
print(f"✓ pod {fn_run.pod} runs {container.image} with the arguments on its command line, and carries "
      f"the mutator's requests, limit and TEAM variable")
''', tags=["check"])

md("""
## 6. When the function fails in the Job

A learning rate must be positive; scikit-learn checks it when the model is
fitted, which happens in the pod, not here. The helper does not rebuild for
new arguments: `deploy` takes the image the last call built. The Job's pod
fails, the Job does not retry (`backoffLimit: 0`), and `deploy` says so in
one message: the Job's reason, the pod's, what to do, and the last lines of
the log, where the exception is.
""")

code('''
try:
    packaging.deploy(fn_image.tag, "train_taxi_model", namespace, LAB, {**arguments, "learning_rate": -0.1})
except packaging.JobFailed as failure:
    failed = failure
    print(failure)
''')

code('''
assert failed.reason == "Error" and "BackoffLimitExceeded" in str(failed)
assert any("learning_rate" in line for line in failed.log_tail), "the exception is in the log's last lines"
print(f"✓ the failed Job ended in one message: its pod's reason ({failed.reason}), the fix, and the log's last "
      f"line: {failed.log_tail[-1][:90]}")
''', tags=["check"])

md("""
## Exercises

### Exercise 1: a different learning rate, the same image

Run `train_taxi_model` again through `packaging.run`, with the notebook's
`arguments` but `learning_rate=0.3`, and keep what it returns as
`rate_context, rate_image, rate_run`. The image need not change: the
arguments travel in the Job. The check asserts that `rate_context.tag` is
the tag of section 5 (the same code, so the same image), that the run's
result records that learning rate, and that its ROC AUC differs from the
notebook's.
""")

code('''
### BEGIN SOLUTION
rate_context, rate_image, rate_run = packaging.run(train_taxi_model, namespace, LAB, {**arguments, "learning_rate": 0.3})
### END SOLUTION
''', tags=["solution", "hide-input"])

code('''
assert rate_context.tag == fn_context.tag, "the same function gives the same image"
assert rate_run.result["arguments"]["learning_rate"] == 0.3
assert rate_run.result["metrics"]["roc_auc"] != local["metrics"]["roc_auc"]
glue("rate_roc_auc", rate_run.result["metrics"]["roc_auc"])
print(f"✓ the same image ({rate_context.tag}) with learning rate 0.3: ROC AUC {rate_run.result['metrics']['roc_auc']} "
      f"instead of {local['metrics']['roc_auc']}")
''', tags=["check"])

md("""
### Exercise 2: a mutator that labels the pod and caps its memory

Write a mutator `label_and_limit` that adds the label `team: taxi` to the
pod template's metadata and sets the container's memory limit to `640Mi`
(keeping a memory request no larger than that), and run `train_taxi_model`
with it through `packaging.deploy` and the image of section 5, keeping the
result as `limited_run`. The check reads the pod back from the API server
and asserts that it carries the label `team=taxi` and a memory limit of
`640Mi`, and that `limited_run` reproduced the notebook's metrics.
""")

code('''
### BEGIN SOLUTION
def label_and_limit(template: dict) -> None:
    template["metadata"]["labels"]["team"] = "taxi"
    resources = template["spec"]["containers"][0]["resources"]
    resources["limits"]["memory"] = "640Mi"
    resources["requests"]["memory"] = "256Mi"


limited_run = packaging.deploy(fn_image.tag, "train_taxi_model", namespace, LAB, arguments, mutators=[label_and_limit])
### END SOLUTION
''', tags=["solution", "hide-input"])

code('''
limited_pod = core.read_namespaced_pod(limited_run.pod, namespace)
assert limited_pod.metadata.labels.get("team") == "taxi"
assert limited_pod.spec.containers[0].resources.limits["memory"] == "640Mi"
assert limited_run.result["metrics"] == local["metrics"]
print(f"✓ pod {limited_run.pod} carries team=taxi and a 640Mi memory limit, and trained the same model")
''', tags=["check"])

md("""
### Exercise 3 (open-ended): ship a function of your own

Write a function of your own, `my_function`, and run it on the cluster with
`packaging.run`, keeping the three results as `my_context, my_image,
my_run`. Anything goes that follows the rules the helper checks: imports
inside the function, arguments and result that are JSON. Ideas: the share
of big tips by payment type in a day of generated trips, the course model's
ROC AUC on each pickup hour, the size of the model when pickled. If the
helper refuses your function, its message says why. The check asserts that
`my_context.function` is the name of `my_function` and not
`train_taxi_model`, that `my_image.tag` differs from the training image's,
and that `my_run.result` came back (the function returned something, which
the Job printed).
""")

code('''
### BEGIN SOLUTION
def tip_share_by_payment(n_rows: int = 5_000, seed: int = 1) -> dict:
    """The share of trips with a big tip, per payment type."""
    from mlops_course import data

    trips = data.generate_trips(n_rows, seed=seed)
    return trips.groupby("payment_type")["big_tip"].mean().round(3).to_dict()


my_function = tip_share_by_payment
my_context, my_image, my_run = packaging.run(my_function, namespace, LAB, {"n_rows": 5_000}, modules=["data"])
### END SOLUTION
''', tags=["solution", "hide-input"])

code('''
assert my_context.function == my_function.__name__ != "train_taxi_model"
assert my_image.tag != fn_image.tag
assert my_run.result is not None
print(f"✓ {my_function.__name__} ran in pod {my_run.pod} from {my_image.tag} and returned: "
      f"{json.dumps(my_run.result)[:120]}")
''', tags=["check"])

md("""
## Cleanup

Delete the lab's Jobs (with their pods) and its namespace, then the lab's
images and work folder in Docker. The base image stays, and so do the copies
on the node (kind's node keeps what `kind load` put there until the cluster
is deleted; `docker exec mlops-course-control-plane crictl rmi IMAGE` removes
one by hand). Running this cell twice is fine.
""")

code('''
print(f"deleted {packaging.delete_jobs(namespace, LAB)} Job(s)")  # kubectl delete jobs -l mlops-course.lab=06-function-to-job
deleted = cluster.delete_namespace(namespace)  # kubectl delete namespace lab-06-function-to-job
print(f"namespace {namespace} {'deleted' if deleted else 'was already gone'}")
print(containers.describe_cleanup(containers.cleanup(LAB, client)))
assert cluster.kubectl("get", "namespace", namespace, check=False).returncode != 0
assert not any(containers.lab_objects(client, LAB).values())
assert client.images.get(containers.BASE_IMAGE), "the base image stays"
print(f"nothing of {LAB} is left on the cluster or in Docker but the base image")
''', tags=["cleanup"])

md("""
## Summary

- A function runs elsewhere if it is self-contained (imports inside it,
  JSON in and out) and its image has the same pinned packages: then the
  cluster's metric is the notebook's, to the last digit.
- Fairing's preprocessor, builder and deployer are three steps you can do by
  hand: a build context, `docker build` plus a way onto the nodes, and a Job.
  Today's tools do each step: KFP components and the Trainer SDK gather the
  code, Docker, kaniko or buildpacks build it, a Job, a TrainJob or KServe
  runs it.
- A content-hash tag gives the same image for the same code; the arguments
  belong to the Job, so a new hyperparameter needs no new image.
- A pod-spec mutator edits the pod before it is created; what it asked for
  is what the API server's pod carries.
- A failed Job is read from its conditions and its pod: reason, exit code,
  and the log's last lines.

## What's next

Part 6's next chapter, on training jobs with the Kubeflow Trainer (in
preparation), runs the same function as a `TrainJob` with
`TrainerClient().train()`, where the runtime supplies the image and the
deployer's work. Part 7 (Tuning with Katib, in preparation) runs this Job
once per trial with different arguments. Read the
[chapter](../book/06-packaging.md) for Fairing's history and the tools that
replaced each stage.
""")

nb = new_notebook(cells=cells)
nb.metadata = {
    "course": {"tier": "cluster", "budget_seconds": 180},
    "kernelspec": {"display_name": "MLOps course (Python 3.11)", "language": "python", "name": "mlops-course"},
    "language_info": {"name": "python"},
}
nbformat.write(nb, "solutions/06-function-to-job.ipynb")
print("written")
