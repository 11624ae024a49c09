"""The website builds offline with warnings as errors, and shows what it promises:
lab pages with real outputs and folded solutions, a glossary with Korean terms, search."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

import notebooks
from mlops_course import doctor
from test_layout import ROOT, toc_files


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("book")
    result = subprocess.run(
        [str(ROOT / ".venv/bin/jupyter-book"), "build", str(ROOT), "--warningiserror", "--nitpick", "--path-output", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return out / "_build" / "html"


def test_every_toc_page_is_rendered(site):
    for entry in toc_files():
        assert (site / f"{entry}.html").exists(), entry


@pytest.mark.parametrize("lab", sorted(p.stem for p in (ROOT / "solutions").glob("*.ipynb")))
def test_lab_pages_show_real_outputs_and_fold_solutions(site, lab):
    html = (site / "solutions" / f"{lab}.html").read_text()
    if notebooks.ci_cannot_run(notebooks.read(ROOT / "solutions" / f"{lab}.ipynb")):
        assert "This page shows no outputs" in html, "a lab no CI can run says so at the top"
    else:
        assert "✓" in html, "the check cells' output is missing: run scripts/course refresh"
    assert "tag_hide-input" in html, "solution cells must be folded behind a toggle"
    assert "NotImplementedError" not in html, "the website shows solutions, not placeholders"


def test_glossary_gives_korean_terms(site):
    html = (site / "book" / "glossary.html").read_text()
    assert len(re.findall(r'<dt id="term-', html)) >= 25
    assert len(re.findall(r"[\uac00-\ud7a3]+", html)) >= 25, "each term gives its Korean name"


def test_search_index_covers_chapters_and_labs(site):
    index = (site / "searchindex.js").read_text()
    assert (site / "search.html").exists()
    for word in ("fingerprint", "reproduc", "glossari"):
        assert word in index.lower(), word


# --- glossary links -------------------------------------------------------------
#
# Every glossary term a chapter uses is linked with the {term} role at its first
# use in that chapter, so a reader who opens any chapter first finds each term
# one click away. A "use" is the entry's full name (or its plural), in any case,
# in the chapter's prose: not in code, headings, directive lines, comments or
# link addresses. The rule is made sensible for words that are also everyday
# English:
#
# - the longest name wins: "writable layer" is a use of Writable layer, not of Layer;
# - the Kubernetes and Kubeflow kinds that are everyday words (Deployment, Job,
#   Service, Experiment) count only where they are written as the kind is,
#   capitalised in the middle of a sentence ("a Service", not "any service");
# - proper names that contain a term are not uses of it (the "MLOps course"
#   kernel, TensorFlow Data Validation, Google's Artifact Registry, "Kubeflow
#   components" in the sense of Pipelines, Katib and KServe, a Dockerfile's "exec form");
# - a chapter that uses a term's words in their everyday sense, where no test can
#   tell, says so in a comment: <!-- not glossary terms: layer, slice -->.

GLOSSARY = ROOT / "book" / "glossary.md"
TERM_ROLE = re.compile(r"\{term\}`([^`]*)`")
NOT_TERMS = re.compile(r"<!--\s*not glossary terms:(.*?)-->", re.S)
KINDS = {"Deployment", "Job", "Service", "Experiment"}
PROPER_NAMES = re.compile(
    r"MLOps\s+course|Hands-on\s+MLOps|TensorFlow\s+Data\s+Validation|Artifact\s+Registry|"
    r"Kubeflow\s+Pipelines|(?:Kubeflow|cluster|optional|named)\s+components?|exec\s+form",
    re.I,
)


def chapters() -> list[Path]:
    return sorted(p for p in (ROOT / "book").glob("*.md") if p != GLOSSARY)


def glossary_entries(text: str | None = None) -> dict[str, str]:
    """``{term: definition}`` from the glossary directive (a term line, then its indented definition)."""
    text = GLOSSARY.read_text() if text is None else text
    body = text.split(":::{glossary}", 1)[1].split("\n:::", 1)[0]
    entries: dict[str, str] = {}
    term = None
    for line in body.splitlines():
        if line.strip() and not line[0].isspace():
            term = line.strip()
            entries[term] = ""
        elif term:
            entries[term] += line.strip() + " "
    return {t: d.strip() for t, d in entries.items()}


def role_target(inner: str) -> str:
    explicit = re.fullmatch(r"(.*?)\s*<([^>]+)>\s*", inner, re.S)
    return (explicit.group(2) if explicit else inner).strip()


def term_pattern(term: str) -> re.Pattern:
    """The term's full name or its plural; a space, hyphen or dash between its words are alike."""
    *words, last = re.split(r"[\s\-–]+", term)
    plural = re.escape(last[:-1]) + "(?:y|ies)" if last.endswith("y") else re.escape(last) + "(?:s|es)?"
    name = r"[\s\-–]+".join([*map(re.escape, words), plural])
    if term in KINDS:  # written as the kind: capitalised, after a word in the same sentence
        return re.compile(rf"(?<=[a-z0-9,;)’'][ \n]){name}(?![\w\-])")
    return re.compile(rf"(?<![\w\-]){name}(?![\w\-])", re.I)


