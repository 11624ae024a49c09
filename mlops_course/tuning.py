"""What Part 7's tuning lab needs beside the lesson: data, curves, tables, pictures.

The Optuna and scikit-optimize calls, the objective and the search space are
the lesson, so they stand in the lab's cells. Here are only:

- :func:`train_valid`: the course trips, split by the hash of the trip id
  into training and validation rows (half each: a larger validation set
  makes the ROC AUC a steadier objective, so algorithms are compared on the
  model, not on noise);
- :func:`best_so_far`, :func:`trials_to_target`: the running best and the
  first trial that reached a target, for the table and the plots;
- :func:`glue_figure`: a matplotlib figure recorded for the chapter's
  ``{glue:figure}``, the way :func:`mlops_course.glue.glue` records numbers.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import numpy as np
import pandas as pd

from mlops_course import data, split
from mlops_course.glue import GLUE_PREFIX


def train_valid(n_rows: int, seed: int = 42) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``n_rows`` generated trips, half for training and half for validation, by the hash split."""
    trips = data.generate_trips(n_rows, seed=seed)
    side = split.hash_split(trips["trip_id"], fractions=(0.5, 0.5), names=("train", "valid")).to_numpy()
    return trips[side == "train"].reset_index(drop=True), trips[side == "valid"].reset_index(drop=True)


def best_so_far(values: Sequence[float]) -> np.ndarray:
    """The best value among the first k trials, for every k (higher is better; failed trials as nan)."""
    values = np.asarray(values, dtype=float)
    return np.fmax.accumulate(np.where(np.isnan(values), -np.inf, values))


def trials_to_target(values: Sequence[float], target: float) -> int | None:
    """The number of the first trial (counting from 1) whose value reached ``target``; None if none did."""
    hits = np.flatnonzero(np.asarray(values, dtype=float) >= target)
    return int(hits[0]) + 1 if len(hits) else None


def glue_figure(name: str, figure) -> None:
    """Record a matplotlib figure as a PNG under ``name`` for ``{glue:figure}`` in a chapter."""
    from IPython.display import display

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    display(
        {
            GLUE_PREFIX + "image/png": base64.b64encode(buffer.getvalue()).decode("ascii"),
            GLUE_PREFIX + "text/plain": f"<figure {name}>",
        },
        raw=True,
        metadata={"scrapbook": {"name": name, "mime_prefix": GLUE_PREFIX}},
    )
