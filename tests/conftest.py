"""Order the suite (static checks first, then lab notebooks tier by tier) and
skip a tier whose requirements are missing, with the doctor's reason."""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from mlops_course import doctor  # noqa: E402


@functools.cache
def notebook_tier(path: Path) -> str:
    return json.loads(path.read_text())["metadata"].get("course", {}).get("tier", "local")


@functools.cache
def tier_skip_reason(tier: str) -> str | None:
    problems = doctor.tier_problems(tier)
    if not problems:
        return None
    why = "; ".join(f"{c.name}: {c.detail} (fix: {c.fix})" for c in problems)
    return f"{tier} tier not ready here: {why}"


def pytest_collection_modifyitems(config, items):
    def order(item):
        path = Path(str(item.fspath))
        if path.suffix != ".ipynb":
            return (0, 0, "")
        return (1, doctor.TIERS.index(notebook_tier(path)), path.name)

    for item in items:
        path = Path(str(item.fspath))
        if path.suffix == ".ipynb":
            tier = notebook_tier(path)
            item.add_marker(getattr(pytest.mark, tier))
            reason = tier_skip_reason(tier)
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))
    items.sort(key=order)  # stable: cells of a notebook keep their order
