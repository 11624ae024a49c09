"""What Part 7's tuning lab needs beside the lesson: data, a CMA-ES stand-in, curves, tables, pictures.

The Optuna and scikit-optimize calls, the objective and the search space are
the lesson, so they stand in the lab's cells. Here are only:

- :func:`train_valid`: the course trips, split by the hash of the trip id
  into training and validation rows (half each: a larger validation set
  makes the ROC AUC a steadier objective, so algorithms are compared on the
  model, not on noise);
- :class:`CmaEs`: a compact CMA-ES (Hansen's ``(mu/mu_w, lambda)`` strategy
  with cumulative step-size adaptation) that proposes points for Optuna's
  ``enqueue_trial``. Optuna's own ``CmaEsSampler`` needs the ``cmaes``
  package, which the course environment does not lock yet; with it, the lab's
  cell becomes ``optuna.samplers.CmaEsSampler(seed=seed)``;
- :func:`best_so_far`, :func:`trials_to_target`: the running best and the
  first trial that reached a target, for the table and the plots;
- :func:`glue_figure`: a matplotlib figure recorded for the chapter's
  ``{glue:figure}``, the way :func:`mlops_course.glue.glue` records numbers.
"""

from __future__ import annotations

import base64
import io
import math
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


class CmaEs:
    """CMA-ES on the unit cube ``[0, 1]^d``, minimising; ask for a generation, tell its scores.

    Each generation samples ``popsize`` points from a multivariate normal
    ``N(mean, sigma^2 C)``, clipped into the cube. Told their scores, it moves
    the mean towards the better half (weighted), stretches ``C`` along the
    directions that paid off (the rank-one update from the evolution path and
    the rank-mu update from this generation), and grows or shrinks ``sigma``
    by how far the mean travelled compared with a random walk.
    """

    def __init__(self, dim: int, seed: int = 0, sigma: float = 0.25, popsize: int | None = None):
        self.dim, self.sigma = dim, sigma
        self.rng = np.random.default_rng(seed)
        self.popsize = popsize or 4 + int(3 * math.log(dim))
        self.mu = self.popsize // 2
        w = math.log(self.mu + 0.5) - np.log(np.arange(1, self.mu + 1))
        self.weights = w / w.sum()
        self.mueff = 1.0 / float(np.sum(self.weights**2))
        n, mueff = dim, self.mueff
        self.cs = (mueff + 2) / (n + mueff + 5)
        self.ds = 1 + 2 * max(0.0, math.sqrt((mueff - 1) / (n + 1)) - 1) + self.cs
        self.cc = (4 + mueff / n) / (n + 4 + 2 * mueff / n)
        self.c1 = 2 / ((n + 1.3) ** 2 + mueff)
        self.cmu = min(1 - self.c1, 2 * (mueff - 2 + 1 / mueff) / ((n + 2) ** 2 + mueff))
        self.chi_n = math.sqrt(n) * (1 - 1 / (4 * n) + 1 / (21 * n**2))
        self.mean = np.full(n, 0.5)
        self.cov = np.eye(n)
        self.ps = np.zeros(n)
        self.pc = np.zeros(n)
        self.generation = 0

    def ask(self) -> np.ndarray:
        """One generation: ``popsize`` points in the unit cube, one a row."""
        values, vectors = np.linalg.eigh(self.cov)
        scale = vectors * np.sqrt(np.maximum(values, 1e-20))
        z = self.rng.standard_normal((self.popsize, self.dim))
        return np.clip(self.mean + self.sigma * z @ scale.T, 0.0, 1.0)

    def tell(self, points: np.ndarray, losses: Sequence[float]) -> None:
        """Update from one generation's points and their losses (smaller is better)."""
        order = np.argsort(np.asarray(losses, dtype=float))[: self.mu]
        steps = (np.asarray(points)[order] - self.mean) / self.sigma
        step = self.weights @ steps
        self.mean = self.mean + self.sigma * step
        values, vectors = np.linalg.eigh(self.cov)
        inv_sqrt = vectors @ np.diag(1 / np.sqrt(np.maximum(values, 1e-20))) @ vectors.T
        self.ps = (1 - self.cs) * self.ps + math.sqrt(self.cs * (2 - self.cs) * self.mueff) * inv_sqrt @ step
        self.generation += 1
        norm = np.linalg.norm(self.ps) / math.sqrt(1 - (1 - self.cs) ** (2 * self.generation))
        hsig = float(norm < (1.4 + 2 / (self.dim + 1)) * self.chi_n)
        self.pc = (1 - self.cc) * self.pc + hsig * math.sqrt(self.cc * (2 - self.cc) * self.mueff) * step
        rank_mu = (steps.T * self.weights) @ steps
        self.cov = (
            (1 - self.c1 - self.cmu) * self.cov
            + self.c1 * (np.outer(self.pc, self.pc) + (1 - hsig) * self.cc * (2 - self.cc) * self.cov)
            + self.cmu * rank_mu
        )
        self.sigma *= math.exp((self.cs / self.ds) * (np.linalg.norm(self.ps) / self.chi_n - 1))


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
