"""Where things are: the repository, and each lab's scratch folder."""

from __future__ import annotations

import shutil
from pathlib import Path

#: The course checkout (the package is installed from it in editable mode).
REPO_ROOT = Path(__file__).resolve().parents[1]

#: Lab working files go under here; ``scripts/course clean`` removes it.
WORK_ROOT = REPO_ROOT / ".work"


def workdir(lab: str, fresh: bool = False) -> Path:
    """The scratch folder of one lab, created if missing; ``fresh`` empties it first."""
    path = WORK_ROOT / lab
    if fresh and path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    return path


def remove_workdir(lab: str) -> bool:
    """Delete a lab's scratch folder; safe to call twice. True if something was removed."""
    path = WORK_ROOT / lab
    if not path.exists():
        return False
    shutil.rmtree(path)
    return True


def shown(path: Path) -> str:
    """A path as a notebook should print it: relative to the course checkout, never a home folder."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(REPO_ROOT))
    except ValueError:
        return path.name
