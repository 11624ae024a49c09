"""The repository has the layout in COURSE.md, and the table of contents covers it."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc["parts"]:
        files += [chapter["file"] for chapter in part["chapters"]]
    return files


def test_layout_from_course_md():
    for folder in ("book", "labs", "solutions", "scripts", "cluster", "tests", "mlops_course"):
        assert (ROOT / folder).is_dir(), folder
    for name in ("environment.yml", "_config.yml", "_toc.yml", "README.md", "pyproject.toml", "uv.lock", ".ci/run"):
        assert (ROOT / name).is_file(), name


def test_toc_entries_exist_and_cover_every_chapter_and_lab():
    files = toc_files()
    assert len(files) == len(set(files)), "a page is listed twice"
    for entry in files:
        assert (ROOT / f"{entry}.md").exists() or (ROOT / f"{entry}.ipynb").exists(), entry
    chapters = {f"book/{p.stem}" for p in (ROOT / "book").glob("*.md")}
    labs = {f"solutions/{p.stem}" for p in (ROOT / "solutions").glob("*.ipynb")}
    assert chapters | labs == set(files)


def test_every_lab_follows_its_chapter():
    files = toc_files()
    for lab in (f for f in files if f.startswith("solutions/")):
        part = lab.split("/")[1][:2]
        chapter = next(f for f in files if f.startswith(f"book/{part}-"))
        assert files.index(chapter) < files.index(lab), f"{lab} comes before its chapter {chapter}"


def test_readme_shows_the_two_commands_and_ci_runs_the_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "scripts/course lab" in readme and "scripts/course test" in readme
    ci = (ROOT / ".ci/run").read_text()
    calls = [line.strip() for line in ci.splitlines() if "scripts/course test" in line and not line.strip().startswith("#")]
    assert calls, ".ci/run must call scripts/course test"
    assert all(call in readme for call in calls), f"README.md must show the command .ci/run runs: {calls}"
