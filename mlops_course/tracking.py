"""Run records: what a training run needs to be reproduced and traced.

A run record answers "which code, data, parameters and environment made this
model, and how good was it?" It is a plain dict, saved as JSON; Part 10 moves
the same information into ML metadata.
"""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from mlops_course.paths import REPO_ROOT

#: Packages whose versions change what a training run produces.
TRACKED_PACKAGES = ("numpy", "pandas", "scikit-learn", "mlops-course")


def fingerprint_frame(df: pd.DataFrame) -> str:
    """SHA-256 of a table's content, column names and order included."""
    h = hashlib.sha256()
    h.update(json.dumps(list(map(str, df.columns))).encode())
    h.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return h.hexdigest()


def fingerprint_model(model, probe: pd.DataFrame) -> str:
    """SHA-256 of a model's predicted probabilities on a fixed probe set.

    Two models with the same fingerprint make the same predictions on the
    probe, to 12 decimals; that is what "the same model" means in practice.
    """
    proba = model.predict_proba(probe)
    return hashlib.sha256(np.round(proba, 12).tobytes()).hexdigest()


#: The tracked files whose changes change what a training run produces: the
#: helper package and the pins. A notebook is not among them: running one
#: rewrites its outputs, so it would always look changed.
CODE_PATHS = ("mlops_course", "pyproject.toml", "uv.lock")


def code_version(paths: tuple[str, ...] = CODE_PATHS) -> str:
    """The git commit of the course checkout, with ``-dirty`` if any of ``paths`` differ from it.

    The same as ``git rev-parse --short HEAD`` and ``git status --porcelain -- PATHS``.
    """
    git = ["git", "-C", str(REPO_ROOT)]
    try:
        commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(
            [*git, "status", "--porcelain", "--untracked-files=no", "--", *paths],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return commit + ("-dirty" if dirty else "")


def environment() -> dict[str, str]:
    """Python and tracked package versions."""
    versions = {"python": platform.python_version()}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def run_record(*, data: pd.DataFrame, params: dict, metrics: dict, model=None, probe: pd.DataFrame | None = None) -> dict:
    """Everything needed to reproduce and trace one training run."""
    record = {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "code_version": code_version(),
        "environment": environment(),
        "data": {"rows": len(data), "fingerprint": fingerprint_frame(data)},
        "params": params,
        "metrics": metrics,
    }
    if model is not None:
        if probe is None:
            raise ValueError("pass probe= (a fixed table of inputs) to fingerprint the model")
        record["model_fingerprint"] = fingerprint_model(model, probe)
    return record


def reproducible_part(record: dict) -> dict:
    """The record without the fields that differ between identical runs (the time)."""
    return {k: v for k, v in record.items() if k != "created"}


def save_record(record: dict, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    return path
