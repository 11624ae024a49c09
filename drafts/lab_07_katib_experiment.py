import nbformat, sys
from nbformat.v4 import new_notebook, new_markdown_cell as md, new_code_cell as code

def c(src, *tags):
    cell = code(src.strip("\n")); cell.metadata["tags"] = list(tags); return cell

def m(src):
    cell = md(src.strip("\n")); cell.metadata["tags"] = []; return cell

cells = [
m("""
# Lab 7b · A Katib Experiment for the course model

In lab 7a the search ran in this notebook, one trial after the other. Here
Katib runs it on the cluster: you build a trial image with the course
model, describe the search as an **Experiment** (objective, search space,
algorithm, metrics collector, trial template), create it with the
Kubernetes client, and watch Katib turn it into a **Suggestion** and
**Trials**, each trial a Kubernetes Job whose pod gets a metrics collector
beside the training container. Then you read the best trial back, and
create a second Experiment whose trials fail, to see how Katib ends it and
where to find out why.
"""),
m("""
## Learning objectives

After this lab you can:

- package a training script for Katib: hyperparameters as command-line
  options, metrics printed as `name=value` lines;
- write a Katib Experiment (objective, algorithm, parameters with a
  `feasibleSpace`, the StdOut metrics collector with a `metricsFormat`
  regular expression, a trial template) and create it with
  `CustomObjectsApi`;
- follow its Suggestion and Trials while it runs, and read the best trial
  from `status.currentOptimalTrial`;
- tell from an Experiment's conditions and its trials' logs why it failed.
"""),
m("""
## Prerequisites

| concept | importance | time to learn |
|---|---|---|
| [Part 7, Tuning](../book/07-tuning.md), the sections on Katib's resources and metrics collectors | necessary | 30 min |
| [Lab 7a](07-tuning-local.ipynb): the search space and the objective | necessary | 50 min |
| [Lab 3e](03-jobs-and-cronjobs.ipynb): Jobs, `backoffLimit` and pods that end | helpful | 35 min |

**Time to complete:** about 40 min (the notebook runs in about five minutes; building the trial image the first time takes a few more).
**Tier:** kubeflow, with Katib (`cluster/up katib`).
"""),
c('''
# Every lab starts here: is this the course kernel, and is this lab's tier ready?
try:
    from mlops_course import doctor
except ModuleNotFoundError:
    raise SystemExit(
        "This notebook needs the 'MLOps course (Python 3.11)' kernel: "
        "run scripts/course lab, then choose it under Kernel > Change Kernel."
    ) from None

checks = doctor.require("kubeflow", components=["katib"])
'''),
c('''
namespace = "lab-07-katib"  # the Experiments, Suggestions, Trials and their pods live here, and go with it
max_trials = 4  # trials of the first Experiment
parallel_trials = 2  # how many run at once
n_rows = 3_000  # trips each trial generates and trains on
timeout_seconds = 420  # how long to wait for an Experiment before saying why it has not finished
''', "parameters"),
m("""
## 0. The namespace and the client

Katib's webhook adds the metrics collector only to pods in namespaces with
the label `katib.kubeflow.org/metrics-collector-injection: enabled` (the
Kubeflow profiles' namespaces have it; a bare namespace must be labelled).
Katib's resources are custom resources of the group `kubeflow.org`,
version `v1beta1`, so the Kubernetes client reaches them with
`CustomObjectsApi`, the same calls as for any custom resource.
"""),
c('''
import json
import shutil
import time

import docker
import pandas as pd
from kubernetes import client as k8s, config

from mlops_course import cluster, components, containers, faults, paths
from mlops_course.glue import glue

LAB = "07-katib-experiment"
IMAGE = "mlops-course/katib-trial-lab:1"
KATIB = dict(group="kubeflow.org", version="v1beta1", namespace=namespace)
faults.install()  # an API server or Docker daemon lost mid-lab ends in one clear message
config.load_kube_config()
core, custom = k8s.CoreV1Api(), k8s.CustomObjectsApi()
print("an earlier run's namespace was deleted" if cluster.fresh_namespace(namespace, LAB) else "nothing left from an earlier run")
# kubectl label namespace lab-07-katib katib.kubeflow.org/metrics-collector-injection=enabled
core.patch_namespace(namespace, {"metadata": {"labels": {"katib.kubeflow.org/metrics-collector-injection": "enabled"}}})
print("namespace labels:", core.read_namespace(namespace).metadata.labels)
'''),
c('''
assert core.read_namespace(namespace).metadata.labels["katib.kubeflow.org/metrics-collector-injection"] == "enabled"
assert custom.list_namespaced_custom_object(plural="experiments", **KATIB)["items"] == []
print(f"✓ {namespace} is empty and labelled for Katib's metrics collector")
'''),
m("""
## 1. The trial image

A trial is a program that takes the hyperparameters as options and prints
its metrics. `train.py` trains the course model on generated trips with the
learning rate and the depth it is given, and prints `roc_auc=...` and
`log_loss=...`, the lines Katib's StdOut collector will parse. The image is
the course's base image with the pinned NumPy, pandas and scikit-learn and
the two modules of the course package the script needs. The node cannot
pull an image that only this machine's Docker has, so it is loaded onto the
node afterwards (`kind load docker-image` on kind).
"""),
c('''
TRAIN_PY = """\\
import argparse
import time

from mlops_course import data, model, split

parser = argparse.ArgumentParser(description="One Katib trial: the course model with these hyperparameters.")
parser.add_argument("--learning-rate", type=float, required=True)
parser.add_argument("--max-depth", type=int, required=True)
parser.add_argument("--rows", type=int, default=3000)
args = parser.parse_args()

started = time.perf_counter()
trips = data.generate_trips(args.rows, seed=42)
side = split.hash_split(trips["trip_id"], fractions=(0.5, 0.5), names=("train", "valid")).to_numpy()
fitted = model.train(trips[side == "train"], learning_rate=args.learning_rate, max_depth=args.max_depth, max_iter=60)
scores = model.evaluate(fitted, trips[side == "valid"])
print(f"trained in {time.perf_counter() - started:.1f} s with learning rate {args.learning_rate}, depth {args.max_depth}")
print(f"roc_auc={scores['roc_auc']}")
print(f"log_loss={scores['log_loss']}")
"""

context = paths.workdir(LAB, fresh=True) / "context"
(context / "mlops_course").mkdir(parents=True)
for module in ("__init__.py", "data.py", "model.py", "split.py"):
    shutil.copy(paths.REPO_ROOT / "mlops_course" / module, context / "mlops_course" / module)
(context / "train.py").write_text(TRAIN_PY)
(context / "requirements.txt").write_text("\\n".join(containers.pinned_requirements(["numpy", "pandas", "scikit-learn"])) + "\\n")
(context / "Dockerfile").write_text(f"""\\
FROM {containers.BASE_IMAGE}
RUN python3 -m pip install --no-cache-dir --break-system-packages uv==0.13.9
ENV UV_NATIVE_TLS=1 UV_NO_CACHE=1 UV_LINK_MODE=copy
RUN uv venv /opt/venv
ENV VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH
COPY requirements.txt /app/
RUN uv pip install -r /app/requirements.txt
COPY mlops_course/ /app/mlops_course/
COPY train.py /app/
WORKDIR /app
""")
print((context / "requirements.txt").read_text())

client = docker.from_env()
started = time.perf_counter()
# docker build -t mlops-course/katib-trial-lab:1 CONTEXT
image, log = client.images.build(path=str(context), tag=IMAGE, rm=True, labels=containers.labels(LAB))
print(f"built {IMAGE} in {time.perf_counter() - started:.0f} s, {image.attrs['Size'] / 2**20:.0f} MiB")
print(f"put on the node with: {cluster.load_images(IMAGE)}")
# docker run --rm IMAGE python train.py ...: one trial by hand, before Katib runs many
by_hand = client.containers.run(IMAGE, ["python", "train.py", "--learning-rate=0.1", "--max-depth=4", f"--rows={n_rows}"],
                                remove=True, labels=containers.labels(LAB)).decode()
print(by_hand)
'''),
c('''
assert "roc_auc=" in by_hand and "log_loss=" in by_hand
assert image.labels.get(containers.LABEL) == LAB
print("✓ the trial image trains the course model and prints its metrics as name=value lines; it is on the node")
'''),
m("""
## 2. The Experiment

The Experiment below is lab 7a's search in Katib's words:

- `objective`: maximise `roc_auc`, and record `log_loss` beside it;
- `algorithm`: `tpe` (on the course's cluster the goptuna service answers
  it; upstream's katib-config sends it to hyperopt);
- `parameters`: the learning rate on a log scale and the depth, each with a
  `feasibleSpace`;
- `metricsCollectorSpec`: the StdOut collector with a `metricsFormat`, a
  regular expression whose two groups are the metric's name and value. It
  is stricter than the default (which takes any `name=number`): only lines
  that start with a lower-case name;
- `trialTemplate`: the Job each trial runs. `${trialParameters.learningRate}`
  is replaced by the trial's value. Three details matter: the collector's
  wrapper joins `command` and `args` into one `sh -c` string, so the
  container gets `command: [sh, -c]` and one line as its argument; the
  Job's `backoffLimit: 0` lets a failing trial fail at once instead of
  being retried; and the image is never pulled (`imagePullPolicy: Never`),
  since it is on the node already.

`maxTrialCount` ends the search, `parallelTrialCount` says how many trials
run at once, and `maxFailedTrialCount` how many may fail before the
Experiment fails.
"""),
c('''
def experiment(name, command, trials, failures=1):
    """An Experiment for the course model; `command` is the trial's one line of shell."""
    return {
        "apiVersion": "kubeflow.org/v1beta1",
        "kind": "Experiment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "objective": {"type": "maximize", "objectiveMetricName": "roc_auc", "additionalMetricNames": ["log_loss"]},
            "algorithm": {"algorithmName": "tpe"},
            "maxTrialCount": trials,
            "parallelTrialCount": parallel_trials,
            "maxFailedTrialCount": failures,
            "parameters": [
                {"name": "learning_rate", "parameterType": "double",
                 "feasibleSpace": {"min": "0.005", "max": "0.5", "distribution": "logUniform"}},
                {"name": "max_depth", "parameterType": "int", "feasibleSpace": {"min": "1", "max": "8"}},
            ],
            "metricsCollectorSpec": {
                "collector": {"kind": "StdOut"},
                "source": {"filter": {"metricsFormat": [r"^([a-z_]+)=([0-9.]+)$"]}},
            },
            "trialTemplate": {
                "primaryContainerName": "training",
                "retain": True,  # keep finished trials' pods, so their logs can be read
                "trialParameters": [
                    {"name": "learningRate", "reference": "learning_rate"},
                    {"name": "maxDepth", "reference": "max_depth"},
                ],
                "trialSpec": {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "spec": {
                        "backoffLimit": 0,
                        "template": {"spec": {
                            "restartPolicy": "Never",
                            "containers": [{
                                "name": "training",
                                "image": IMAGE,
                                "imagePullPolicy": "Never",
                                "command": ["sh", "-c"],
                                "args": [command],
                                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
                            }],
                        }},
                    },
                },
            },
        },
    }


TRIAL = f"python train.py --learning-rate=${{trialParameters.learningRate}} --max-depth=${{trialParameters.maxDepth}} --rows={n_rows}"
# kubectl apply -f experiment.yaml
created = custom.create_namespaced_custom_object(plural="experiments", body=experiment("taxi-tpe", TRIAL, max_trials), **KATIB)
print(f"created Experiment {created['metadata']['name']}; the trial runs: {TRIAL}")
'''),
m("""
The Katib SDK (`kubeflow-katib`) wraps the same resource: `tune()` takes a
Python function as the objective and builds the trial template, the image
and the collector for you. It needs protobuf below 5, which cannot share
this environment with the other parts' libraries, so it stands here as
text only; the Experiment it creates is the one above.

```python
import kubeflow.katib as katib

def objective(parameters):
    ...  # train with parameters["learning_rate"], parameters["max_depth"]
    print(f"roc_auc={auc}")

katib.KatibClient(namespace="lab-07-katib").tune(
    name="taxi-tpe",
    objective=objective,
    parameters={"learning_rate": katib.search.double(min=0.005, max=0.5, distribution="logUniform"),
                "max_depth": katib.search.int(min=1, max=8)},
    objective_metric_name="roc_auc",
    additional_metric_names=["log_loss"],
    algorithm_name="tpe",
    max_trial_count=4,
    parallel_trial_count=2,
    base_image="python:3.11-slim",
)
```
"""),
m("""
## 3. Watch it run

While the Experiment runs, the controller raises the Suggestion's
`requests`, the suggestion service fills in `suggestions` (one parameter
assignment each), and a Trial appears for each; each Trial's Job runs a
pod with two containers, the training container and the collector. The
loop below prints a line whenever that picture changes (`kubectl get
experiment,suggestion,trials -n lab-07-katib` shows the same).
"""),
c('''
def picture(name):
    exp = custom.get_namespaced_custom_object(plural="experiments", name=name, **KATIB)
    try:
        sug = custom.get_namespaced_custom_object(plural="suggestions", name=name, **KATIB)
    except k8s.ApiException:
        sug = {}
    trials = custom.list_namespaced_custom_object(plural="trials", label_selector=f"katib.kubeflow.org/experiment={name}", **KATIB)["items"]
    state = lambda obj: next((c["type"] for c in reversed(obj.get("status", {}).get("conditions", [])) if c["status"] == "True"), "Pending")
    return exp, sug, trials, (state(exp), sug.get("spec", {}).get("requests", 0), len(sug.get("status", {}).get("suggestions", []) or []),
                               tuple(sorted(state(t) for t in trials)))


started, last = time.perf_counter(), None
while True:
    exp, sug, trials, now = picture("taxi-tpe")
    if now != last:
        print(f"{time.perf_counter() - started:5.0f} s  Experiment {now[0]:10s} Suggestion requests {now[1]}, "
              f"suggestions {now[2]}; trials {', '.join(now[3]) or '-'}")
        last = now
    if now[0] in ("Succeeded", "Failed") or time.perf_counter() - started > timeout_seconds:
        break
    time.sleep(2)
tpe_seconds = time.perf_counter() - started
if now[0] != "Succeeded":
    raise SystemExit(components.experiment_problem(namespace, "taxi-tpe"))
'''),
c('''
pod = core.list_namespaced_pod(namespace, label_selector=f"batch.kubernetes.io/job-name={trials[0]['metadata']['name']}").items[0]
print(f"trial pod {pod.metadata.name}: containers {[c.name for c in pod.spec.containers]}")
print("its training container runs:", pod.spec.containers[0].command, pod.spec.containers[0].args[0][:160], "...")
assert exp["status"]["trialsSucceeded"] == max_trials and len(trials) == max_trials
assert len(sug["status"]["suggestions"]) == max_trials
assert [c.name for c in pod.spec.containers] == ["training", "metrics-logger-and-collector"]
glue("katib_tpe_seconds", round(tpe_seconds))
print(f"✓ {max_trials} trials succeeded in {tpe_seconds:.0f} s, each a Job whose pod had the metrics collector beside it")
'''),
m("""
## 4. The best trial

Each Trial's status holds its observation (the metrics the collector
parsed, with their `min`, `max` and `latest`), and the Experiment's status
holds the best trial so far in `currentOptimalTrial`.
"""),
c('''
rows = []
for t in trials:
    assignments = {a["name"]: a["value"] for a in t["spec"]["parameterAssignments"]}
    metrics = {m["name"]: float(m["latest"]) for m in t["status"]["observation"]["metrics"]}
    rows.append({"trial": t["metadata"]["name"], **assignments, **metrics})
table = pd.DataFrame(rows).set_index("trial").sort_values("roc_auc", ascending=False)
print(table.to_string())
best = exp["status"]["currentOptimalTrial"]
print(f"\\nbest: {best['bestTrialName']} with {json.dumps({a['name']: a['value'] for a in best['parameterAssignments']})}, "
      f"{ {m['name']: m['latest'] for m in best['observation']['metrics']} }")
'''),
c('''
best_auc = float(next(m["latest"] for m in best["observation"]["metrics"] if m["name"] == "roc_auc"))
assert best["bestTrialName"] == table.index[0] and best_auc == table["roc_auc"].max()
assert 0.5 < best_auc < 1 and table["roc_auc"].nunique() > 1
glue("katib_best_auc", best_auc)
print(f"✓ Katib's best trial, {best['bestTrialName']}, is the one with the highest roc_auc of the table: {best_auc}")
'''),
m("""
## 5. An Experiment whose trials fail

A typo in the trial's command: `--learning_rate` instead of
`--learning-rate`. Every trial's script stops at once with argparse's error.
The Job has `backoffLimit: 0`, so the first failure fails the Job and the
Trial; with `maxFailedTrialCount: 1` the Experiment fails once more than
one trial has failed. The Experiment's condition says that the maximum of
failed trials was reached; *why* the trials failed is in their logs.
`components.experiment_problem` gathers both (the conditions, then each
failed trial's reason and the tail of its pod's logs).
"""),
c('''
TYPO = TRIAL.replace("--learning-rate", "--learning_rate")
custom.create_namespaced_custom_object(plural="experiments", body=experiment("taxi-typo", TYPO, 3), **KATIB)
started = time.perf_counter()
while time.perf_counter() - started < timeout_seconds:
    typo, _, typo_trials, now = picture("taxi-typo")
    if now[0] in ("Succeeded", "Failed"):
        break
    time.sleep(2)
failed_seconds = time.perf_counter() - started
condition = next(c for c in typo["status"]["conditions"] if c["type"] == now[0])
print(f"after {failed_seconds:.0f} s the Experiment is {now[0]}: {condition['message']}")
report = components.experiment_problem(namespace, "taxi-typo")
print(report)
'''),
c('''
assert now[0] == "Failed" and "max failed count" in condition["message"]
assert typo["status"]["trialsFailed"] >= 2
assert "the following arguments are required: --learning-rate" in report
print(f"✓ the Experiment failed after {typo['status']['trialsFailed']} failed trials; the trials' logs say why: "
      "an option train.py does not have")
'''),
m("""
## Exercises

### Exercise 1: the trials as a table, from Kubernetes

`kubectl get trials` lists the trials; so does the client. From
`custom.list_namespaced_custom_object(plural="trials", ..., **KATIB)` for
the first Experiment (label selector `katib.kubeflow.org/experiment=taxi-tpe`),
build `states`: a dictionary from each trial's name to the type of its last
condition whose status is `"True"`. The check asserts that `states` has
exactly the names of the table of section 4 and that every value is
`"Succeeded"`.
"""),
c('''
### BEGIN SOLUTION
listed = custom.list_namespaced_custom_object(plural="trials", label_selector="katib.kubeflow.org/experiment=taxi-tpe", **KATIB)
states = {t["metadata"]["name"]: [c["type"] for c in t["status"]["conditions"] if c["status"] == "True"][-1]
          for t in listed["items"]}
### END SOLUTION
print(states)
'''),
c('''
assert set(states) == set(table.index)
assert set(states.values()) == {"Succeeded"}
print(f"✓ {len(states)} trials, all Succeeded")
'''),
m("""
### Exercise 2: a File collector instead

Some programs print much more than their metrics. Katib's File collector
reads a file the trial writes instead. Make `file_experiment`, a copy of
`experiment("taxi-file", TRIAL, 2)` whose `metricsCollectorSpec` is the File
collector reading `/var/log/katib/metrics.log` (`collector: {kind: File}`,
`source: {fileSystemPath: {path: ..., kind: File}}`, and the same
`metricsFormat` filter), and whose trial command writes the script's output
to that file (append ` > /var/log/katib/metrics.log` to `TRIAL`). You need
not create it. The check asserts that its collector kind is `File`, that the
path is `/var/log/katib/metrics.log`, and that the container's one argument
ends with the redirection to that path.
"""),
c('''
### BEGIN SOLUTION
file_experiment = experiment("taxi-file", TRIAL + " > /var/log/katib/metrics.log", 2)
file_experiment["spec"]["metricsCollectorSpec"] = {
    "collector": {"kind": "File"},
    "source": {"fileSystemPath": {"path": "/var/log/katib/metrics.log", "kind": "File"},
               "filter": {"metricsFormat": [r"^([a-z_]+)=([0-9.]+)$"]}},
}
### END SOLUTION
print(json.dumps(file_experiment["spec"]["metricsCollectorSpec"], indent=1))
'''),
c('''
spec = file_experiment["spec"]
assert spec["metricsCollectorSpec"]["collector"]["kind"] == "File"
assert spec["metricsCollectorSpec"]["source"]["fileSystemPath"]["path"] == "/var/log/katib/metrics.log"
container = spec["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]["containers"][0]
assert container["command"] == ["sh", "-c"] and container["args"][0].endswith("> /var/log/katib/metrics.log")
print("✓ a File collector, and a trial that writes its metrics where the collector reads them")
'''),
m("""
### Exercise 3 (open-ended): your own search

Design a small Experiment of your own: another algorithm (`random`,
`cmaes` needs two numeric parameters, which you have), a narrower space
from what the first Experiment found, or an `objective.goal` that ends the
search early. Build it with `experiment(...)` and change what you like, with
two or three trials; create it under the name `mine`, and wait for it as
section 3 does (or with `components.wait_for_experiment(namespace, "mine")`).
Put the finished Experiment (the dictionary) in `mine`. The check asserts
that `mine` has succeeded and that it has a best trial.
"""),
c('''
### BEGIN SOLUTION
# CMA-ES around what TPE found: the learning rate within a factor of three of the best trial's.
mine_spec = experiment("mine", TRIAL, 3)
best_rate = float(table["learning_rate"].iloc[0])
mine_spec["spec"]["algorithm"] = {"algorithmName": "cmaes"}
mine_spec["spec"]["parameters"][0]["feasibleSpace"] = {"min": f"{best_rate / 3:.4f}", "max": f"{min(best_rate * 3, 1):.4f}"}
custom.create_namespaced_custom_object(plural="experiments", body=mine_spec, **KATIB)
mine = components.wait_for_experiment(namespace, "mine", timeout=timeout_seconds)
### END SOLUTION
print(mine["status"]["currentOptimalTrial"]["bestTrialName"], mine["status"]["currentOptimalTrial"]["observation"])
'''),
c('''
assert any(c["type"] == "Succeeded" and c["status"] == "True" for c in mine["status"]["conditions"])
assert mine["status"]["currentOptimalTrial"]["bestTrialName"]
print(f"✓ your Experiment succeeded; best trial {mine['status']['currentOptimalTrial']['bestTrialName']}")
'''),
m("""
## Cleanup

Deleting the namespace deletes the Experiments, and with them (through
their owner references) the Suggestions, the suggestion services' pods, the
Trials and their Jobs and pods. The trial image goes from Docker (the copy
on the node stays, as the course's other images do). Running this cell
twice is fine.
"""),
c('''
deleted = cluster.delete_namespace(namespace)
print(f"namespace {namespace} {'deleted' if deleted else 'was already gone'}")
print(containers.describe_cleanup(containers.cleanup(LAB, docker.from_env())))
assert cluster.kubectl("get", "namespace", namespace, check=False).returncode != 0
assert not any(containers.lab_objects(docker.from_env(), LAB).values())
print(f"nothing of {LAB} is left on the cluster or in Docker")
''', "cleanup"),
m("""
## Summary

- A Katib trial is a program that takes hyperparameters as options and
  prints its metrics; the StdOut collector parses them with the regular
  expressions of `metricsFormat`.
- An Experiment is one custom resource: objective, algorithm, parameters,
  collector and trial template; `CustomObjectsApi` creates it like any
  other.
- Katib turns it into a Suggestion (the algorithm's answers), Trials and
  their Jobs; the best trial is in `status.currentOptimalTrial`.
- A namespace needs the collector-injection label; the trial's command is
  one `sh -c` line; `backoffLimit: 0` lets a failed trial fail at once.
- When trials fail, the Experiment says only that too many did; the trials'
  logs say why.

## What's next

Part 8 (Serving with KServe, in preparation) serves the tuned model.
"""),
]
for cell in cells:
    if cell.cell_type == "code" and not cell.metadata["tags"]:
        if "### BEGIN SOLUTION" in cell.source:
            cell.metadata["tags"] = ["solution", "hide-input"]
        elif "print(f\"✓" in cell.source or "print(\"✓" in cell.source:
            cell.metadata["tags"] = ["check"]
nb = new_notebook(cells=cells)
nb.metadata = {
    "course": {"tier": "kubeflow", "components": ["katib"], "budget_seconds": 600},
    "kernelspec": {"display_name": "MLOps course (Python 3.11)", "language": "python", "name": "mlops-course"},
    "language_info": {"name": "python"},
}
nbformat.write(nb, sys.argv[1])
