"""The course pipeline of lab 5a, shared by the labs that run it elsewhere (5b in Docker, 5c on Kubeflow Pipelines).

Lab 5a writes the components and the pipeline by hand, with the SDK; the
labs after it take them from here, as the same functions, so that all three
run one pipeline: trips, hash split, training, evaluation against the
majority-class baseline, export if the model beats it. What changes from lab
to lab is only where the steps run, hence the image: :func:`components` and
:func:`pipeline` take it as an argument.

Also here, because it is plumbing rather than the lesson:

- :data:`EXPECTED`, the metrics lab 5a's run records for its default
  parameters (``tests/test_kfp_server_lab.py`` runs the pipeline locally and
  compares), so a run in Docker or on a cluster can be checked against them;
- :func:`image_context`, the build context of an image the steps run in
  offline: kfp, the course modules and their pinned dependencies in a virtual
  environment first on ``PATH``;
- :func:`mlmd_custom_properties`, which reads an artifact's values (a
  ``Metrics`` artifact's scores) from ML Metadata over gRPC: ``kfp.Client``
  has no call for it, and the ``ml-metadata`` package is not in the course
  environment.
"""

# no "from __future__ import annotations": kfp reads the components' type hints as objects

import math
import shutil
from pathlib import Path
from typing import NamedTuple

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

#: Lab 5a's parameters cell: the pipeline's defaults.
DEFAULTS = {"n_rows": 5_000, "seed": 42, "learning_rate": 0.1}

#: What lab 5a's run of the pipeline scored with :data:`DEFAULTS` (model.evaluate rounds to 4 decimals).
#: Same data, same seed, same package versions: a run anywhere else must give these, within :data:`TOLERANCE`.
EXPECTED = {"roc_auc": 0.8932, "log_loss": 0.3777, "accuracy": 0.8153, "baseline_log_loss": 0.6138,
            "baseline_accuracy": 0.6968}
#: Rounding to 4 decimals, and another CPU's floating point, may move the last digit.
TOLERANCE = 2e-4

#: Where the course modules go in the steps' image (on the image's PYTHONPATH).
COURSE_DIR = "/opt/course"
#: The course modules the steps import.
MODULES = ("__init__.py", "data.py", "split.py", "model.py")
#: The packages the steps need, pinned to uv.lock's versions in the image.
PACKAGES = ["kfp", "numpy", "pandas", "scikit-learn"]
#: The uv that scripts/course installs for the course environment (lab 2a's image uses it too).
UV_VERSION = "0.13.9"


# --- the steps: lab 5a's components, as plain functions ------------------------------------


def load_trips(n_rows: int, seed: int, trips: Output[Dataset]):
    from mlops_course import data

    table = data.generate_trips(n_rows, seed=seed)
    table.to_pickle(trips.path)  # pickle keeps the dtypes (pickup_time stays a timestamp)
    trips.metadata.update({"rows": len(table), "seed": seed})


def split_trips(trips: Input[Dataset], train: Output[Dataset], valid: Output[Dataset]):
    import pandas as pd
    from mlops_course import split

    table = pd.read_pickle(trips.path)
    assigned = split.hash_split(table["trip_id"]).to_numpy()  # 80/10/10 by a hash of the trip id
    for name, artifact in (("train", train), ("valid", valid)):
        rows = table[assigned == name]
        rows.to_pickle(artifact.path)
        artifact.metadata["rows"] = len(rows)


def train_model(train: Input[Dataset], seed: int, learning_rate: float, model: Output[Model]):
    import pickle

    import pandas as pd
    from mlops_course import model as course_model

    fitted = course_model.train(pd.read_pickle(train.path), seed=seed, learning_rate=learning_rate)
    with open(model.path, "wb") as f:
        pickle.dump(fitted, f)
    model.metadata.update({"kind": "gbdt", "seed": seed, "learning_rate": learning_rate})


def evaluate_model(model: Input[Model], train: Input[Dataset], valid: Input[Dataset], metrics: Output[Metrics]) -> float:
    """Log ROC AUC and log loss beside the baseline's; return how much lower the model's log loss is."""
    import pickle

    import pandas as pd
    from mlops_course import model as course_model

    with open(model.path, "rb") as f:
        fitted = pickle.load(f)
    base_rate = pd.read_pickle(train.path)[course_model.LABEL].mean()  # the baseline knows only the training share
    scores = course_model.evaluate(fitted, pd.read_pickle(valid.path), base_rate=base_rate)
    for name, value in scores.items():
        metrics.log_metric(name, value)
    return scores["baseline_log_loss"] - scores["log_loss"]


