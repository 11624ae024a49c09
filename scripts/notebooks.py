"""Lab notebooks: generate the student versions, check them, run them.

    python scripts/notebooks.py generate [--check]   labs/ from solutions/ (--check: fail on drift)
    python scripts/notebooks.py check                template, sync and output hygiene of every notebook
    python scripts/notebooks.py refresh [NB ...]     re-run solution notebooks in place (papermill),
                                                     recording the hashes of the code their outputs came from
    python scripts/notebooks.py run NB [-p NAME VALUE ...]   run one notebook headless into .work/runs/

``solutions/*.ipynb`` is the single source of each lab. Solution code sits
between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` in cells tagged
``solution``; the student version in ``labs/`` has those lines replaced by a
placeholder and no outputs. The website shows the solution notebooks, with
solution cells folded behind a toggle (their ``hide-input`` tag).

``refresh`` records in ``metadata.course.source_hashes`` a hash of every helper
module a notebook imports (directly or through other helper modules) and of
the doctor's list of checks; the check recomputes them, so committed outputs
made by older helpers fail until the notebook is refreshed.

A lab whose components no CI cluster can install (``ci_cannot_run``: KFP's
backend installs on kind only) is published without outputs, with a markdown
cell tagged ``not-run-in-ci`` telling the reader why; every other check holds.
"""

from __future__ import annotations

import argparse
import ast
import copy
import hashlib
import json
import re
import sys
import time
from pathlib import Path

import nbformat

from mlops_course import doctor
from mlops_course.doctor import KERNELS, TIERS

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions"
LABS = ROOT / "labs"
RUNS = ROOT / ".work" / "runs"

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
PLACEHOLDER = 'raise NotImplementedError("Exercise: replace this line with your code")'
DEFAULT_BUDGET_SECONDS = 180

#: Cell and notebook metadata that a run adds and the committed notebooks do not keep.
RUN_METADATA = ("execution", "papermill")

MAX_OUTPUT_BYTES = 300_000
MAX_NOTEBOOK_BYTES = 2_000_000

#: Things that must never be committed in a notebook's outputs or metadata.
LEAKS = {
    "a home folder": re.compile(r"(/home/[^/\s\"']+/|/Users/[^/\s\"']+/|/root/|[A-Z]:\\\\Users\\\\)"),
    "a Jupyter token": re.compile(r"token=[0-9a-f]{16,}"),
    "a private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "a kubeconfig credential": re.compile(r"(client-key-data|client-certificate-data|\"token\":\s*\"[^\"]{20,})"),
    "a cloud or GitHub key": re.compile(r"(AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{30,})"),
    "a bearer token": re.compile(r"Bearer\s+[A-Za-z0-9._~+/-]{20,}"),
    "a temporary-folder path": re.compile(r"/tmp/[^\s\"']+|/var/folders/"),
}


# --- generation ---------------------------------------------------------------


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def dumps(nb: nbformat.NotebookNode) -> str:
    return nbformat.writes(nb) + "\n"


def strip_solution(source: str) -> str:
    """Replace every BEGIN/END SOLUTION block by an indented placeholder."""
    out, inside, indent = [], False, ""
    for line in source.splitlines():
        stripped = line.strip()
        if stripped == BEGIN:
            if inside:
                raise ValueError(f"nested {BEGIN!r}")
            inside, indent = True, line[: len(line) - len(line.lstrip())]
            out.append(f"{indent}# YOUR CODE HERE")
            out.append(f"{indent}{PLACEHOLDER}")
        elif stripped == END:
            if not inside:
                raise ValueError(f"{END!r} without {BEGIN!r}")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"{BEGIN!r} without {END!r}")
    return "\n".join(out)


