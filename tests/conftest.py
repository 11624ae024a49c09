"""Order the suite (static checks first, then tier by tier: each tier's tests,
then its lab notebooks), skip a test whose tier is not ready with the doctor's
reason, and count what each tier ran.

A test names the tier it needs with a marker: ``pytest.mark.docker``,
``pytest.mark.cluster``, ``pytest.mark.kubeflow("katib")`` (the components it
needs); a lab notebook's tier and components are in its metadata. Readiness is
asked when the test runs, not when it is collected: ``scripts/course test``
brings the offline cluster and the Kubeflow components up beside the tests
(``$COURSE_PROVISIONING``), and the first test of such a tier waits for them.

At the end of a session the counts go to ``$COURSE_TIER_REPORT`` (JSON;
``scripts/course test`` sets it to .work/tier-report.json and prints it as a
table with ``python tests/conftest.py REPORT``). A tier named in
``$COURSE_REQUIRED_TIERS`` (``COURSE_PROVISION=1`` names the tiers it
provisions) that is not ready fails the session: in CI a skipped tier is a
tier that was not tested.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from mlops_course import doctor  # noqa: E402

#: Tests that belong to no tier: the static checks and unit tests.
STATIC = "static"
OUTCOMES = ("passed", "failed", "skipped")


@functools.cache
def notebook_course(path: Path) -> dict:
    return json.loads(path.read_text())["metadata"].get("course", {})


def notebook_tier(path: Path) -> str:
    return notebook_course(path).get("tier", "local")


def notebook_components(path: Path) -> tuple[str, ...]:
    return tuple(notebook_course(path).get("components", ()))


def kind_only(components: tuple[str, ...]) -> str:
    """Why components that install on kind only (kfp) are missing from the offline cluster: "" for the others."""
    from mlops_course.components import COMPONENTS

    only = [n for n in components if n in COMPONENTS and "offline" not in COMPONENTS[n].clusters]
    return "".join(f"; {n} installs on kind only: its backend cannot be built offline (it is not published as "
                   "a Go module), so the offline cluster cannot run this lab" for n in only)


def skip_reason(problems: list[doctor.Check], tier: str, components: tuple[str, ...] = ()) -> str | None:
    """The skip reason for ``tier`` given the doctor's failures: None when there are none."""
    if not problems:
        return None
    why = "; ".join(f"{c.name}: {c.detail} (fix: {c.fix})" for c in problems)
    needs = f" with {', '.join(components)}" if components else ""
    return f"{tier} tier{needs} not ready here: {why}{kind_only(components)}"


@functools.cache
def tier_skip_reason(tier: str, components: tuple[str, ...] = ()) -> str | None:
    return skip_reason(doctor.tier_problems(tier, components), tier, components)


def item_needs(item) -> dict[str, tuple[str, ...]]:
    """The tiers an item needs, each with the components it needs there: a notebook's from its metadata,
    a test's from its tier markers (pytest.mark.docker, pytest.mark.kubeflow("katib"), ...)."""
    path = Path(str(item.fspath))
    if path.suffix == ".ipynb":
        tier = notebook_tier(path)
        return {tier: notebook_components(path) if tier == "kubeflow" else ()}
    needs: dict[str, tuple[str, ...]] = {}
    for tier in doctor.TIERS:
        for mark in item.iter_markers(tier):
            needs[tier] = tuple(dict.fromkeys(needs.get(tier, ()) + tuple(mark.args)))
    return needs


def item_tier(item) -> str:
    """The last tier an item needs in the order the suite runs them (a test on the cluster that builds an
    image with Docker is a cluster test); the static tier when it needs none."""
    needs = item_needs(item)
    return max(needs, key=doctor.TIERS.index) if needs else STATIC


def required_tiers() -> list[str]:
    return [t for t in os.environ.get("COURSE_REQUIRED_TIERS", "").split() if t]


def component_order() -> list[str]:
    """The order the components are installed in: the order the test command provisions them
    (``$COURSE_COMPONENTS``), else the course's installation order."""
    from mlops_course.components import COMPONENTS

    return os.environ.get("COURSE_COMPONENTS", "").split() or list(COMPONENTS)


