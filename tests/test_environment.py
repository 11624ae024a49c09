"""The environments are pinned: a lock with hashes, and an environment.yml that agrees with it."""

from __future__ import annotations

import tomllib

import yaml

import environment_yml
from mlops_course import doctor

LOCK = tomllib.loads((environment_yml.ROOT / "uv.lock").read_text())


def test_lock_is_fresh_for_pyproject():
    """uv.lock records the pyproject dependencies it was resolved for; they must be today's."""
    project = tomllib.loads((environment_yml.ROOT / "pyproject.toml").read_text())["project"]
    root = next(p for p in LOCK["package"] if p["name"] == project["name"])
    locked_for = sorted(r["name"] + r.get("specifier", "") for r in root["metadata"]["requires-dist"])
    wanted = sorted(d.replace(" ", "") for d in project["dependencies"])
    assert [environment_yml.normalise(x) for x in locked_for] == [environment_yml.normalise(x) for x in wanted], (
        "pyproject.toml changed since uv.lock was made: run `uv lock` (scripts/course uses .tools/uv/bin/uv)"
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