def student_version(solution: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The labs/ notebook: solutions replaced, outputs and run metadata removed."""
    nb = copy.deepcopy(solution)
    for key in RUN_METADATA + ("widgets",):
        nb.metadata.pop(key, None)
    # The hashes describe the solution's outputs; a student notebook has none.
    nb.metadata.get("course", {}).pop(SOURCE_HASHES, None)
    for cell in nb.cells:
        for key in RUN_METADATA:
            cell.metadata.pop(key, None)
        if cell.cell_type != "code":
            continue
        cell.outputs, cell.execution_count = [], None
        tags = cell.metadata.get("tags", [])
        if "solution" in tags:
            cell.source = strip_solution(cell.source)
            # The student sees the exercise's code; only the website folds it away.
            cell.metadata["tags"] = ["exercise" if t == "solution" else t for t in tags if t != "hide-input"]
    return nb


def generate(check: bool = False, solutions: Path = SOLUTIONS, labs: Path = LABS) -> list[str]:
    """Write ``labs`` from ``solutions``; with ``check``, write nothing and return what drifted."""
    drifted = []
    expected = {src.name: dumps(student_version(read(src))) for src in sorted(solutions.glob("*.ipynb"))}
    for name, text in expected.items():
        dest = labs / name
        if not dest.exists() or dest.read_text() != text:
            drifted.append(f"labs/{name} differs from what solutions/{name} generates")
            if not check:
                labs.mkdir(exist_ok=True)
                dest.write_text(text)
    for extra in sorted({p.name for p in labs.glob("*.ipynb")} - set(expected)):
        drifted.append(f"labs/{extra} has no source in solutions/")
        if not check:
            (labs / extra).unlink()
    return drifted


# --- where the committed outputs came from ---------------------------------------

PACKAGE = "mlops_course"
SOURCE_HASHES = "source_hashes"
#: The key under which the doctor's list of checks is hashed (lab 0 prints the doctor's table).
DOCTOR_CHECKS = "doctor checks"
#: IPython syntax that is not Python: magics, shell escapes, help.
_IPYTHON_LINE = re.compile(r"^\s*([%!]|\S.*\?\s*$)")
_IMPORT_LINE = re.compile(rf"^\s*(?:from\s+({PACKAGE}(?:\.\w+)*)\s+import[ \t]+([\w \t,()]+)|import\s+({PACKAGE}(?:\.\w+)*))", re.M)


def _module_file(module: str, root: Path) -> Path | None:
    base = root.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _parse(source: str) -> ast.Module | None:
    lines = ["pass" if _IPYTHON_LINE.match(line) else line for line in source.splitlines()]
    try:
        return ast.parse("\n".join(lines))
    except SyntaxError:
        return None


def imported_modules(source: str, root: Path = ROOT, current: str = "") -> set[str]:
    """The helper modules (``mlops_course.x``) that ``source`` imports, anywhere in it.

    ``current`` is the module ``source`` belongs to, for relative imports.
    """
    found: set[str] = set()

    def add(module: str, names: list[str]) -> None:
        if not (module == PACKAGE or module.startswith(PACKAGE + ".")):
            return
        found.add(module)
        for name in names:  # ``from mlops_course import doctor`` imports the module mlops_course.doctor
            if _module_file(f"{module}.{name}", root):
                found.add(f"{module}.{name}")

    tree = _parse(source)
    if tree is None:  # not Python even without magics: read the import lines alone
        for m in _IMPORT_LINE.finditer(source):
            if m.group(3):
                add(m.group(3), [])
            else:
                add(m.group(1), [n.strip() for n in m.group(2).replace("(", " ").replace(")", " ").split(",")])
        return found
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, [])
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:  # relative to the package of ``current``
                package = current.split(".")[: -node.level] if current else []
                module = ".".join(package + ([module] if module else []))
            add(module, [alias.name for alias in node.names])
    return found


def helper_modules(nb: nbformat.NotebookNode, root: Path = ROOT) -> list[str]:
    """Every helper module the notebook's code runs: what its cells import, and what those import, transitively."""
    todo = set()
    for cell in nb.cells:
        if cell.cell_type == "code":
            todo |= imported_modules(cell.source, root)
    done: set[str] = set()
    while todo:
        module = todo.pop()
        if module in done:
            continue
        done.add(module)
        # Importing mlops_course.x runs mlops_course/__init__.py first.
        parts = module.split(".")
        todo |= {".".join(parts[:i]) for i in range(1, len(parts))} - done
        path = _module_file(module, root)
        if path is not None:
            todo |= imported_modules(path.read_text(), root, current=module if path.name != "__init__.py" else module + ".__init__") - done
    return sorted(m for m in done if _module_file(m, root))


def _digest(text: str) -> str:
    # Line endings normalised: a checkout on Windows must give the same hash.
    return hashlib.sha256(text.replace("\r\n", "\n").encode()).hexdigest()[:16]


def source_hashes(nb: nbformat.NotebookNode, root: Path = ROOT) -> dict[str, str]:
    """``{file: hash}`` of the code the notebook's outputs depend on, and of the doctor's checks."""
    hashes = {}
    for module in helper_modules(nb, root):
        path = _module_file(module, root)
        hashes[path.relative_to(root).as_posix()] = _digest(path.read_text())
    hashes[DOCTOR_CHECKS] = _digest("\n".join(doctor.check_names()))
    return hashes


_TABLE_ROW = re.compile(r"^(\S.*?)\s{2,}(ok|warning|failure)\s{2,}", re.M)


def doctor_tables(nb: nbformat.NotebookNode) -> list[tuple[int, list[str]]]:
    """``(cell, check names)`` of every doctor table (doctor.format_table) in the committed outputs."""
    tables = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        for out in cell.get("outputs", []):
            text = out.get("text", "") if out.get("output_type") == "stream" else ""
            text = text if isinstance(text, str) else "".join(text)
            for chunk in re.split(r"(?m)^(?=check\s+status\s+detail$)", text):
                if chunk.startswith("check"):
                    tables.append((i, _TABLE_ROW.findall(chunk) and [m[0].strip() for m in _TABLE_ROW.findall(chunk)]))
    return tables


def doctor_table_problems(nb: nbformat.NotebookNode) -> list[str]:
    """A doctor table in the outputs that lacks a row today's doctor shows on every machine, or shows one it no longer has."""
    known = set(doctor.check_names("all"))
    problems = []
    for i, names in doctor_tables(nb):
        expected = {f"env {k}" for k in KERNELS} | {f"port {p}" for p in doctor.PORTS}
        if "docker" in names:
            expected |= {f"port {p}" for p in doctor.DOCKER_PORTS}
        missing = sorted(expected - set(names))
        gone = sorted(n for n in names if n not in known and not n.startswith("component"))
        if missing:
            problems.append(f"the doctor table in code cell {i} lacks {', '.join(missing)}, which the doctor checks now")
        if gone:
            problems.append(f"the doctor table in code cell {i} shows {', '.join(gone)}, which the doctor no longer checks")
    return problems


#: The tag of the markdown cell that tells a reader why a lab shows no outputs.
NOT_RUN_IN_CI = "not-run-in-ci"


def ci_cannot_run(nb: nbformat.NotebookNode) -> str:
    """Why no CI can execute this lab ("" when one can): it needs a component that installs on kind only."""
    from mlops_course.components import COMPONENTS

    needs = nb.metadata.get("course", {}).get("components", [])
    kind_only = [n for n in needs if n in COMPONENTS and "offline" not in COMPONENTS[n].clusters]
    return (f"it needs {', '.join(kind_only)}, which installs on kind only, and the course's CI runs the offline cluster"
            if kind_only else "")


def stale_problems(nb: nbformat.NotebookNode, name: str, root: Path = ROOT) -> list[str]:
    """Why the committed outputs of solution ``name`` may not be what today's code prints (empty: current)."""
    if ci_cannot_run(nb):
        # No outputs to be stale (hygiene_problems makes sure of that): nothing was recorded.
        return ["a lab that no CI can run records no hashes: remove metadata.course.source_hashes"] if (
            SOURCE_HASHES in nb.metadata.get("course", {})) else []
    fix = f"run scripts/course refresh solutions/{name}"
    tables = [f"{p}: {fix}" for p in doctor_table_problems(nb)]
    recorded = nb.metadata.get("course", {}).get(SOURCE_HASHES)
    if not isinstance(recorded, dict):
        return [f"the outputs record no hashes of the code that made them: {fix}", *tables]
    current = source_hashes(nb, root)
    changed = sorted(k for k in current.keys() | recorded.keys() if current.get(k) != recorded.get(k))
    if not changed:
        return tables
    what = ", ".join(f"{k} ({'new' if k not in recorded else 'no longer used' if k not in current else 'changed'})" for k in changed)
    return [f"the outputs were made by older code than the notebook runs now: {what}: {fix}", *tables]


# --- checks ---------------------------------------------------------------------


def tags(cell) -> list[str]:
    return cell.metadata.get("tags", [])


def headings(nb) -> list[str]:
    return [
        line.strip()
        for cell in nb.cells
        if cell.cell_type == "markdown"
        for line in cell.source.splitlines()
        if line.startswith("#")
    ]


def template_problems(nb: nbformat.NotebookNode) -> list[str]:
    """How a solution notebook departs from the lab template in COURSE.md."""
    problems = []
    course = nb.metadata.get("course")
    if not isinstance(course, dict):
        problems.append("metadata.course is missing (it holds the tier and the runtime budget)")
        course = {}
    if course.get("tier") not in TIERS:
        problems.append(f"metadata.course.tier must be one of {', '.join(TIERS)}, not {course.get('tier')!r}")
    if not isinstance(course.get("budget_seconds"), int) or course.get("budget_seconds", 0) <= 0:
        problems.append("metadata.course.budget_seconds must be a positive whole number of seconds")
    kernel = nb.metadata.get("kernelspec", {}).get("name")
    if kernel not in KERNELS:
        problems.append(f"kernelspec {kernel!r} is not a course kernel ({', '.join(KERNELS)})")

    cells = nb.cells
    if not cells or cells[0].cell_type != "markdown" or not cells[0].source.startswith("# "):
        problems.append("the first cell must be a markdown cell with the title ('# ...')")
    heads = [h.lower() for h in headings(nb)]
    for required in ("## learning objectives", "## prerequisites", "## summary", "## what's next"):
        if required not in heads:
            problems.append(f"no '{required[3:].capitalize()}' section ('{required}')")
    prereq = next((c.source for c in cells if c.cell_type == "markdown" and "## Prerequisites" in c.source), "")
    if prereq and not re.search(r"\b\d+\s*(min|minutes|h|hours)\b", prereq):
        problems.append("the prerequisites give no time estimate (e.g. '10 min')")

    code = [(i, c) for i, c in enumerate(cells) if c.cell_type == "code"]
    if not code or "doctor.require(" not in code[0][1].source:
        problems.append("the first code cell must call doctor.require(<tier>)")
    params = [i for i, c in code if "parameters" in tags(c)]
    if len(params) != 1:
        problems.append(f"needs exactly one code cell tagged 'parameters', found {len(params)}")
    else:
        tree = ast.parse(cells[params[0]].source)
        if not all(isinstance(node, (ast.Assign, ast.AnnAssign)) for node in tree.body):
            problems.append("the parameters cell may hold only assignments (papermill replaces it)")
    checks = [i for i, c in code if "check" in tags(c)]
    if not checks:
        problems.append("no check cell (a code cell tagged 'check')")
    for i in checks:
        if "assert" not in cells[i].source or "print(" not in cells[i].source:
            problems.append(f"check cell {i} must assert something and print what it verified")
    cleanup = [i for i, c in code if "cleanup" in tags(c)]
    if not cleanup:
        problems.append("no cleanup cell (a code cell tagged 'cleanup', safe to run twice)")
    elif checks and cleanup[-1] < max(checks):
        problems.append("the cleanup cell must come after the last check cell")
    for i, c in code:
        marked = BEGIN in c.source or END in c.source
        if marked != ("solution" in tags(c)):
            problems.append(f"cell {i}: solution markers and the 'solution' tag must go together")
        if marked:
            try:
                strip_solution(c.source)
            except ValueError as exc:
                problems.append(f"cell {i}: {exc}")
            if "hide-input" not in tags(c):
                problems.append(f"cell {i}: a solution cell needs the 'hide-input' tag (folded on the website)")
    if not any("solution" in tags(c) for _, c in code):
        problems.append("no exercise (a code cell tagged 'solution' with BEGIN/END SOLUTION markers)")
    problems += exercise_problems(nb)
    if course.get("tier") == "kubeflow":
        from mlops_course.components import COMPONENTS

        named = course.get("components")
        if not (isinstance(named, list) and named and all(n in COMPONENTS for n in named)):
            problems.append("a kubeflow-tier lab names its components in metadata.course.components "
                            f"(a list of {', '.join(COMPONENTS)}): the tier is ready only when they are")
        elif code and "components=" not in code[0][1].source:
            problems.append(f'the first code cell must name the components as well: doctor.require("kubeflow", components={named!r})')
    told = any(NOT_RUN_IN_CI in tags(c) for c in nb.cells if c.cell_type == "markdown")
    if ci_cannot_run(nb) and not told:
        problems.append(f"no CI can run this lab ({ci_cannot_run(nb)}): a markdown cell tagged '{NOT_RUN_IN_CI}' "
                        "must tell the reader why the page shows no outputs")
    elif told and not ci_cannot_run(nb):
        problems.append(f"a cell is tagged '{NOT_RUN_IN_CI}', but CI can run this lab: refresh it and drop the cell")
    return problems


MIN_EXERCISES, MAX_EXERCISES = 2, 4
#: The instruction says what the check asserts: "The check asserts that ...", "The check draws ... and asserts ...".
_STATES_CHECK = re.compile(r"\bcheck\b[^.]*?\bassert", re.I | re.S)


def instruction(cells, index: int) -> str:
    """The markdown before exercise cell ``index``, up to its heading (code cells with no tag in between are skipped)."""
    parts = []
    for cell in reversed(cells[:index]):
        if cell.cell_type == "code":
            if tags(cell):
                break
            continue
        parts.insert(0, cell.source)
        if cell.source.lstrip().startswith("#"):
            break
    return "\n\n".join(parts)


def _assigned(source: str) -> set[str]:
    tree = _parse(source)
    if tree is None:
        return set()
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    return names | {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef))}


