"""The environments are pinned: a lock with hashes, and an environment.yml that agrees with it."""

from __future__ import annotations

import re
import tomllib

import pytest
import yaml

import environment_yml
from mlops_course import doctor

LOCK = tomllib.loads((environment_yml.ROOT / "uv.lock").read_text())
#: The main environment and every extra one (envs/NAME), as scripts/course finds them.
PROJECTS = [environment_yml.ROOT, *sorted(p.parent for p in (environment_yml.ROOT / "envs").glob("*/uv.lock"))]


def _requirement(name: str, specifier: str = "", marker: str = "") -> str:
    text = environment_yml.normalise(name) + specifier.replace(" ", "")
    return f"{text};{marker.replace(' ', '')}" if marker else text


@pytest.mark.parametrize("project_dir", PROJECTS, ids=lambda p: p.name if p != environment_yml.ROOT else "main")
def test_lock_is_fresh_for_pyproject(project_dir):
    """Each uv.lock records the pyproject dependencies it was resolved for; they must be today's."""
    project = tomllib.loads((project_dir / "pyproject.toml").read_text())["project"]
    lock = tomllib.loads((project_dir / "uv.lock").read_text())
    root = next(p for p in lock["package"] if p["name"] == project["name"])
    locked_for = sorted(_requirement(r["name"], r.get("specifier", ""), r.get("marker", "")) for r in root["metadata"]["requires-dist"])
    wanted = []
    for dependency in project["dependencies"]:
        requirement, _, marker = dependency.partition(";")
        name = re.split(r"[<>=!~\[ ]", requirement.strip(), maxsplit=1)[0]
        wanted.append(_requirement(name, requirement.strip()[len(name):], marker.strip().replace('"', "'")))
    assert locked_for == sorted(wanted), (
        f"{project_dir.name}/pyproject.toml changed since its uv.lock was made: run "
        f"`.tools/uv/bin/uv lock --project {project_dir.relative_to(environment_yml.ROOT) or '.'}`"
    )


def test_every_locked_file_has_a_hash():
    files = [f for p in LOCK["package"] for f in p.get("wheels", []) + ([p["sdist"]] if "sdist" in p else [])]
    assert files, "the lock lists no files"
    assert all(f.get("hash", "").startswith("sha256:") for f in files)


def test_environment_yml_matches_the_lock():
    assert (environment_yml.ROOT / "environment.yml").read_text() == environment_yml.render(), (
        "run python scripts/environment_yml.py"
    )
    env = yaml.safe_load((environment_yml.ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    pins = dict(line.split("==") for line in pip if "==" in line)
    versions = environment_yml.locked_versions()
    assert pins and all(versions[name] == version for name, version in pins.items())
    assert set(pins) == set(environment_yml.direct_dependencies())
    assert "python=3.11" in env["dependencies"]


def test_installed_environment_matches_the_lock():
    assert doctor.lock_mismatches() == {}, "run scripts/course setup"