def component_stage(item, order: list[str]) -> int:
    """How far the components' installation must have got for ``item``: the position of the last
    component it needs; the end for an item that needs the whole tier or a component not in ``order``."""
    needs = item_needs(item).get("kubeflow", ())
    if not needs or any(c not in order for c in needs):
        return len(order)
    return max(order.index(c) for c in needs)


def pytest_collection_modifyitems(config, items):
    order_of_components = component_order()

    def order(item):
        tier, path = item_tier(item), Path(str(item.fspath))
        notebook = path.suffix == ".ipynb"
        # In the kubeflow tier, by component: what needs the StorageClass runs while Katib still installs.
        stage = component_stage(item, order_of_components) if tier == "kubeflow" else 0
        return (0 if tier == STATIC else 1 + doctor.TIERS.index(tier), stage, notebook, path.name if notebook else "")

    for item in items:
        path = Path(str(item.fspath))
        if path.suffix == ".ipynb":  # so that -m docker selects the docker labs too
            item.add_marker(getattr(pytest.mark, notebook_tier(path)))
    items.sort(key=order)  # stable: the tests of a file and the cells of a notebook keep their order


# --- a tier brought up beside the tests ---------------------------------------------


class Provisioning:
    """The tiers ``scripts/course test`` is bringing up while the tests run (``$COURSE_PROVISIONING``: a folder
    with ``tiers``, the provisioner's ``pid`` and ``log``, a file per tier written when its provisioning
    has ended, ready or not, and ``kubeflow.NAME`` when component NAME is ready). The first test of such a
    tier waits for that file, or for its components' files, and shows what the log says."""

    #: Longer than a cold build of Kubernetes and every component on a busy 2-core machine.
    WAIT_SECONDS = 3600

    def __init__(self) -> None:
        self.ended: set[str] = set()
        self.ready_components: set[str] = set()  # said ready, the tier not yet ended
        self.log_shown = 0  # bytes of the log already shown

    @staticmethod
    def folder() -> Path | None:
        folder = os.environ.get("COURSE_PROVISIONING")
        return Path(folder) if folder else None

    def scheduled(self, tier: str) -> bool:
        folder = self.folder()
        return folder is not None and (folder / "tiers").is_file() and tier in (folder / "tiers").read_text().split()

    @staticmethod
    def running(folder: Path) -> bool:
        try:
            os.kill(int((folder / "pid").read_text()), 0)
        except (OSError, ValueError):
            return False
        return True

    def wait(self, tier: str, write, components: tuple[str, ...] = ()) -> None:
        if tier in self.ended or not self.scheduled(tier):
            return
        folder, start = self.folder(), time.monotonic()
        marks = [folder / f"{tier}.{c}" for c in components]

        def ended() -> bool:
            return (folder / tier).exists()

        def components_ready() -> bool:
            return bool(marks) and all(m.exists() for m in marks)

        if not ended() and components_ready() and set(components) <= self.ready_components:
            return  # said already
        what = f"the {tier} tier" + (f" ({', '.join(components)})" if components else "")
        if not ended() and not components_ready():
            write(f"[course] {what} is being provisioned beside the tests: waiting for it (log: {folder / 'log'})")
        while (not ended() and not components_ready() and self.running(folder)
               and time.monotonic() - start < self.WAIT_SECONDS):
            time.sleep(2)
        self.show_log(write)
        if ended():
            self.ended.add(tier)
            state = (folder / tier).read_text().strip()
        elif components_ready():
            self.ready_components |= set(components)
            state = "; ".join(m.read_text().strip() for m in marks)
        else:
            self.ended.add(tier)
            state = "not provisioned (the provisioner ended)"
        write(f"[course] {what}: {state} (waited {time.monotonic() - start:.0f} s)")
        tier_skip_reason.cache_clear()  # asked before the tier was up (a static test may have): ask again

    def show_log(self, write) -> None:
        log = self.folder() / "log"
        if log.exists():
            text = log.read_bytes()[self.log_shown:]
            self.log_shown += len(text)
            for line in text.decode(errors="replace").splitlines():
                write(line)


PROVISIONING = Provisioning()