def export_model(model: Input[Model], exported: Output[Model]):
    import shutil

    shutil.copyfile(model.path, exported.path)
    exported.metadata.update(model.metadata)


STEPS = (load_trips, split_trips, train_model, evaluate_model, export_model)


def components(image: str) -> dict:
    """Lab 5a's five components, run in ``image`` (which has kfp and the course modules: no pip step)."""
    make = dsl.component(base_image=image, install_kfp_package=False)
    return {step.__name__: make(step) for step in STEPS}


def pipeline(image: str, name: str = "taxi-tips"):
    """Lab 5a's pipeline (``taxi_pipeline``), its steps in ``image``."""
    c = components(image)

    @dsl.pipeline(name=name, description="The course model: trips, hash split, train, evaluate, export if it beats the baseline.")
    def taxi_tips(n_rows: int = DEFAULTS["n_rows"], seed: int = DEFAULTS["seed"],
                  learning_rate: float = DEFAULTS["learning_rate"]) -> NamedTuple("Outputs", [("metrics", Metrics), ("margin", float)]):
        loaded = c["load_trips"](n_rows=n_rows, seed=seed)
        parts = c["split_trips"](trips=loaded.outputs["trips"])
        trained = c["train_model"](train=parts.outputs["train"], seed=seed, learning_rate=learning_rate)
        scored = c["evaluate_model"](model=trained.outputs["model"], train=parts.outputs["train"], valid=parts.outputs["valid"])
        with dsl.If(scored.outputs["Output"] > 0.0, name="beats-baseline"):
            c["export_model"](model=trained.outputs["model"])
        return NamedTuple("Outputs", [("metrics", Metrics), ("margin", float)])(scored.outputs["metrics"], scored.outputs["Output"])

    return taxi_tips


def differences(metrics: dict, expected: dict = EXPECTED) -> dict[str, float]:
    """``{name: metric - expected}`` for each expected metric further off than :data:`TOLERANCE` (empty: the same)."""
    off = {}
    for name, value in expected.items():
        got = metrics.get(name, math.nan)
        if not abs(float(got) - value) <= TOLERANCE:
            off[name] = float(got) - value
    return off


# --- the image the steps run in -------------------------------------------------------------


def dockerfile(base_image: str, lab: str) -> str:
    """A Dockerfile for the steps: kfp and the course's packages, pinned, in a venv first on ``PATH``.

    Debian's Python refuses ``pip install`` into itself (PEP 668), which is how
    a lightweight component installs kfp when it starts; with kfp in the image
    the components skip that step (``install_kfp_package=False``) and run with
    no network at all. The venv has its own pip (``--seed``), so a Dockerfile
    built on this image (``kfp component build`` writes one) may ``pip install``.
    The packages are compiled to bytecode in the image: each step is a new
    container, which would otherwise compile every module it imports again.
    """
    return f"""\
FROM {base_image}
LABEL mlops-course.lab={lab}
RUN python3 -m pip install --no-cache-dir --break-system-packages uv=={UV_VERSION}
# UV_NATIVE_TLS and PIP_CERT: trust the system's certificates (a company proxy's CA among them)
ENV UV_NATIVE_TLS=1 UV_NO_CACHE=1 UV_LINK_MODE=copy PIP_CERT=/etc/ssl/certs/ca-certificates.crt
RUN uv venv --seed /opt/venv
ENV VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1
COPY requirements.txt /opt/requirements.txt
# every step starts a fresh container, which would compile kfp, pandas and scikit-learn to bytecode
# again on each import: compile them once, here
RUN uv pip install --compile-bytecode -r /opt/requirements.txt
COPY mlops_course/ {COURSE_DIR}/mlops_course/
RUN python3 -m compileall -q {COURSE_DIR}
ENV PYTHONPATH={COURSE_DIR}
"""