def _solution_results(source: str) -> set[str]:
    """The names the learner's code (between the BEGIN and END SOLUTION lines) assigns."""
    import textwrap

    blocks, block, inside = [], [], False
    for line in source.splitlines():
        if line.strip() == BEGIN:
            inside, block = True, []
        elif line.strip() == END:
            inside = False
            blocks.append(textwrap.dedent("\n".join(block)))
        elif inside:
            block.append(line)
    names = set()
    for text in blocks:
        found = _assigned(text)
        if not found:  # a block inside a loop or a call: read its assignment lines
            found = set(re.findall(r"^\s*([A-Za-z_]\w*)\s*(?:,\s*[A-Za-z_]\w*\s*)*=(?!=)", text, re.M))
        names |= found
    return names


def _asserted(source: str) -> set[str]:
    """The names the check's assert conditions read (not their messages)."""
    tree = _parse(source)
    if tree is None:
        return set()
    return {n.id for a in ast.walk(tree) if isinstance(a, ast.Assert) for n in ast.walk(a.test) if isinstance(n, ast.Name)}


def exercise_problems(nb: nbformat.NotebookNode) -> list[str]:
    """2 to 4 exercises, each followed by its check, each instruction saying what that check asserts
    and naming every result of the exercise that the check asserts on."""
    cells = nb.cells
    exercises = [i for i, c in enumerate(cells) if c.cell_type == "code" and "solution" in tags(c)]
    problems = []
    if exercises and not MIN_EXERCISES <= len(exercises) <= MAX_EXERCISES:
        problems.append(f"{len(exercises)} exercise(s) (code cells tagged 'solution'): a lab has "
                        f"{MIN_EXERCISES} to {MAX_EXERCISES}, of rising difficulty, the last one open-ended")
    for n, i in enumerate(exercises, 1):
        following = exercises[n] if n < len(exercises) else len(cells)
        check = next((j for j in range(i + 1, following) if cells[j].cell_type == "code" and "check" in tags(cells[j])), None)
        where = f"exercise {n} (cell {i})"
        if check is None:
            problems.append(f"{where} has no check cell after it (a code cell tagged 'check', before the next exercise)")
            continue
        text = instruction(cells, i)
        if not _STATES_CHECK.search(text):
            problems.append(f"{where}: its instruction (the markdown before it) must say what its check (cell {check}) "
                            "asserts, e.g. 'The check asserts that ...'")
        results = _solution_results(cells[i].source) - _assigned(cells[check].source)
        unnamed = sorted(name for name in _asserted(cells[check].source) & results
                         if not re.search(rf"(?<![\w.]){re.escape(name)}(?!\w)", text))
        if unnamed:
            problems.append(f"{where}: its instruction does not mention {', '.join(f'`{u}`' for u in unnamed)}, "
                            f"which its check (cell {check}) asserts on")
    return problems