def write_live(config, line: str) -> None:
    """A line on the terminal now, from inside a test's setup (where pytest captures what is printed)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None:
        print(line)
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line(line)


# --- what each tier ran ---------------------------------------------------------


class TierCounter:
    def __init__(self) -> None:
        self.tiers: dict[str, str] = {}  # nodeid -> tier
        self.counts: dict[str, dict[str, int]] = {}
        self.rows: list[dict] = []
        #: Per lab notebook: seconds its cells took (every phase: the kernel starts in the first one's setup),
        #: and whether each cell passed.
        self.lab_seconds: dict[str, float] = {}
        self.lab_passed: dict[str, bool] = {}

    def add(self, tier: str, outcome: str) -> None:
        self.counts.setdefault(tier, dict.fromkeys(OUTCOMES, 0))[outcome] += 1

    def add_lab_time(self, nodeid: str, seconds: float, outcome: str) -> None:
        path = nodeid.split("::", 1)[0]
        if not path.endswith(".ipynb"):
            return
        self.lab_seconds[path] = self.lab_seconds.get(path, 0.0) + seconds
        self.lab_passed[path] = self.lab_passed.get(path, True) and outcome == "passed"


COUNTER = TierCounter()


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session):
    for item in session.items:
        COUNTER.tiers[item.nodeid] = item_tier(item)


class TierReports:
    """Skips a test whose tier is not ready and counts every test's outcome. Registered as a plugin because
    pytest calls a conftest's run-time hooks only for the tests below its folder, and the lab notebooks are
    in solutions/, not tests/."""

    @staticmethod
    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(item):
        needs = item_needs(item)
        for tier, components in needs.items():
            PROVISIONING.wait(tier, functools.partial(write_live, item.config), components)
        reason = next((r for r in (tier_skip_reason(t, c) for t, c in needs.items()) if r), None)
        if reason:
            # A skip mark, not pytest.skip(): pytest's own skipping hook (it runs after this one) then
            # reports the test's location, not this line.
            item.add_marker(pytest.mark.skip(reason=reason))

    @staticmethod
    def pytest_runtest_logreport(report):
        # One outcome per test: its call, or the phase that stopped it (a skip, a failing fixture).
        if report.when == "call" or (report.when == "setup" and report.outcome != "passed") or (
            report.when == "teardown" and report.outcome == "failed"
        ):
            COUNTER.add(COUNTER.tiers.get(report.nodeid, STATIC), report.outcome)
        COUNTER.add_lab_time(report.nodeid, report.duration, report.outcome)


def pytest_configure(config):
    if not config.pluginmanager.has_plugin("course-tier-reports"):
        config.pluginmanager.register(TierReports(), "course-tier-reports")


def tier_report(counts: dict[str, dict[str, int]], reasons: dict[str, str | None], required: list[str]) -> list[dict]:
    """One row per tier: run or skipped, why, and how many tests passed, failed and were skipped."""
    rows = []
    for tier in (STATIC, *doctor.TIERS):
        reason = None if tier == STATIC else reasons.get(tier)
        n = counts.get(tier, dict.fromkeys(OUTCOMES, 0))
        rows.append({
            "tier": tier,
            "state": "skipped" if reason else "run",
            "required": tier in required,
            "why": reason or ("static checks and unit tests" if tier == STATIC else "ready"),
            **{k: n.get(k, 0) for k in OUTCOMES},
        })
    return rows


def unready_required(rows: list[dict]) -> list[dict]:
    """Required tiers that were skipped, or that were ready and still ran no test."""
    return [r for r in rows if r["required"] and (r["state"] == "skipped" or r["passed"] + r["failed"] == 0)]


def not_tested(row: dict) -> str:
    return f"was skipped: {row['why']}" if row["state"] == "skipped" else "ran no test"


def format_tier_report(rows: list[dict], width: int = 110) -> str:
    lines = [f"{'tier':9} {'state':8} {'passed':>6} {'failed':>6} {'skipped':>7}  why",
             f"{'-' * 9} {'-' * 8} {'-' * 6} {'-' * 6} {'-' * 7}  ---"]
    for r in rows:
        state = r["state"] + ("!" if r["required"] and r["state"] == "skipped" else "")
        why = r["why"] if len(r["why"]) <= width else r["why"][: width - 3] + "..."
        lines.append(f"{r['tier']:9} {state:8} {r['passed']:>6} {r['failed']:>6} {r['skipped']:>7}  {why}")
    for r in unready_required(rows):
        lines.append(f"FAILURE: the {r['tier']} tier was to be tested here (COURSE_REQUIRED_TIERS) and {not_tested(r)}")
    return "\n".join(lines)


def lab_runtimes(counter: TierCounter, date: str) -> dict[str, dict]:
    """Each lab notebook that ran here, every cell passing: its runtime in this test run, its tier and budget."""
    runtimes = {}
    for path, seconds in sorted(counter.lab_seconds.items()):
        if counter.lab_passed.get(path):
            course = notebook_course(ROOT / path)
            runtimes[Path(path).stem] = {"seconds": round(seconds, 1), "date": date, "tier": course.get("tier", "local"),
                                         "budget_seconds": course.get("budget_seconds", 180)}
    return runtimes


def format_lab_runtimes(runtimes: dict[str, dict]) -> str:
    lines = [f"{'lab':34} {'tier':9} {'seconds':>8} {'budget':>7}", f"{'-' * 34} {'-' * 9} {'-' * 8} {'-' * 7}"]
    for lab, r in runtimes.items():
        over = "  OVER BUDGET" if r["seconds"] > r["budget_seconds"] else ""
        lines.append(f"{lab:34} {r['tier']:9} {r['seconds']:>8.1f} {r['budget_seconds']:>7}{over}")
    return "\n".join(lines)


def kubeflow_reason(items) -> str | None:
    """The kubeflow tier is ready when every kubeflow lab's components are (with none: the cluster is)."""
    paths = {Path(str(i.fspath)) for i in items if Path(str(i.fspath)).suffix == ".ipynb"}
    # A lab that needs a kind-only component (lab 5c: kfp) is skipped on its own, with kind_only's reason: the
    # tier is what the other kubeflow labs need, so that the offline cluster can still run and count it.
    needs = sorted({c for c in (notebook_components(p) for p in paths if notebook_tier(p) == "kubeflow")
                    if not kind_only(c)})
    # The components a run installed (the GitHub workflow's Monday run names them all).
    installed = tuple(os.environ.get("COURSE_COMPONENTS", "").split())
    needs = needs + [installed] if installed else needs or [()]
    return next((r for r in (tier_skip_reason("kubeflow", c) for c in needs) if r), None)