def chapter_prose(text: str) -> str:
    """The chapter with everything that is not running prose blanked out, positions kept."""
    lines, fence = [], None
    for line in text.splitlines():
        stripped = line.strip()
        opening = re.match(r"(`{3,}|~{3,})(.*)", stripped)
        if fence:
            if stripped and set(stripped) <= set(fence[0][0]) and len(stripped) >= len(fence[0]):
                fence = None
                lines.append("")
            else:  # a figure's caption is prose; its options and any code are not
                lines.append(line if fence[1] and not stripped.startswith(":") else "")
        elif opening:
            fence = (opening.group(1), opening.group(2).startswith("{"))
            lines.append("")
        elif stripped.startswith(("#", ":::")):
            lines.append("")
        else:
            lines.append(line)
    text = "\n".join(lines)
    blank = lambda m: " " * len(m.group(0))  # noqa: E731
    text = re.sub(r"<!--.*?-->", blank, text, flags=re.S)
    return text


def first_uses(text: str, terms: list[str]) -> dict[str, tuple[int, bool, str]]:
    """``{term: (position, linked, context)}`` for the first use of each glossary term in ``text``."""
    # "<!-- not glossary terms: layer, component (always a Kubeflow component here) -->": a reason may follow in brackets
    exempt = {t.strip().lower() for block in NOT_TERMS.findall(text) for t in re.sub(r"\(.*?\)", "", block, flags=re.S).split(",")}
    prose = chapter_prose(text)
    blank = lambda m: " " * len(m.group(0))  # noqa: E731
    events = []

    def linked(m):
        events.append((m.start(), role_target(m.group(1)), True, m.group(0)))
        return " " * len(m.group(0))

    prose = TERM_ROLE.sub(linked, prose)
    for pattern in (r"\{[a-z:\-]+\}`[^`]*`", r"`[^`\n]*`", r"\]\([^)]*\)", r"https?://\S+", PROPER_NAMES.pattern):
        prose = re.sub(pattern, blank, prose, flags=re.I if pattern == PROPER_NAMES.pattern else 0)
    for term in sorted(terms, key=len, reverse=True):
        pattern = term_pattern(term)
        if term.lower() not in exempt:
            for m in pattern.finditer(prose):
                context = " ".join(prose[max(0, m.start() - 40): m.end() + 40].split())
                events.append((m.start(), term, False, context))
        prose = pattern.sub(blank, prose)
    first: dict[str, tuple[int, bool, str]] = {}
    for position, term, is_link, context in sorted(events):
        first.setdefault(term, (position, is_link, context))
    return first


def unlinked_terms(text: str, terms: list[str]) -> list[str]:
    return [f"{term!r} at “…{context}…”" for term, (_, is_link, context) in first_uses(text, terms).items() if not is_link]


def test_glossary_entries_each_give_a_korean_term():
    entries = glossary_entries()
    assert len(entries) >= 25
    assert list(entries) == sorted(entries, key=str.lower), "keep the glossary in alphabetical order"
    missing = [t for t, d in entries.items() if not re.search(r"Korean: [^.]*[\uac00-\ud7a3]", d)]
    assert not missing, f"give each term its Korean name ('Korean: …'): {missing}"


@pytest.mark.parametrize("chapter", chapters(), ids=lambda p: p.name)
def test_term_roles_name_glossary_entries(chapter):
    entries = {t.lower() for t in glossary_entries()}
    unknown = [role_target(t) for t in TERM_ROLE.findall(chapter.read_text()) if role_target(t).lower() not in entries]
    assert not unknown, f"{chapter.name} links terms the glossary lacks: {unknown}; add them to book/glossary.md"


@pytest.mark.parametrize("chapter", chapters(), ids=lambda p: p.name)
def test_glossary_terms_are_linked_at_first_use(chapter):
    unlinked = unlinked_terms(chapter.read_text(), list(glossary_entries()))
    assert not unlinked, (
        f"{chapter.name} uses glossary terms without linking them at their first use: "
        + "; ".join(unlinked)
        + ". Link the first use with {term}`text <Term>`; if the words are meant in their everyday sense, "
        "list the term in a '<!-- not glossary terms: ... -->' comment in the chapter"
    )


def test_the_glossary_check_catches_an_unlinked_term():
    terms = ["Container", "Container image", "Layer", "Writable layer", "Service", "MLOps"]
    names = lambda text: [t.split(" at ")[0] for t in unlinked_terms(text, terms)]  # noqa: E731
    linked = "A {term}`container <Container>` starts from a {term}`container image <Container image>`; its layers are files."
    assert names(linked) == ["'Layer'"]
    # the first use counts, not a later link; a longer name masks the shorter one inside it
    late = "Two containers run. Then a {term}`container <Container>` and a {term}`writable layer <Writable layer>`."
    assert names(late) == ["'Container'"]
    # code, headings, everyday "service", proper names and exempted words are not uses
    quiet = ("# Containers\n\n`docker run` is code; any service will do; the MLOps course kernel.\n"
             "```python\ncontainer = 1\n```\n<!-- not glossary terms: layer -->\nEvery layer of a stack.\n")
    assert unlinked_terms(quiet, terms) == []
    assert names("Each pod has a Service in front.") == ["'Service'"]
    # and on a real chapter: remove its first link and the check names that term
    chapter = ROOT / "book" / "00-setup.md"
    text = chapter.read_text()
    first = TERM_ROLE.search(text)
    assert first, "00-setup.md links at least one term"
    broken = text[: first.start()] + first.group(1).split("<")[0].strip() + text[first.end():]
    names = [t.split(" at ")[0] for t in unlinked_terms(broken, list(glossary_entries()))]
    assert repr(role_target(first.group(1))) in names