def hygiene_problems(nb: nbformat.NotebookNode, executed: bool) -> list[str]:
    """Outputs and metadata safe to publish; ``executed``: must carry one real top-to-bottom run."""
    problems = []
    code = [c for c in nb.cells if c.cell_type == "code"]
    if executed:
        counts = [c.execution_count for c in code]
        if counts != list(range(1, len(code) + 1)):
            problems.append("not one clean top-to-bottom run (execution counts are not 1, 2, 3, ...): run scripts/course refresh")
        for i, c in enumerate(code):
            for out in c.outputs:
                if out.get("output_type") == "error":
                    problems.append(f"code cell {i} has an error output ({out.get('ename')})")
    else:
        if any(c.outputs or c.execution_count for c in code):
            problems.append("a student notebook must carry no outputs or execution counts")
    for key in RUN_METADATA:
        if key in nb.metadata or any(key in c.metadata for c in nb.cells):
            problems.append(f"run metadata '{key}' left in the notebook: run scripts/course refresh")
    for i, c in enumerate(code):
        for out in c.outputs:
            size = len(json.dumps(out))
            if size > MAX_OUTPUT_BYTES:
                problems.append(f"code cell {i} has an output of {size // 1000} kB (limit {MAX_OUTPUT_BYTES // 1000} kB)")
    text = json.dumps({"metadata": nb.metadata, "outputs": [c.outputs for c in code]})
    if len(text) > MAX_NOTEBOOK_BYTES:
        problems.append(f"outputs total {len(text) // 1000} kB (limit {MAX_NOTEBOOK_BYTES // 1000} kB)")
    checkout = str(ROOT)
    if checkout in text:
        problems.append("contains the absolute path of the course checkout: print paths with mlops_course.paths.shown()")
    for what, pattern in LEAKS.items():
        found = pattern.search(text)
        if found:
            problems.append(f"contains {what}: {found.group(0)[:40]!r}")
    return problems