def pytest_sessionfinish(session, exitstatus):
    target, required = os.environ.get("COURSE_TIER_REPORT"), required_tiers()
    # Asking the doctor about every tier takes a few seconds: only for the test command and CI.
    if not COUNTER.tiers or not (target or required):
        return
    reasons = {tier: tier_skip_reason(tier) for tier in doctor.TIERS if tier != "kubeflow"}
    reasons["kubeflow"] = kubeflow_reason(session.items)
    COUNTER.rows = tier_report(COUNTER.counts, reasons, required)
    if target:
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        Path(target).write_text(json.dumps(COUNTER.rows, indent=1) + "\n")
        # Beside it: each lab's runtime in this run (scripts/course bench --labs-from-tests reports them).
        Path(target).with_name("lab-runtimes.json").write_text(
            json.dumps(lab_runtimes(COUNTER, time.strftime("%Y-%m-%d")), indent=1) + "\n")
    if unready_required(COUNTER.rows) and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter):
    for r in unready_required(COUNTER.rows):
        terminalreporter.write_line(f"FAILURE: the {r['tier']} tier was to be tested here and {not_tested(r)}", red=True)


if __name__ == "__main__":  # python tests/conftest.py REPORT.json: print the table, and each lab's runtime
    print(format_tier_report(json.loads(Path(sys.argv[1]).read_text())))
    runtimes_file = Path(sys.argv[1]).with_name("lab-runtimes.json")
    if runtimes_file.exists() and json.loads(runtimes_file.read_text()):
        print("\neach lab notebook that ran, all its cells passing (seconds, in this test run):")
        print(format_lab_runtimes(json.loads(runtimes_file.read_text())))
