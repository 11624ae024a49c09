"""Figures in prose come from the run.

A chapter or a lab's markdown that quotes a measured figure pastes it with
MyST-NB's glue role from the executed notebook's committed outputs
(``mlops_course.glue.glue`` records it there). These tests fail when a quoted
figure is missing from those outputs, and when prose types a figure that looks
measured (a size, a duration in seconds, a percentage, a share, a distance)
instead of gluing it. A figure that is a definition or a design constant, not a
measurement (the 20% tip threshold, a 16 GB laptop), is listed in the
document's ``<!-- stated figures: 20%, 16 GB -->`` comment, which says so.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from test_layout import ROOT

GLUE_ROLE = re.compile(r"\{glue(?::[a-z]*)?\}`([^`]+)`")
STATED = re.compile(r"<!--\s*stated figures:(.*?)-->", re.S)
GLUE_MIME = "application/papermill.record/"

#: What looks measured: a number with a unit of size, time in seconds, share,
#: distance or rate, or a decimal below one (a score, a distance, a p-value).
UNITS = r"(?:B|kB|KB|KiB|MB|MiB|GB|GiB|TB|TiB|ms|s|seconds?|%|percent|miles?|km|MB/s|req/s|x)"
MEASURED = re.compile(rf"(?<![\w.\-/:])(\d+(?:[.,]\d+)?\s?{UNITS}(?![\w/])|0\.\d+)(?![\w.])")


def documents() -> list[Path]:
    return sorted((ROOT / "book").glob("*.md")) + sorted((ROOT / "solutions").glob("*.ipynb"))


def prose(path: Path) -> str:
    """The markdown a reader sees as text: no code, no roles' targets, no links' addresses."""
    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text())["cells"]
        return "\n\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    return path.read_text()


def strip_non_prose(text: str) -> str:
    text = re.sub(r"^(```|~~~|:::).*?^\1", "", text, flags=re.S | re.M)  # fenced code and directives
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    text = GLUE_ROLE.sub("", text)
    text = re.sub(r"\{[a-z:]+\}`[^`]*`", "", text)  # other roles: their targets are names
    text = re.sub(r"`[^`\n]*`", "", text)  # inline code
    text = re.sub(r"\]\([^)]*\)", "]", text)  # link addresses
    text = re.sub(r"https?://\S+", "", text)
    return text


def stated(text: str) -> set[str]:
    return {figure.strip() for block in STATED.findall(text) for figure in block.split(",") if figure.strip()}


def glued_keys(notebook: Path) -> set[str]:
    keys = set()
    for cell in json.loads(notebook.read_text())["cells"]:
        for output in cell.get("outputs", []):
            name = output.get("metadata", {}).get("scrapbook", {}).get("name")
            if name:
                keys.add(name)
    return keys


def glue_references(path: Path) -> list[tuple[Path, str]]:
    refs = []
    for target in GLUE_ROLE.findall(prose(path)):
        doc, _, key = target.rpartition("::") if "::" in target else ("", "", target)
        key = key.split(":", 1)[0]
        notebook = (path.parent / doc).resolve() if doc else path
        refs.append((notebook, key))
    return refs


def unglued_figures(path: Path) -> list[str]:
    text = prose(path)
    allowed = {re.sub(r"\s", "", f) for f in stated(text)}
    found = [m.group(1) for m in MEASURED.finditer(strip_non_prose(text))]
    return [f for f in found if re.sub(r"\s", "", f) not in allowed]


@pytest.mark.parametrize("path", documents(), ids=lambda p: p.name)
def test_quoted_figures_exist_in_the_outputs(path):
    for notebook, key in glue_references(path):
        assert notebook.suffix == ".ipynb" and notebook.exists(), f"{path.name} glues from {notebook.name}, which is not a notebook here"
        assert key in glued_keys(notebook), (
            f"{path.name} quotes {key!r} from {notebook.name}, whose committed outputs do not record it: "
            "glue it in the notebook (mlops_course.glue.glue) and run scripts/course refresh"
        )


@pytest.mark.parametrize("path", documents(), ids=lambda p: p.name)
def test_prose_does_not_type_measured_figures(path):
    figures = unglued_figures(path)
    assert not figures, (
        f"{path.name} states {figures} by hand: glue each from the run that measured it, "
        "or, if it is a definition rather than a measurement, list it in a '<!-- stated figures: ... -->' comment"
    )


def test_the_checks_catch_a_typed_figure_and_a_missing_key(tmp_path):
    chapter = tmp_path / "chapter.md"
    notebook = tmp_path / "lab.ipynb"
    notebook.write_text(json.dumps({"cells": [{"cell_type": "code", "source": [], "outputs": [
        {"output_type": "display_data", "data": {GLUE_MIME + "text/plain": "0.0605"},
         "metadata": {"scrapbook": {"name": "js_distance", "mime_prefix": GLUE_MIME}}}]}]}))
    chapter.write_text(
        "<!-- stated figures: 20% -->\nA tip over 20% is big. The layer is 344 MB, the distance "
        "{glue:text}`lab.ipynb::js_distance:.3f`, and `sleep 5 s` is code.\n{glue:text}`lab.ipynb::gone`\n"
    )
    assert unglued_figures(chapter) == ["344 MB"]
    assert [key for nb, key in glue_references(chapter) if key not in glued_keys(nb)] == ["gone"]