def all_problems() -> dict[str, list[str]]:
    report = {}
    for path in sorted(SOLUTIONS.glob("*.ipynb")):
        nb = read(path)
        report[f"solutions/{path.name}"] = (
            template_problems(nb) + hygiene_problems(nb, executed=not ci_cannot_run(nb)) + stale_problems(nb, path.name)
        )
    for path in sorted(LABS.glob("*.ipynb")):
        report[f"labs/{path.name}"] = hygiene_problems(read(path), executed=False)
    for problem in generate(check=True):
        report.setdefault("sync", []).append(problem + ": run scripts/course labs")
    return {k: v for k, v in report.items() if v}


# --- running --------------------------------------------------------------------


def course_metadata(path: Path) -> dict:
    meta = json.loads(path.read_text())["metadata"].get("course", {})
    return {"tier": meta.get("tier", "local"), "budget_seconds": meta.get("budget_seconds", DEFAULT_BUDGET_SECONDS)}


def execute(src: Path, dest: Path, parameters: dict | None = None) -> float:
    """Run a notebook with papermill in its own folder; return the seconds it took."""
    import papermill

    start = time.perf_counter()
    papermill.execute_notebook(
        str(src),
        str(dest),
        parameters=parameters or {},
        cwd=str(src.parent),
        progress_bar=False,
        request_save_on_cell_execute=False,
    )
    return time.perf_counter() - start


