"""Kubeflow Pipelines run locally with ``kfp.local``: a readable log of a run.

This is lab plumbing, not the lesson: the lab calls ``kfp.local.init``, the
components and the pipeline itself. ``kfp.local`` writes its log to standard
output (timestamps, colours, every executor input as JSON, absolute paths)
and says what it skipped (cache hits, conditions that came out false) through
Python's root logger at INFO level, which a notebook does not show. ``run``
captures both and answers the questions a lab asks of a run: which steps
executed, which came from the cache, which conditions were skipped, and what
the condition evaluator warned about.
"""

from __future__ import annotations

import builtins
import contextlib
import io
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_course import paths

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_STAMP = re.compile(r"^(\s*)\d\d:\d\d:\d\d\.\d+ - [A-Z]+ - ")
_TEMP = re.compile(r"/tmp/[^\s\"']+|/var/folders/[^\s\"']+")
_EXECUTING = re.compile(r"Executing task '([^']+)'")
_CACHE_HIT = re.compile(r"Task (\S+) cache hit")
_SKIPPED = re.compile(r"Skipping conditional task (\S+) \(condition evaluated to False\)")
_EVALUATOR = re.compile(r"(Condition evaluation failed for .*|Could not resolve .*)")


@dataclass
class LocalRun:
    """What one call of a component or pipeline under ``kfp.local`` did."""

    task: Any  #: the PipelineTask the call returned (None if it raised)
    log: list[str]  #: the whole log, without colours or time stamps, with paths made relative
    seconds: float
    error: str | None = None  #: kfp.local's one-line reason when the run failed
    outputs: dict = field(default_factory=dict)

    def _matches(self, pattern: re.Pattern) -> list[str]:
        return [m.group(1) for line in self.log if (m := pattern.search(line))]

    def executed(self) -> list[str]:
        """The tasks that ran, in the order they started."""
        return self._matches(_EXECUTING)

    def cached(self) -> list[str]:
        """The tasks whose outputs came from the local cache instead of running."""
        return self._matches(_CACHE_HIT)

    def skipped(self) -> list[str]:
        """The condition groups (condition-N) whose condition came out false."""
        return self._matches(_SKIPPED)

    def evaluator_warnings(self) -> list[str]:
        """What the condition evaluator said when it could not evaluate a condition."""
        return self._matches(_EVALUATOR)


def _clean(line: str, root: Path) -> str:
    line = _STAMP.sub(r"\1", _ANSI.sub("", line))
    for prefix in {str(root), str(root.resolve())}:
        line = line.replace(prefix, paths.shown(root))
    return _TEMP.sub("<temporary folder>", line)


def run(call: Callable, /, **arguments) -> LocalRun:
    """Call a component or pipeline under ``kfp.local`` (already initialised) and capture its log.

    A failed run does not raise: its ``error`` says what kfp.local reported.
    """
    from kfp.local import config

    pipeline_root = Path(config.LocalExecutionConfig.instance.pipeline_root)
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    root_logger = logging.getLogger()
    level = root_logger.level
    root_logger.addHandler(handler)
    root_logger.setLevel(logging.INFO)
    # kfp.local indents a step's output by swapping builtins.print; with a ParallelFor's
    # steps in threads the swaps interleave and the indented print can outlive the run.
    original_print = builtins.print
    task, error = None, None
    started = time.perf_counter()
    try:
        with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
            task = call(**arguments)
    except RuntimeError as exc:  # kfp.local raises RuntimeError when a task fails and raise_on_error is on
        error = _clean(str(exc), pipeline_root)
    finally:
        seconds = time.perf_counter() - started
        root_logger.removeHandler(handler)
        root_logger.setLevel(level)
        builtins.print = original_print
    log = [_clean(line, pipeline_root) for line in buffer.getvalue().splitlines()]
    if error is None and any("finished with status FAILURE" in line for line in log):
        error = next(line.strip() for line in reversed(log) if "finished with status FAILURE" in line)
    outputs = dict(task.outputs) if task is not None and task.outputs else {}
    return LocalRun(task=task, log=log, seconds=seconds, error=error, outputs=outputs)


def run_folders(pipeline_root: Path, pipeline_name: str) -> list[Path]:
    """The folders kfp.local made for the runs of one pipeline, oldest first (named pipeline-timestamp)."""
    return sorted(p for p in Path(pipeline_root).glob(f"{pipeline_name}-*") if p.is_dir())


def executor_output(task_folder: Path) -> dict:
    """What a task wrote as its result (``executor_output.json``): parameter values and artifacts."""
    return json.loads((Path(task_folder) / "executor_output.json").read_text())