def image_context(folder: Path, base_image: str, lab: str) -> Path:
    """Stage the build context of the steps' image in ``folder`` (emptied first): the Dockerfile,
    requirements pinned to uv.lock, and the course modules the steps import."""
    from mlops_course import containers, paths

    folder = Path(folder)
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "mlops_course").mkdir(parents=True)
    for module in MODULES:
        shutil.copy(paths.REPO_ROOT / "mlops_course" / module, folder / "mlops_course" / module)
    (folder / "requirements.txt").write_text("\n".join(containers.pinned_requirements(PACKAGES)) + "\n")
    (folder / "Dockerfile").write_text(dockerfile(base_image, lab))
    return folder


# --- ML Metadata: an artifact's values --------------------------------------------------------

#: The gRPC method of ML Metadata's store service that returns artifacts by id.
MLMD_GET_ARTIFACTS = "/ml_metadata.MetadataStoreService/GetArtifactsByID"


def _mlmd_messages():
    """The few ML Metadata messages :func:`mlmd_custom_properties` needs, built from their field numbers
    in ml_metadata/proto/metadata_store.proto and metadata_store_service.proto (fields left out are
    skipped when an answer is parsed)."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    F = descriptor_pb2.FieldDescriptorProto
    proto = descriptor_pb2.FileDescriptorProto(name="mlops_course_mlmd_subset.proto", package="ml_metadata", syntax="proto2")
    value = proto.message_type.add(name="Value")
    value.oneof_decl.add(name="value")
    for name, number, kind in (("int_value", 1, F.TYPE_INT64), ("double_value", 2, F.TYPE_DOUBLE), ("string_value", 3, F.TYPE_STRING)):
        value.field.add(name=name, number=number, type=kind, label=F.LABEL_OPTIONAL, oneof_index=0)
    artifact = proto.message_type.add(name="Artifact")
    artifact.field.add(name="id", number=1, type=F.TYPE_INT64, label=F.LABEL_OPTIONAL)
    artifact.field.add(name="uri", number=3, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    entry = artifact.nested_type.add(name="CustomPropertiesEntry")
    entry.options.map_entry = True
    entry.field.add(name="key", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    entry.field.add(name="value", number=2, type=F.TYPE_MESSAGE, type_name=".ml_metadata.Value", label=F.LABEL_OPTIONAL)
    artifact.field.add(name="custom_properties", number=5, type=F.TYPE_MESSAGE,
                       type_name=".ml_metadata.Artifact.CustomPropertiesEntry", label=F.LABEL_REPEATED)
    request = proto.message_type.add(name="GetArtifactsByIDRequest")
    request.field.add(name="artifact_ids", number=1, type=F.TYPE_INT64, label=F.LABEL_REPEATED)
    response = proto.message_type.add(name="GetArtifactsByIDResponse")
    response.field.add(name="artifacts", number=1, type=F.TYPE_MESSAGE, type_name=".ml_metadata.Artifact", label=F.LABEL_REPEATED)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return tuple(message_factory.GetMessageClass(pool.FindMessageTypeByName(f"ml_metadata.{n}"))
                 for n in ("GetArtifactsByIDRequest", "GetArtifactsByIDResponse"))


def decode_artifacts(answer: bytes) -> dict[int, dict]:
    """``{artifact id: {"uri": ..., "values": {name: value}}}`` from a serialized GetArtifactsByIDResponse."""
    _, Response = _mlmd_messages()
    parsed = Response.FromString(answer)
    found = {}
    for artifact in parsed.artifacts:
        values = {}
        for key, value in artifact.custom_properties.items():
            kind = value.WhichOneof("value")
            values[key] = getattr(value, kind) if kind else None
        found[artifact.id] = {"uri": artifact.uri, "values": values}
    return found


def mlmd_custom_properties(address: str, artifact_ids: list, timeout: float = 10) -> dict[int, dict]:
    """Read artifacts from ML Metadata's gRPC service at ``address`` (``127.0.0.1:PORT``, a port-forward of
    ``svc/metadata-grpc-service``): their URI and their values (custom properties), by artifact id.
    A ``Metrics`` artifact's scores are its values: KFP's backend stores each key of an artifact's
    metadata as a custom property, a number as ``double_value`` (backend/src/v2/metadata/converter.go)."""
    import grpc

    Request, Response = _mlmd_messages()
    with grpc.insecure_channel(address) as channel:
        call = channel.unary_unary(MLMD_GET_ARTIFACTS, request_serializer=lambda m: m.SerializeToString(),
                                   response_deserializer=lambda b: b)
        answer = call(Request(artifact_ids=[int(i) for i in artifact_ids]), timeout=timeout)
    return decode_artifacts(answer)