def strip_run_metadata(path: Path, hashes: dict[str, str] | None = None) -> None:
    """Drop what papermill adds; with ``hashes``, record them as the code the outputs came from."""
    nb = read(path)
    if hashes is not None:
        nb.metadata.setdefault("course", {})[SOURCE_HASHES] = hashes
    for key in RUN_METADATA:
        nb.metadata.pop(key, None)
    for cell in nb.cells:
        for key in RUN_METADATA:
            cell.metadata.pop(key, None)
    path.write_text(dumps(nb))


def refresh(names: list[str]) -> int:
    """Run each solution notebook into .work/runs, then copy the runs back together,
    so that no notebook runs in a checkout another one has already changed."""
    paths = [SOLUTIONS / Path(n).name for n in names] if names else sorted(SOLUTIONS.glob("*.ipynb"))
    done, failed = [], 0
    for path in paths:
        if ci_cannot_run(read(path)):
            print(f"skipping solutions/{path.name}: {ci_cannot_run(read(path))}; it is published without outputs")
            continue
        budget = course_metadata(path)["budget_seconds"]
        print(f"running solutions/{path.name} ...", flush=True)
        # Hashed before the run: the outputs come from the code as it was when the run began.
        hashes = source_hashes(read(path))
        scratch = RUNS / path.name
        scratch.parent.mkdir(parents=True, exist_ok=True)
        try:
            seconds = execute(path, scratch)
        except Exception as exc:  # papermill raises PapermillExecutionError with the cell's traceback
            print(f"  FAILED: {exc}\n  solutions/{path.name} was left as it was.")
            failed += 1
            continue
        strip_run_metadata(scratch, hashes)
        done.append((path, scratch))
        record_runtime(path, seconds)
        print(f"  {seconds:.1f} s ({'within' if seconds <= budget else 'OVER'} its budget of {budget} s)")
    for path, scratch in done:
        path.write_text(scratch.read_text())
    generate()
    return 1 if failed else 0


