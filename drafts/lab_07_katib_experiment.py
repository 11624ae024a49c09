import nbformat, sys
from nbformat.v4 import new_notebook, new_markdown_cell as md, new_code_cell as code

def c(src, *tags):
    cell = code(src.strip("\n")); cell.metadata["tags"] = list(tags); return cell

def m(src):
    cell = md(src.strip("\n")); cell.metadata["tags"] = []; return cell

cells = [
m(r"""
# Lab 7b · A Katib Experiment for the course model

In lab 7a the search ran in this notebook, one trial after the other. Here
Katib runs it on the cluster. You package the course model as a trial (a
script that takes the hyperparameters as options and prints its metrics),
describe the search as an **Experiment** (objective, search space,
algorithm, metrics collector, trial template), create it with the
Kubernetes client, and watch Katib turn it into a **Suggestion** and
**Trials**, each trial a Kubernetes Job whose pod gets a metrics collector
beside the training container. Then you read the best trial back, and
create a second Experiment whose trials fail, to see how Katib ends it and
where to find out why. Every step goes to a real API server and a real
Katib: the kind cluster on your laptop (`cluster/up katib`), or the
single-node cluster the course's CI machine builds from source, which can
reach no registry.
"""),
m(r"""
## Learning objectives

After this lab you can:

- package a training script as a Katib trial: hyperparameters as
  command-line options, metrics printed as `name=value` lines, in an image
  the node has;
- write a Katib Experiment (objective, algorithm and its settings,
  parameters with a `feasibleSpace`, the StdOut metrics collector with a
  `metricsFormat` regular expression, a trial template) and create it with
  `CustomObjectsApi` (`kubectl apply -f`);
- follow its Suggestion and Trials while it runs, find the collector Katib
  put beside each trial, and read the best trial from
  `status.currentOptimalTrial`;
- tell from an Experiment's conditions and its trials' logs why it failed.
"""),
m(r"""
## Prerequisites

| concept | importance | time to learn |
|---|---|---|
| [Part 7, Tuning](../book/07-tuning.md), the sections on Katib's resources and metrics collectors | necessary | 30 min |
| [Lab 7a](07-tuning-local.ipynb): the search space, the objective, TPE | necessary | 50 min |
| [Lab 3e](03-jobs-and-cronjobs.ipynb): Jobs, `backoffLimit`, pods that end | helpful | 35 min |

**Time to complete:** about 40 min (most of the notebook's own run is
waiting for trials; building the trial image the first time takes a few
minutes more).
**Tier:** kubeflow, with one component: Katib (`cluster/up katib`). The lab
builds the trial image with Docker, which kind needs anyway.
"""),
c(r'''
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
c(r'''
namespace = "lab-07-katib"  # the Experiments, Suggestions, Trials and their pods live here, and go with it
max_trials = 4  # trials of the first Experiment
parallel_trials = 2  # how many of them run at once
n_rows = 3_000  # trips each trial generates and trains on (train.py --rows)
timeout_seconds = 240  # how long to wait for an Experiment before saying why it has not finished
''', "parameters"),
m(r"""
## 0. The namespace and the client

Katib's resources are custom resources of the group `kubeflow.org`,
version `v1beta1`, so the Kubernetes client reaches them with
`CustomObjectsApi`, the same five arguments for every kind (group,
version, namespace, plural, name): no Katib SDK needed. Katib's webhook adds
its metrics collector only to pods in namespaces labelled
`katib.kubeflow.org/metrics-collector-injection: enabled` (Kubeflow's
profile namespaces have the label; a namespace of your own must be given
it).
"""),
c(r'''
import json
import re
import subprocess
import sys
import time

import docker
import pandas as pd
import yaml
from kubernetes import client as k8s, config

from mlops_course import cluster, components, containers, faults, katib, paths
from mlops_course.glue import glue

LAB = "07-katib-experiment"
KATIB = dict(group="kubeflow.org", version="v1beta1", namespace=namespace)  # every Katib call below names these
faults.install()  # an API server or Docker daemon lost mid-lab ends in one clear message
config.load_kube_config()
core, custom = k8s.CoreV1Api(), k8s.CustomObjectsApi()
print("an earlier run's namespace was deleted" if cluster.fresh_namespace(namespace, LAB) else "nothing left from an earlier run")
# kubectl label namespace lab-07-katib katib.kubeflow.org/metrics-collector-injection=enabled
core.patch_namespace(namespace, {"metadata": {"labels": {"katib.kubeflow.org/metrics-collector-injection": "enabled"}}})
print("namespace labels:", core.read_namespace(namespace).metadata.labels)
'''),
c(r'''
assert core.read_namespace(namespace).metadata.labels["katib.kubeflow.org/metrics-collector-injection"] == "enabled"
# kubectl get experiments -n lab-07-katib
assert custom.list_namespaced_custom_object(plural="experiments", **KATIB)["items"] == []
print(f"✓ {namespace} is empty and labelled for Katib's metrics collector")
'''),
m(r"""
## 1. The trial: a script, an image, one run by hand

Katib knows nothing about scikit-learn. A trial is a program that takes the
hyperparameters as options and prints its metrics. `train.py` trains the
course model on generated trips with the learning rate and the depth it is
given and prints `roc_auc=...` and `log_loss=...` on lines of their own:
the lines Katib's StdOut collector will read. It prints the majority-class
baseline's scores too, as the course does beside every metric, on one line.
The script is the course's (`mlops_course.katib` keeps it, for this lab and
for the course's tests), so here you read it, run it and build it.
"""),
c(r'''
print(katib.TRAIN_PY)
'''),
m(r"""
Before Katib runs it many times, run it once by hand. The build context
below holds `train.py`, the two course modules it imports, a Dockerfile and
the requirements pinned to the course's lock; from the context folder, this
kernel's Python runs the script as the container will.
"""),
c(r'''
context = katib.build_context(paths.workdir(LAB, fresh=True) / "context")
print(f"build context {paths.shown(context)}: {', '.join(sorted(p.name for p in context.iterdir()))}")
# python train.py --learning-rate=0.1 --max-depth=4 --rows=3000
ran = subprocess.run([sys.executable, "train.py", "--learning-rate=0.1", "--max-depth=4", f"--rows={n_rows}"],
                     cwd=context, capture_output=True, text=True, timeout=120)
by_hand = ran.stdout
print(by_hand or ran.stderr)
'''),
m(r"""
The image is the course's base image with the NumPy, pandas and
scikit-learn of the course's lock, the two course modules and the script.
The course's Kubernetes labs share it (it carries the label
`mlops-course.shared=katib-trial`, not this lab's), so the cleanup leaves
it, and a second build finds every layer cached. The node cannot pull an
image that only this machine's Docker has: `cluster.load_images` puts it on
the node (`kind load docker-image` on kind), and the trial template below
says `imagePullPolicy: Never`.
"""),
c(r'''
print((context / "Dockerfile").read_text())
client = docker.from_env()
started = time.perf_counter()
# docker build -t mlops-course/katib-trial:1 --label mlops-course.shared=katib-trial CONTEXT
image, _ = client.images.build(path=str(context), tag=katib.IMAGE, rm=True, labels=katib.IMAGE_LABELS)
print(f"built {katib.IMAGE} in {time.perf_counter() - started:.0f} s, {image.attrs['Size'] / 2**20:.0f} MiB")
print(f"put on the node with: {cluster.load_images(katib.IMAGE)}")
on_node = [n for node in core.list_node().items for im in node.status.images or [] for n in im.names or []]  # kubectl get node -o yaml
'''),
c(r'''
assert ran.returncode == 0, ran.stderr
assert re.search(r"^roc_auc=0\.\d+$", by_hand, re.M) and re.search(r"^log_loss=0\.\d+$", by_hand, re.M)
assert image.labels.get("mlops-course.shared") == "katib-trial"
assert any(name.endswith(katib.IMAGE) for name in on_node), "the node lists the image"
print("✓ the trial trains the course model and prints its metrics as name=value lines; its image is built and on the node")
'''),
m(r"""
## 2. The Experiment

Katib's StdOut collector reads every output line that contains a metric's
name and applies the regular expressions of `metricsFormat` to it; each
has two groups, the name and the value. The default takes any
`name=number` anywhere on the line, so it would also take the baseline's
`roc_auc=0.5` as an observation of the trial. The expression below accepts
only a line that is nothing but `name=value`:
"""),
c(r'''
METRICS_FORMAT = r"^([a-z_]+)=([0-9.]+)$"  # one metric per line, nothing else on it
KATIB_DEFAULT = r"([\w|-]+)\s*=\s*([+-]?\d*(\.\d+)?([Ee][+-]?\d+)?)"  # Katib v0.19's default filter
for name, pattern in (("metricsFormat", METRICS_FORMAT), ("Katib's default", KATIB_DEFAULT)):
    found = [m.group(1, 2) for line in by_hand.splitlines() for m in re.finditer(pattern, line)
             if m.group(1) in ("roc_auc", "log_loss")]
    print(f"{name:16} reads {found}")
'''),
m(r"""
The Experiment below is lab 7a's search in Katib's words, built by
`katib.experiment` (the course's tests create the same one) and printed in
full, as you would write it in a YAML file:

- `objective`: maximise `roc_auc`, and record `log_loss` beside it;
- `algorithm`: `tpe`, served on the course's clusters by goptuna (the
  chapter's table says which library serves which name). goptuna's TPE
  starts with ten random trials by default; `n_startup_trials: 2` lets it
  model the results from the third trial on, and `random_state` fixes its
  draws;
- `parameters`: the learning rate and the depth, each with a
  `feasibleSpace`. (goptuna samples a `double` uniformly: in v0.19 it
  ignores `distribution: logUniform`, which is why the range is narrow);
- `metricsCollectorSpec`: the StdOut collector with the `metricsFormat`
  above;
- `trialTemplate`: the Job each trial runs. Katib replaces
  `${trialParameters.learningRate}` with the trial's value; `backoffLimit: 0`
  fails a failing trial at once instead of retrying it, `retain: true` keeps
  a finished trial's pod so its log can be read, and the CPU request is
  small, so that the trials fit beside everything else on a laptop.

`maxTrialCount` ends the search, `parallelTrialCount` says how many trials
run at once, and `maxFailedTrialCount` how many may fail before the
Experiment fails.
"""),
c(r'''
TRIAL = katib.COMMAND + [f"--rows={n_rows}"]
tpe = katib.experiment("taxi-tpe", TRIAL, max_trials=max_trials, parallel=parallel_trials, max_failed=1,
                       algorithm="tpe", settings={"random_state": 42, "n_startup_trials": 2},
                       metrics_format=[METRICS_FORMAT])
print(yaml.safe_dump(tpe, sort_keys=False, width=120))
# kubectl apply -n lab-07-katib -f taxi-tpe.yaml
created = custom.create_namespaced_custom_object(plural="experiments", body=tpe, **KATIB)
print(f"created Experiment {created['metadata']['name']}; Katib's webhook filled in its defaults, such as the "
      f"metric strategies {created['spec']['objective']['metricStrategies']}")
'''),
m(r"""
The API server answers with the Experiment as stored, after Katib's
mutating webhook has filled in what the manifest left out. The metric
strategies say which of a trial's values counts when it reports a metric
more than once: the default follows the objective's type, `max` here, for
`log_loss` too. With one value per trial that makes no difference; a trial
that reports a loss after every epoch would want
`metricStrategies: [{name: log_loss, value: min}]`.
"""),
m(r"""
The Katib SDK (`kubeflow-katib`) wraps the same resource: `tune()` takes a
Python function as the objective, puts it into the trial template with a
base image and builds the Experiment for you. It pins protobuf below 5,
which cannot share this environment with the other parts' libraries, so it
stands here as text only; the Experiment it would create has the same
objective, algorithm and parameters as the one above.

```python
import kubeflow.katib as katib

def objective(parameters):
    ...  # train the course model with parameters["learning_rate"], parameters["max_depth"]
    print(f"roc_auc={auc}")

katib.KatibClient(namespace="lab-07-katib").tune(
    name="taxi-tpe",
    objective=objective,
    parameters={"learning_rate": katib.search.double(min=0.02, max=0.3),
                "max_depth": katib.search.int(min=2, max=6)},
    objective_metric_name="roc_auc",
    additional_metric_names=["log_loss"],
    algorithm_name="tpe",
    max_trial_count=4,
    parallel_trial_count=2,
    base_image="python:3.11-slim",
    packages_to_install=["scikit-learn", "pandas"],
)
```
"""),
m(r"""
## 3. Watch it run

While the Experiment runs, the controller raises the Suggestion's
`requests`, the suggestion service answers with parameter assignments
(`status.suggestions`), and a Trial appears for each; each Trial's Job runs
a pod. The loop below prints a line whenever that picture changes (`kubectl
get experiment,suggestion,trials -n lab-07-katib` shows the same).
"""),
c(r'''
def last_true(obj):
    """The type of the last condition of `obj` whose status is True ("-" before there is one)."""
    return next((c["type"] for c in reversed(obj.get("status", {}).get("conditions", []) or []) if c["status"] == "True"), "-")


def picture(name):
    """Experiment `name`, its Suggestion and Trials, and a short summary of their states."""
    exp = custom.get_namespaced_custom_object(plural="experiments", name=name, **KATIB)  # kubectl get experiment NAME
    try:
        sug = custom.get_namespaced_custom_object(plural="suggestions", name=name, **KATIB)  # kubectl get suggestion NAME
    except k8s.ApiException:
        sug = {}
    trials = custom.list_namespaced_custom_object(plural="trials", label_selector=f"katib.kubeflow.org/experiment={name}",
                                                  **KATIB)["items"]  # kubectl get trials -l katib.kubeflow.org/experiment=NAME
    summary = (last_true(exp), sug.get("spec", {}).get("requests", 0), len(sug.get("status", {}).get("suggestions") or []),
               ", ".join(sorted(last_true(t) for t in trials)) or "-")
    return exp, sug, trials, summary


def watch(name):
    """Print Experiment `name`'s picture whenever it changes, until it has finished; return what `picture` returns and the seconds."""
    started, last = time.perf_counter(), None
    while True:
        exp, sug, trials, now = picture(name)
        if now != last:
            print(f"{time.perf_counter() - started:4.0f} s  Experiment {now[0]:9s} Suggestion requests {now[1]}, "
                  f"suggestions {now[2]}; trials: {now[3]}")
            last = now
        if now[0] in ("Succeeded", "Failed") or time.perf_counter() - started > timeout_seconds:
            return exp, sug, trials, time.perf_counter() - started
        time.sleep(2)


exp, sug, trials, tpe_seconds = watch("taxi-tpe")
if last_true(exp) != "Succeeded":
    raise faults.LabError(components.experiment_problem(namespace, "taxi-tpe"))
'''),
m(r"""
Each trial's pod has a second container that you did not write: Katib's
webhook added the metrics collector, and rewrote the training container's
command so that its output goes to a file the collector reads.
"""),
c(r'''
first = sorted(t["metadata"]["name"] for t in trials)[0]
# kubectl get pods -n lab-07-katib -l job-name=TRIAL -o yaml
pod = core.list_namespaced_pod(namespace, label_selector=f"job-name={first}").items[0]
training = pod.spec.containers[0]
print(f"trial {first}'s pod has the containers {[c.name for c in pod.spec.containers]}")
print(f"the training container runs {training.command} with the one argument:\n  {training.args[0]}")
'''),
c(r'''
assert exp["status"]["trialsSucceeded"] == max_trials and len(trials) == max_trials
assert len(sug["status"]["suggestions"]) == max_trials
assert [c.name for c in pod.spec.containers] == ["training", "metrics-logger-and-collector"]
assert training.command == ["sh", "-c"] and "1>/var/log/katib/metrics.log" in training.args[0]
glue("katib_trials", max_trials)
glue("katib_seconds", round(tpe_seconds))
print(f"✓ {max_trials} trials succeeded in {tpe_seconds:.0f} s, each a Job whose pod had Katib's collector beside the training")
'''),
m(r"""
## 4. The best trial

Each Trial's status holds its observation: every metric the collector
read, with its `min`, `max` and `latest`. The Experiment's status holds
the best trial so far in `currentOptimalTrial`, chosen by the objective's
metric strategy (`max` for a metric to maximise).
"""),
c(r'''
rows = []
for t in trials:
    assignments = {a["name"]: a["value"] for a in t["spec"]["parameterAssignments"]}
    observed = {m["name"]: m for m in t["status"]["observation"]["metrics"]}
    rows.append({"trial": t["metadata"]["name"], **assignments,
                 "roc_auc": float(observed["roc_auc"]["latest"]), "log_loss": float(observed["log_loss"]["latest"]),
                 "roc_auc min..max": f"{observed['roc_auc']['min']}..{observed['roc_auc']['max']}"})
table = pd.DataFrame(rows).set_index("trial").sort_values("roc_auc", ascending=False)
print(table.to_string())
# kubectl get experiment taxi-tpe -n lab-07-katib -o jsonpath='{.status.currentOptimalTrial}'
best = exp["status"]["currentOptimalTrial"]
print(f"\nbest: {best['bestTrialName']} with {json.dumps({a['name']: a['value'] for a in best['parameterAssignments']})}: "
      f"{ {m['name']: m['max'] for m in best['observation']['metrics']} }")
'''),
c(r'''
best_auc = float(next(m["max"] for m in best["observation"]["metrics"] if m["name"] == "roc_auc"))
assert best["bestTrialName"] == table.index[0] and best_auc == table["roc_auc"].max()
assert 0.5 < best_auc < 1 and table["roc_auc"].nunique() > 1
assert all(low == high for low, high in (r.split("..") for r in table["roc_auc min..max"])), "one roc_auc per trial: not the baseline's"
glue("katib_best_auc", best_auc)
glue("katib_best_trial", best["bestTrialName"])
print(f"✓ Katib's best trial, {best['bestTrialName']}, has the highest roc_auc of the table, {best_auc}; "
      "each trial's roc_auc is one value, the model's")
'''),
m(r"""
## 5. An Experiment whose trials fail

A typo in the trial's command: `--learning_rate` instead of
`--learning-rate`. Every trial's script stops at once with argparse's
error, the Job fails (`backoffLimit: 0`), and so does the Trial. With
`maxFailedTrialCount: 1` the Experiment fails as soon as more than one trial
has failed, and says so in its `Failed` condition; *why* the trials failed
is only in their logs. `components.experiment_problem` gathers both: the
Experiment's condition, then each failed trial's reason and the tail of its
pod's logs (`kubectl logs --all-containers`: with the StdOut collector the
training container's own log is empty, and the collector prints what the
script wrote).
"""),
c(r'''
TYPO = [arg.replace("--learning-rate", "--learning_rate") for arg in TRIAL]
typo_spec = katib.experiment("taxi-typo", TYPO, max_trials=3, parallel=parallel_trials, max_failed=1,
                             algorithm="random", metrics_format=[METRICS_FORMAT])
custom.create_namespaced_custom_object(plural="experiments", body=typo_spec, **KATIB)
typo, _, typo_trials, failed_seconds = watch("taxi-typo")
condition = next(c for c in typo["status"]["conditions"] if c["type"] == last_true(typo))
print(f"\nafter {failed_seconds:.0f} s the Experiment is {condition['type']} ({condition['reason']}): {condition['message']}\n")
report = components.experiment_problem(namespace, "taxi-typo")
print(report)
'''),
c(r'''
assert condition["type"] == "Failed" and "max failed count has reached" in condition["message"]
assert typo["status"]["trialsFailed"] >= 2 and typo["status"].get("trialsSucceeded", 0) == 0
assert "the following arguments are required: --learning-rate" in report
glue("katib_failed_trials", typo["status"]["trialsFailed"])
glue("katib_failed_message", condition["message"])
glue("katib_failed_seconds", round(failed_seconds))
print(f"✓ the Experiment failed after {typo['status']['trialsFailed']} failed trials, and said so; "
      "the trials' logs say why: an option train.py does not have")
'''),
m(r"""
## Exercises

### Exercise 1: the trials' states, from the API

`kubectl get trials` lists the trials; so does the client. From
`custom.list_namespaced_custom_object(plural="trials", ..., **KATIB)` for
the first Experiment (label selector `katib.kubeflow.org/experiment=taxi-tpe`),
build `states`: a dictionary from each trial's name to the type of its last
condition whose status is `"True"`. The check asserts that `states` has
exactly the trial names of the table of section 4 and that every value is
`"Succeeded"`.
"""),
c(r'''
### BEGIN SOLUTION
listed = custom.list_namespaced_custom_object(plural="trials", label_selector="katib.kubeflow.org/experiment=taxi-tpe", **KATIB)
states = {t["metadata"]["name"]: [c["type"] for c in t["status"]["conditions"] if c["status"] == "True"][-1]
          for t in listed["items"]}
### END SOLUTION
print(states)
'''),
c(r'''
assert set(states) == set(table.index)
assert set(states.values()) == {"Succeeded"}
print(f"✓ {len(states)} trials, all Succeeded")
'''),
m(r"""
### Exercise 2: a File collector, checked by the API server

Some programs print much more than their metrics; Katib's File collector
reads a file the trial writes instead. Make `file_experiment`, the
Experiment `katib.experiment("taxi-file", ..., metrics_format=[METRICS_FORMAT])`
changed in two places:

- its `metricsCollectorSpec` is the File collector reading
  `/var/log/katib/metrics.log`: `collector: {kind: File}` and
  `source: {fileSystemPath: {path: ..., kind: File}, filter: ...}`;
- its trial container's command is `["sh", "-c", LINE]`, where `LINE` is
  the words of `TRIAL` joined by spaces with `> /var/log/katib/metrics.log`
  at the end, so that the script's output goes to that file.

Do not run it: send it to the API server as a dry run
(`custom.create_namespaced_custom_object(..., dry_run="All")`, which is
`kubectl apply --dry-run=server`), so that Katib's validating webhook checks
it without anything being created, and keep the answer in `accepted`. The
check asserts that the collector is `File` with that path, that the
container's command is `sh -c` and one line ending with the redirection,
that the API server accepted it (`accepted` has the name `taxi-file`), and
that no Experiment `taxi-file` exists afterwards.
"""),
c(r'''
### BEGIN SOLUTION
file_experiment = katib.experiment("taxi-file", TRIAL, max_trials=2, metrics_format=[METRICS_FORMAT])
file_experiment["spec"]["metricsCollectorSpec"] = {
    "collector": {"kind": "File"},
    "source": {"fileSystemPath": {"path": "/var/log/katib/metrics.log", "kind": "File"},
               "filter": {"metricsFormat": [METRICS_FORMAT]}},
}
container = file_experiment["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]["containers"][0]
container["command"] = ["sh", "-c", " ".join(TRIAL) + " > /var/log/katib/metrics.log"]
# kubectl apply --dry-run=server -n lab-07-katib -f taxi-file.yaml
accepted = custom.create_namespaced_custom_object(plural="experiments", body=file_experiment, dry_run="All", **KATIB)
### END SOLUTION
print(json.dumps(accepted["spec"]["metricsCollectorSpec"], indent=1))
'''),
c(r'''
spec = file_experiment["spec"]
assert spec["metricsCollectorSpec"]["collector"]["kind"] == "File"
assert spec["metricsCollectorSpec"]["source"]["fileSystemPath"]["path"] == "/var/log/katib/metrics.log"
command = spec["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]["containers"][0]["command"]
assert command[:2] == ["sh", "-c"] and len(command) == 3 and command[2].endswith("> /var/log/katib/metrics.log")
assert accepted["metadata"]["name"] == "taxi-file"
assert "taxi-file" not in {e["metadata"]["name"] for e in custom.list_namespaced_custom_object(plural="experiments", **KATIB)["items"]}
print("✓ a File collector and a trial that writes its metrics where it reads them; Katib's webhook accepted it, nothing was created")
'''),
m(r"""
### Exercise 3 (open-ended): your own search

Design a small Experiment of your own and run it: another algorithm
(`random`, `sobol`, or `cmaes`, which needs two numeric parameters, as this
space has), a narrower space around what the first Experiment found, or an
`objective.goal` that ends the search as soon as one trial reaches it.
Start from `katib.experiment(...)` and change what you like, with two or
three trials and `parallel_trials` at most; create it under the name `mine`
and wait for it (`components.wait_for_experiment(namespace, "mine",
timeout=timeout_seconds)` returns it once it has succeeded, and raises the
Experiment's diagnosis when it fails). Put the finished Experiment in
`mine`, and say in a comment what you expected. The check asserts that
`mine` has succeeded with at least two trials and has a best trial whose
`roc_auc` is between 0.5 and 1.
"""),
c(r'''
### BEGIN SOLUTION
# CMA-ES in a narrower space around the best trial's learning rate: expected to stay close to the best ROC AUC.
mine_spec = katib.experiment("mine", TRIAL, max_trials=2, parallel=2, algorithm="cmaes", settings={"random_state": 7},
                             metrics_format=[METRICS_FORMAT])
best_rate = float(table["learning_rate"].iloc[0])
mine_spec["spec"]["parameters"][0]["feasibleSpace"] = {"min": f"{max(best_rate / 2, 0.01):.3f}", "max": f"{min(best_rate * 2, 0.5):.3f}"}
custom.create_namespaced_custom_object(plural="experiments", body=mine_spec, **KATIB)
mine = components.wait_for_experiment(namespace, "mine", timeout=timeout_seconds)
### END SOLUTION
print(mine["status"]["currentOptimalTrial"]["bestTrialName"], mine["status"]["currentOptimalTrial"]["observation"])
'''),
c(r'''
assert last_true(mine) == "Succeeded" and mine["status"]["trialsSucceeded"] >= 2
mine_auc = float(next(m["max"] for m in mine["status"]["currentOptimalTrial"]["observation"]["metrics"] if m["name"] == "roc_auc"))
assert 0.5 < mine_auc < 1
print(f"✓ your Experiment succeeded with {mine['status']['trialsSucceeded']} trials; "
      f"best trial {mine['status']['currentOptimalTrial']['bestTrialName']}, roc_auc {mine_auc}")
'''),
m(r"""
## Cleanup

Deleting the namespace deletes the Experiments, and with them (through
their owner references) the Suggestions, the suggestion services, the
Trials and their Jobs and pods. The trial image stays in Docker and on the
node, shared with the course's tests, as the model server's images are;
the lab's working folder is removed. Running this cell twice is fine.
"""),
c(r'''
deleted = cluster.delete_namespace(namespace)  # kubectl delete namespace lab-07-katib
print(f"namespace {namespace} {'deleted' if deleted else 'was already gone'}")
print(containers.describe_cleanup(containers.cleanup(LAB, docker.from_env())))
assert cluster.kubectl("get", "namespace", namespace, check=False).returncode != 0
assert not any(containers.lab_objects(docker.from_env(), LAB).values())
print(f"nothing of {LAB} is left on the cluster or in Docker")
''', "cleanup"),
m(r"""
## Summary

- A Katib trial is a program that takes hyperparameters as options and
  prints its metrics; the StdOut collector reads them with the regular
  expressions of `metricsFormat` (two groups: name and value), and a strict
  one keeps other numbers out of the observation.
- An Experiment is one custom resource: objective, algorithm and its
  settings, parameters, collector and trial template. `CustomObjectsApi`
  creates and reads it like any other custom resource; the Katib SDK's
  `tune()` builds the same resource from a Python function.
- Katib turns it into a Suggestion (the algorithm's answers), Trials and
  their Jobs, and adds a collector to each trial's pod in a labelled
  namespace; the best trial is in `status.currentOptimalTrial`.
- When trials fail, the Experiment says only that too many did; the trials'
  logs say why.

## What's next

[Part 8, Serving](../book/08-serving.md) serves the tuned model. The
[chapter](../book/07-tuning.md) explains the algorithms behind the names
this lab used, and lab 7a compares them.
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
    "course": {"tier": "kubeflow", "components": ["katib"], "budget_seconds": 300},
    "kernelspec": {"display_name": "MLOps course (Python 3.11)", "language": "python", "name": "mlops-course"},
    "language_info": {"name": "python"},
}
nbformat.write(nb, sys.argv[1])
