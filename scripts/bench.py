"""Measure what a learner waits for, and print it as a table.

    python scripts/bench.py [--skip-setup] [--skip-book] [--serving] [--update-readme]

- set-up, cold: a fresh clone with an empty uv cache (`scripts/course setup`);
- set-up, fresh clone with a warm uv cache (a second checkout on the same laptop);
- set-up, warm: the same clone again, nothing changed;
- each extra environment (envs/NAME) installed alone from an empty cache, and
  every environment's size on disk;
- the book build (strict, offline) into a scratch folder;
- with --docker: the base image build (debootstrap + docker import);
- with --cluster: the offline cluster's start time, idle memory and tear-down
  (--cluster-cold: its build from empty caches too);
- with --serving: the course's model server (KServe's ModelServer running the predictor
  image's server.py, as a process on 127.0.0.1) under a bounded load: latency percentiles
  and throughput for one trip per v1 request, from one client and from four, and for a
  batch of trips per v2 request;
- each lab notebook, run headless with its default parameters, against its budget
  (--labs-from-refresh: the runtimes the last `scripts/course refresh` measured, the same runs,
  so that the labs, which take half an hour together, need not run twice;
  --labs-from-tests: their runtimes in the last `scripts/course test`, which ran every tier
  it could, CI's own run included). A lab no CI can run (ci_cannot_run) is listed as such.

A report, not a test: the numbers depend on the machine. `--update-readme`
writes the table, with the date and the machine, into README.md between the
bench markers.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import notebooks

ROOT = notebooks.ROOT
README = ROOT / "README.md"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
TARGETS = {"setup-cold": 60, "setup-warm": 5, "book": 60, "size-main": 2048, "size-tfdv": 4096}


def timed(cmd: list[str], env: dict | None = None, cwd: Path = ROOT) -> float:
    start = time.perf_counter()
    result = subprocess.run(cmd, cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return seconds


def bench_setup(rows: list) -> None:
    with tempfile.TemporaryDirectory(prefix="course-bench-") as tmp:
        clone = Path(tmp) / "clone"
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
        setup = [str(clone / "scripts" / "course"), "setup"]
        cold = timed(setup, env={"UV_CACHE_DIR": str(Path(tmp) / "uv-cache")}, cwd=clone)
        rows.append(("set-up, cold (fresh clone, empty uv cache)", cold, TARGETS["setup-cold"]))
        for leftover in (".venv", ".tools"):
            shutil.rmtree(clone / leftover)
        rows.append(("set-up, fresh clone with a warm uv cache", timed(setup, cwd=clone), TARGETS["setup-cold"]))
        rows.append(("set-up, warm (nothing changed)", timed(setup, cwd=clone), TARGETS["setup-warm"]))
        for env in sorted((clone / "envs").glob("*/uv.lock")):
            # One extra environment on its own: remove it, install it again from an empty cache.
            name = env.parent.name
            shutil.rmtree(env.parent / ".venv")
            cold = timed(setup, env={"UV_CACHE_DIR": str(Path(tmp) / f"uv-cache-{name}")}, cwd=clone)
            rows.append((f"the {name} environment alone, cold (empty uv cache)", cold, TARGETS["setup-cold"]))
        for venv in [clone / ".venv", *sorted(p.parent / ".venv" for p in (clone / "envs").glob("*/uv.lock"))]:
            name = "main" if venv.parent == clone else venv.parent.name
            rows.append((f"size of the {name} environment (MiB)", directory_mib(venv), TARGETS.get(f"size-{name}", 4096)))


def directory_mib(path: Path) -> float:
    """Disk use as du counts it (hard links into uv's cache once)."""
    return int(subprocess.run(["du", "-sk", str(path)], capture_output=True, text=True, check=True).stdout.split()[0]) / 1024


def bench_book(rows: list) -> None:
    with tempfile.TemporaryDirectory(prefix="course-book-") as tmp:
        cmd = [str(ROOT / ".venv/bin/jupyter-book"), "build", str(ROOT), "--warningiserror", "--nitpick", "--path-output", tmp]
        rows.append(("book build (strict, offline)", timed(cmd), TARGETS["book"]))


CLUSTER = ROOT / "cluster" / "offline" / "cluster.sh"


def bench_base_image(rows: list) -> None:
    """The docker tier's base image, built from Debian packages (needs a daemon and root)."""
    tag = "mlops-course-bench/base:scratch"
    env = {"FORCE": "1", "BASE_IMAGE_TAG": tag}
    rows.append(("base image build (debootstrap + docker import)", timed([str(ROOT / "scripts/build_base_image.sh")], env=env), 180))
    subprocess.run(["docker", "rmi", "-f", tag], capture_output=True)


def cluster_memory_mib() -> float:
    """Resident memory of the offline cluster: every process started from its
    cache or state folder (their paths name mlops-course), and all their
    descendants (shims, pods). Docker's own containerd is not counted."""
    procs = {}
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            fields = dict(line.split(":", 1) for line in (proc / "status").read_text().splitlines() if ":" in line)
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        rss = int(fields["VmRSS"].split()[0]) if "VmRSS" in fields else 0
        procs[int(proc.name)] = (int(fields["PPid"]), rss, "mlops-course" in cmdline)
    counted = {pid for pid, (_, _, ours) in procs.items() if ours}
    grew = True
    while grew:
        children = {pid for pid, (ppid, _, _) in procs.items() if ppid in counted} - counted
        counted |= children
        grew = bool(children)
    return sum(procs[pid][1] for pid in counted) / 1024


def bench_cluster(rows: list, cold: bool) -> None:
    """The offline cluster (Linux, root): cold build if asked, warm start, idle memory."""
    env = {}
    if cold:
        scratch = Path(tempfile.mkdtemp(prefix="course-cluster-cold-"))
        env = {"CLUSTER_CACHE": str(scratch / "cache"), "GOCACHE": str(scratch / "go-build")}
        rows.append(("offline cluster: cold build (empty caches)", timed([str(CLUSTER), "build"], env=env), 2400))
    subprocess.run([str(CLUSTER), "down"], capture_output=True)
    rows.append(("offline cluster: start to a Ready node with DNS", timed([str(CLUSTER), "up"], env=env), 90))
    time.sleep(20)  # let start-up settle before measuring the idle cluster
    rows.append(("offline cluster: idle memory (MiB)", cluster_memory_mib(), 2048))
    rows.append(("offline cluster: tear-down", timed([str(CLUSTER), "down"], env=env), 60))
    if cold:
        shutil.rmtree(scratch, ignore_errors=True)


#: Each lab's runtime in the last `scripts/course test` (tests/conftest.py writes it beside the tier report).
TEST_RUNTIMES = ROOT / ".work" / "lab-runtimes.json"

#: The predictor the offline cluster's InferenceServices and lab 8b's container run.
PREDICTOR = ROOT / "cluster" / "components" / "images" / "kserve-predictor"
#: Targets for the model server, design figures rather than measurements: a caller that waits
#: for one trip's prediction inside a web request should see it well under a tenth of a second,
#: and the server's one process should answer a few dozen single-trip requests a second (each
#: builds a pandas frame; lab 8a shows where the time goes). With N clients a request waits
#: behind up to N-1 others, so its latency targets are N times looser. The batch request carries
#: BATCH_TRIPS trips: its targets are four times looser and its throughput counts trips.
SERVING_TARGETS = {"p50 (ms)": 50, "p99 (ms)": 200, "requests/s": 20, "trips/s": 1000}
BATCH_TRIPS = 100


def bench_serving(rows: list, requests: int = 500, seconds: float = 15.0) -> dict[str, dict]:
    """Train the predictor's models, serve them on 127.0.0.1 and load the server, bounded by ``requests`` and ``seconds``.

    Adds a row per figure and returns each case's :meth:`serving.Load.summary`.
    """
    from mlops_course import data, inference, serving

    with tempfile.TemporaryDirectory(prefix="course-bench-serving-") as models:
        env = {"OUT": models, "MODELS": models, "N_ROWS": "5000", "PYTHONPATH": str(ROOT)}
        subprocess.run([sys.executable, "train.py"], cwd=PREDICTOR, env={**os.environ, **env}, check=True,
                       capture_output=True, text=True)
        server = serving.start("bench", "predictor", PREDICTOR / "server.py",
                               ["--model_name", "taxi-tip", "--host", "127.0.0.1"], serving.free_port(), env=env)
        try:
            trips = data.generate_trips(BATCH_TRIPS, seed=7)
            v1, v2 = f"{server.url}/v1/models/taxi-tip:predict", f"{server.url}/v2/models/taxi-tip/infer"
            one, batch = {"instances": inference.records(trips.head(1))}, inference.v2_inputs(trips)
            cases = {
                "v1, one trip, 1 client": (v1, one, 1, 1),
                "v1, one trip, 4 clients": (v1, one, 4, 1),
                f"v2, {BATCH_TRIPS} trips, 1 client": (v2, batch, 1, BATCH_TRIPS),
            }
            for _ in range(10):  # the first requests load code and fill caches: not what a caller sees later
                inference.post(v1, one)
            summaries = {}
            for label, (url, body, clients, trips_per_request) in cases.items():
                load = serving.measure(lambda session, url=url, body=body: session.post(url, json=body, timeout=10),
                                       label, requests=requests, seconds=seconds, clients=clients,
                                       rows_per_request=trips_per_request)
                summary = summaries[label] = load.summary()
                if summary["errors"] or not summary["requests"]:
                    rows.append((f"model server, {label}", None, "-", f"{summary['errors']} errors in {summary['requests']} answers"))
                    continue
                rate = "trips/s" if trips_per_request > 1 else "requests/s"
                latency_scale = 4 if trips_per_request > 1 else clients
                rows.append((f"model server, {label}: p50 latency (ms)", summary["p50 (ms)"], SERVING_TARGETS["p50 (ms)"] * latency_scale))
                rows.append((f"model server, {label}: p99 latency (ms)", summary["p99 (ms)"], SERVING_TARGETS["p99 (ms)"] * latency_scale))
                rows.append((f"model server, {label}: throughput ({rate})", summary[rate], SERVING_TARGETS[rate]))
        finally:
            serving.stop(server, "bench")
    return summaries


def bench_labs(rows: list, from_refresh: bool = False, from_tests: bool = False) -> None:
    recorded, source = {}, ""
    if from_tests:
        recorded, source = (json.loads(TEST_RUNTIMES.read_text()) if TEST_RUNTIMES.exists() else {}), "test run"
    elif from_refresh:
        recorded, source = (json.loads(notebooks.RUNTIMES.read_text()) if notebooks.RUNTIMES.exists() else {}), "refresh"
    for path in sorted(notebooks.SOLUTIONS.glob("*.ipynb")):
        meta = notebooks.course_metadata(path)
        cannot = notebooks.ci_cannot_run(notebooks.read(path))
        if cannot:
            rows.append((f"lab {path.stem} ({meta['tier']})", None, meta["budget_seconds"], f"not run: {cannot}"))
            continue
        if source:
            run = recorded.get(path.stem)
            if run:
                rows.append((f"lab {path.stem} ({meta['tier']}; {source} of {run['date']})", run["seconds"], meta["budget_seconds"]))
            else:
                rows.append((f"lab {path.stem} ({meta['tier']})", None, meta["budget_seconds"], f"not in the last {source} here"))
            continue
        try:
            seconds = notebooks.execute(path, notebooks.RUNS / path.name)
        except Exception as exc:  # a tier this machine lacks: report, do not stop the bench
            rows.append((f"lab {path.stem} ({meta['tier']})", None, meta["budget_seconds"], f"did not run: {str(exc).splitlines()[-1][:80]}"))
            continue
        rows.append((f"lab {path.stem} ({meta['tier']})", seconds, meta["budget_seconds"]))


#: Units a row's name may end in, "(UNIT)"; seconds otherwise. A rate's target is a floor, the others a ceiling.
UNITS = ("MiB", "ms", "requests/s", "trips/s")
RATES = ("requests/s", "trips/s")


def table(rows: list) -> str:
    """Times are in seconds unless a row's name ends in one of :data:`UNITS`, in brackets."""
    lines = ["| what | measured | target | verdict |", "|---|---:|---:|---|"]
    for what, value, target, *note in rows:
        unit = next((u for u in UNITS if what.endswith(f"({u})")), "s")
        what = what.removesuffix(f" ({unit})") if unit != "s" else what
        if value is None:
            lines.append(f"| {what} | – | {target} {unit} | {note[0]} |")
        else:
            ok = value >= target if unit in RATES else value <= target
            bound = "at least " if unit in RATES else ""
            lines.append(f"| {what} | {value:.1f} {unit} | {bound}{target} {unit} | {'ok' if ok else 'OVER TARGET' if unit not in RATES else 'UNDER TARGET'} |")
    return "\n".join(lines)


def machine() -> str:
    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-setup", action="store_true")
    parser.add_argument("--skip-book", action="store_true")
    parser.add_argument("--docker", action="store_true", help="also time the base image build (needs a Docker daemon)")
    parser.add_argument("--cluster", action="store_true", help="also time the offline cluster (Linux, root)")
    parser.add_argument("--cluster-cold", action="store_true", help="with --cluster: build it from empty caches first")
    parser.add_argument("--labs-from-refresh", action="store_true",
                        help="report each lab's runtime from its last `scripts/course refresh` instead of running it again")
    parser.add_argument("--labs-from-tests", action="store_true",
                        help="report each lab's runtime from the last `scripts/course test` (every tier it ran)")
    parser.add_argument("--serving", action="store_true",
                        help="also load the course's model server on 127.0.0.1 and report its latency and throughput")
    parser.add_argument("--update-readme", action="store_true")
    args = parser.parse_args()

    rows: list = []
    if not args.skip_setup:
        bench_setup(rows)
    if not args.skip_book:
        bench_book(rows)
    if args.docker:
        bench_base_image(rows)
    if args.cluster:
        bench_cluster(rows, cold=args.cluster_cold)
    if args.serving:
        bench_serving(rows)
    bench_labs(rows, from_refresh=args.labs_from_refresh, from_tests=args.labs_from_tests)
    report = f"Measured {datetime.date.today().isoformat()} on {machine()}:\n\n{table(rows)}"
    print(report)
    if args.update_readme:
        text = README.read_text()
        if BEGIN not in text or END not in text:
            raise SystemExit(f"README.md has no {BEGIN} ... {END} block to update")
        block = f"{BEGIN}\n{report}\n{END}"
        README.write_text(re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: block, text, flags=re.S))
        print("\nREADME.md updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