#: Each lab's runtime in its last refresh, which ``scripts/course bench --labs-from-refresh`` reports
#: instead of running every lab a second time (a refresh runs them exactly as the bench would).
RUNTIMES = RUNS / "runtimes.json"


def record_runtime(path: Path, seconds: float) -> None:
    runtimes = json.loads(RUNTIMES.read_text()) if RUNTIMES.exists() else {}
    runtimes[path.stem] = {"seconds": round(seconds, 1), "date": time.strftime("%Y-%m-%d")}
    RUNTIMES.parent.mkdir(parents=True, exist_ok=True)
    RUNTIMES.write_text(json.dumps(runtimes, indent=1, sort_keys=True) + "\n")


def parse_value(text: str):
    """Parameters from the command line: numbers and booleans as such, anything else as text."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def run(notebook: str, params: list[list[str]]) -> int:
    src = (ROOT / notebook) if not Path(notebook).is_absolute() else Path(notebook)
    if not src.exists():
        print(f"no notebook {notebook}: give a path such as solutions/01-reproducible-training.ipynb")
        return 2
    dest = RUNS / src.name
    dest.parent.mkdir(parents=True, exist_ok=True)
    parameters = {name: parse_value(value) for name, value in params}
    seconds = execute(src, dest, parameters)
    print(f"ran {src.relative_to(ROOT)} with {parameters or 'its default parameters'} in {seconds:.1f} s")
    print(f"executed notebook: {dest.relative_to(ROOT)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("generate", help="write labs/ from solutions/")
    g.add_argument("--check", action="store_true", help="write nothing; fail if labs/ has drifted")
    sub.add_parser("check", help="template, sync and output hygiene of every notebook")
    r = sub.add_parser("refresh", help="re-run solution notebooks in place")
    r.add_argument("notebooks", nargs="*")
    one = sub.add_parser("run", help="run one notebook headless with parameters")
    one.add_argument("notebook")
    one.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"))
    args = parser.parse_args(argv)

    if args.cmd == "generate":
        drifted = generate(check=args.check)
        for line in drifted:
            print(line)
        if args.check:
            return 1 if drifted else 0
        print(f"labs/ is up to date ({len(list(LABS.glob('*.ipynb')))} notebooks)")
        return 0
    if args.cmd == "check":
        report = all_problems()
        for name, problems in report.items():
            for p in problems:
                print(f"{name}: {p}")
        print("all notebooks pass" if not report else f"{sum(map(len, report.values()))} problem(s)")
        return 1 if report else 0
    if args.cmd == "refresh":
        return refresh(args.notebooks)
    return run(args.notebook, args.parameter)


if __name__ == "__main__":
    sys.exit(main())