# --- the instructor guide keeps in step with the doctor and the labs -----------------

GUIDE = ROOT / "book" / "instructor-guide.md"


def table_after(text: str, heading: str) -> list[list[str]]:
    """The rows (cells stripped) of the first markdown table after ``heading``."""
    section = text.split(heading, 1)[1]
    rows = []
    for line in section.splitlines():
        if line.startswith("|"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        elif rows:
            break
    return [r for r in rows[2:]]  # without the header and the |---| line


def troubleshooting_gaps(text: str, names: list[str]) -> list[str]:
    """The doctor's check names that have no row in the guide's troubleshooting table."""
    rows = {row[0].strip("`") for row in table_after(text, "## When the doctor reports a problem")}
    generic = {re.sub(r" NAME$", "", r) for r in rows if r.endswith(" NAME")}
    return [n for n in names if n not in rows and not any(n.startswith(g + " ") for g in generic)]


def declared_lab_minutes(lab: str) -> int:
    cells = json.loads((ROOT / "solutions" / f"{lab}.ipynb").read_text())["cells"]
    text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    found = re.search(r"Time to complete:\*\*\s*about (\d+) min", text)
    assert found, f"{lab} declares no '**Time to complete:** about N min'"
    return int(found.group(1))


#: The guide's workshop agendas: each a table of start times, blocks and minutes.
AGENDAS = ("## A one-day workshop", "## A second day", "## A third day", "## A fourth day")


def agenda_problems(text: str, heading: str = AGENDAS[0]) -> list[str]:
    rows = table_after(text, heading)
    problems = []
    for (start, block, minutes), (next_start, *_) in zip(rows, rows[1:]):
        h, m = map(int, start.split(":"))
        nh, nm = map(int, next_start.split(":"))
        if h * 60 + m + int(minutes) != nh * 60 + nm:
            problems.append(f"{start} + {minutes} min is not {next_start}")
        lab = re.search(r"\{doc\}`\.\./solutions/([\w-]+)`", block)
        if block.startswith("lab") and lab and declared_lab_minutes(lab.group(1)) != int(minutes):
            problems.append(f"{lab.group(1)} declares {declared_lab_minutes(lab.group(1))} min, the agenda gives it {minutes}")
    return problems


def test_instructor_guide_has_a_row_for_every_doctor_check():
    names = doctor.check_names("all")
    assert not troubleshooting_gaps(GUIDE.read_text(), names), (
        f"the instructor guide's troubleshooting table has no row for the doctor's checks "
        f"{troubleshooting_gaps(GUIDE.read_text(), names)}: add one with what the doctor says and the fix"
    )
    # and the check can fail: drop a row from a copy
    text = GUIDE.read_text()
    broken = "\n".join(line for line in text.splitlines() if not line.startswith("| `base image` |"))
    assert troubleshooting_gaps(broken, names + ["component kfp"]) == ["base image"]
    assert troubleshooting_gaps(text, ["component kfp", "env a-new-kernel"]) == ["env a-new-kernel"]


def test_instructor_guide_agenda_adds_up_and_uses_the_labs_declared_times():
    text = GUIDE.read_text()
    labs = set()
    for heading in AGENDAS:
        assert not agenda_problems(text, heading), agenda_problems(text, heading)
        section = text.split(heading, 1)[1].split("\n## ", 1)[0]
        labs |= set(re.findall(r"\{doc\}`\.\./solutions/([\w-]+)`", section))
    assert labs == {p.stem for p in (ROOT / "solutions").glob("*.ipynb")}, "the agendas together have every lab that exists"
    broken = text.replace("| 09:35 | Part 1", "| 09:40 | Part 1")
    assert agenda_problems(broken)[0] == "09:15 + 20 min is not 09:40"


def timings_problems(text: str) -> list[str]:
    problems = []
    for part, _teach, lab_minutes, notebooks in table_after(text, "## Timings"):
        labs = re.findall(r"\{doc\}`\.\./solutions/([\w-]+)`", notebooks)
        minutes = [int(m) for m in re.findall(r"\d+", lab_minutes)]
        declared = [declared_lab_minutes(lab) for lab in labs]
        if minutes != declared:
            problems.append(f"part {part}: the labs declare {declared} min, the table gives {minutes}")
    return problems


def test_instructor_guide_timings_use_the_labs_declared_times():
    text = GUIDE.read_text()
    assert not timings_problems(text), timings_problems(text)
    assert timings_problems(text.replace("| 15 | 20 |", "| 15 | 25 |"))  # a wrong time is caught
