"""Model analysis without the What-If Tool (Part 9).

The What-If Tool showed, for a trained classifier, how its prediction moves
when one input is edited, the nearest example it classifies the other way,
how it performs on each slice of the data, and which decision threshold
minimises a cost. The widget no longer runs in JupyterLab 4; the functions
here are the plain-Python pieces that the lab combines with dice-ml,
scikit-learn's partial dependence and ipywidgets:

- **a feature view of the course model**: :func:`feature_frame` and
  :func:`on_features` let analysis tools vary ``pickup_hour`` and
  ``pickup_weekday`` directly, although the model reads a ``pickup_time``;
- **one trip, edited**: :func:`sweep` (the prediction as one feature moves),
  :func:`changed_features` and :func:`counterfactual_distance`
  (what a counterfactual changed, and how far it is from the original);
- **performance by slice**: :func:`slice_metrics`;
- **a threshold from a cost ratio**, computed two independent ways:
  :func:`threshold_by_sweep` tries every threshold;
  :func:`threshold_by_roc` finds where a line of slope
  :func:`iso_cost_slope` touches the ROC convex hull
  (:func:`roc_convex_hull`). :func:`bayes_threshold` is the answer for a
  perfectly calibrated model.

Costs follow the What-If Tool's convention: a *cost ratio* is the cost of a
false positive divided by the cost of a false negative. A threshold ``t``
predicts the positive class when ``score >= t``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score, roc_curve
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from mlops_course import model as course_model

#: A Monday. :func:`trips_from_features` puts every trip in this week, which
#: gives back exactly the hour and weekday the model derives.
REFERENCE_MONDAY = pd.Timestamp("2024-01-01")

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


# --- a feature view of the course model --------------------------------------------


def feature_frame(trips: pd.DataFrame) -> pd.DataFrame:
    """The columns the course model uses (:data:`mlops_course.model.FEATURES`),
    with ``pickup_hour`` and ``pickup_weekday`` derived from ``pickup_time``."""
    return course_model.add_time_features(trips)[course_model.FEATURES].reset_index(drop=True)


def trips_from_features(features: pd.DataFrame) -> pd.DataFrame:
    """The inverse of :func:`feature_frame`, as far as the model can tell: a
    ``pickup_time`` in the week of :data:`REFERENCE_MONDAY` with the given hour
    and weekday replaces the two derived columns."""
    out = features.copy()
    hours = out["pickup_weekday"].astype(int) * 24 + out["pickup_hour"].astype(int)
    out["pickup_time"] = REFERENCE_MONDAY + pd.to_timedelta(hours, unit="h")
    return out.drop(columns=["pickup_hour", "pickup_weekday"])


def on_features(fitted: Pipeline) -> Pipeline:
    """The trained course model, taking :func:`feature_frame` rows instead of trips.

    Nothing is retrained: the result is the fitted model behind a stateless
    conversion, so it predicts exactly what ``fitted`` predicts on the trips.
    """
    return Pipeline([("from_features", FunctionTransformer(trips_from_features)), ("model", fitted)])


# --- one trip, edited ---------------------------------------------------------------


def sweep(model, row: pd.DataFrame, feature: str, values: Sequence) -> pd.DataFrame:
    """The predicted probability of the positive class for copies of the
    one-row frame ``row`` in which ``feature`` takes each of ``values``.

    This is one line of an individual conditional expectation (ICE) plot, and
    what the What-If Tool's datapoint editor showed one edit at a time.
    """
    if len(row) != 1:
        raise ValueError(f"sweep takes one row, got {len(row)}")
    copies = pd.concat([row] * len(values), ignore_index=True)
    copies[feature] = list(values)
    return pd.DataFrame({feature: list(values), "probability": model.predict_proba(copies)[:, 1]})


def changed_features(query: pd.DataFrame, rows: pd.DataFrame, columns: Sequence[str] | None = None) -> list[list[str]]:
    """For each row of ``rows``, the columns whose value differs from the one-row ``query``."""
    columns = list(columns if columns is not None else query.columns)
    q = query.iloc[0]
    out = []
    for _, r in rows.iterrows():
        out.append([c for c in columns if not _same(r[c], q[c])])
    return out


def counterfactual_distance(
    query: pd.DataFrame, rows: pd.DataFrame, scale: dict[str, float], categorical: Sequence[str]
) -> np.ndarray:
    """How far each row is from the one-row ``query``: the sum over numeric
    features of ``|row - query| / scale[feature]``, plus 1 for each
    categorical feature that differs (an L1 distance, as the What-If Tool used
    for its nearest counterfactual)."""
    q = query.iloc[0]
    total = np.zeros(len(rows))
    for feature, s in scale.items():
        if s <= 0:
            raise ValueError(f"scale of {feature!r} must be positive, got {s}")
        total += np.abs(rows[feature].to_numpy(dtype=float) - float(q[feature])) / s
    for feature in categorical:
        total += (rows[feature].to_numpy() != q[feature]).astype(float)
    return total


def _same(a, b) -> bool:
    try:
        return bool(np.isclose(float(a), float(b)))
    except (TypeError, ValueError):
        return a == b


# --- performance by slice -------------------------------------------------------------


def slice_metrics(y_true, scores, groups, threshold: float = 0.5) -> pd.DataFrame:
    """Rows, share of positives, accuracy and ROC AUC for each group, and for all rows.

    A group that holds a single class has no ROC AUC (NaN). Accuracy counts a
    prediction as positive when ``score >= threshold``.
    """
    frame = pd.DataFrame({"y": np.asarray(y_true), "score": np.asarray(scores, dtype=float), "group": np.asarray(groups)})
    frame["hit"] = (frame["score"] >= threshold).astype(int) == frame["y"]

    def summary(part: pd.DataFrame) -> dict:
        auc = roc_auc_score(part["y"], part["score"]) if part["y"].nunique() == 2 else float("nan")
        return {
            "rows": len(part),
            "positive_rate": part["y"].mean(),
            "accuracy": part["hit"].mean(),
            "roc_auc": auc,
        }

    table = {str(name): summary(part) for name, part in frame.groupby("group", sort=True)}
    table["(all)"] = summary(frame)
    out = pd.DataFrame(table).T
    out["rows"] = out["rows"].astype(int)
    out.index.name = "slice"
    return out


# --- a threshold from a cost ratio --------------------------------------------------------


@dataclass(frozen=True)
class OperatingPoint:
    """A threshold, the expected cost per example it gives, and its point on the ROC curve."""

    threshold: float
    cost: float
    fpr: float
    tpr: float


def confusion_counts(y_true, scores, threshold: float) -> dict[str, int]:
    """True and false positives and negatives when ``score >= threshold`` means positive."""
    y = np.asarray(y_true).astype(bool)
    predicted = np.asarray(scores, dtype=float) >= threshold
    return {
        "tp": int((predicted & y).sum()),
        "fp": int((predicted & ~y).sum()),
        "tn": int((~predicted & ~y).sum()),
        "fn": int((~predicted & y).sum()),
    }


def expected_cost(y_true, scores, threshold: float, cost_fp: float, cost_fn: float = 1.0) -> float:
    """Average cost per example: ``(cost_fp * FP + cost_fn * FN) / n``."""
    counts = confusion_counts(y_true, scores, threshold)
    return (cost_fp * counts["fp"] + cost_fn * counts["fn"]) / len(np.asarray(y_true))


def cost_sweep(y_true, scores, cost_fp: float, cost_fn: float = 1.0) -> pd.DataFrame:
    """Every distinct classifier the scores allow, with its expected cost.

    One row per candidate threshold: ``inf`` (nothing is positive), then each
    distinct score from the highest to the lowest (everything is positive).
    Columns: threshold, fpr, tpr, fp, fn, cost.
    """
    y = np.asarray(y_true).astype(int)
    _check_both_classes(y)
    fpr, tpr, thresholds = roc_curve(y, np.asarray(scores, dtype=float), drop_intermediate=False)
    positives, negatives = int(y.sum()), int(len(y) - y.sum())
    fp = np.rint(fpr * negatives).astype(int)
    fn = np.rint((1 - tpr) * positives).astype(int)
    return pd.DataFrame(
        {
            "threshold": thresholds,
            "fpr": fpr,
            "tpr": tpr,
            "fp": fp,
            "fn": fn,
            "cost": (cost_fp * fp + cost_fn * fn) / len(y),
        }
    )


def threshold_by_sweep(y_true, scores, cost_fp: float, cost_fn: float = 1.0) -> OperatingPoint:
    """The cheapest threshold found by trying them all (ties: the highest threshold)."""
    table = cost_sweep(y_true, scores, cost_fp, cost_fn)
    best = table.iloc[int(np.argmin(table["cost"].to_numpy()))]
    return OperatingPoint(float(best["threshold"]), float(best["cost"]), float(best["fpr"]), float(best["tpr"]))


def iso_cost_slope(y_true, cost_fp: float, cost_fn: float = 1.0) -> float:
    """The slope of the lines of equal expected cost in ROC space:
    ``(cost_fp * negatives) / (cost_fn * positives)``."""
    y = np.asarray(y_true).astype(int)
    _check_both_classes(y)
    positives, negatives = int(y.sum()), int(len(y) - y.sum())
    return (cost_fp * negatives) / (cost_fn * positives)


def roc_convex_hull(x, y) -> np.ndarray:
    """Indices of the points on the upper convex hull of an ROC curve, from
    its first point to its last. ``x`` (false positive rates, or counts) must
    be non-decreasing, as :func:`sklearn.metrics.roc_curve` returns it. Points
    on a straight stretch of the hull are left out. With whole-number counts
    the arithmetic is exact."""
    x, y = np.asarray(x), np.asarray(y)
    if np.any(np.diff(x) < 0):
        raise ValueError("x must be sorted in increasing order")
    hull: list[int] = []
    for i in range(len(x)):
        # Drop the last hull point while it lies on or below the chord to the new point.
        while len(hull) >= 2:
            a, b = hull[-2], hull[-1]
            cross = (x[b] - x[a]) * (y[i] - y[a]) - (y[b] - y[a]) * (x[i] - x[a])
            if cross >= 0:
                hull.pop()
            else:
                break
        hull.append(i)
    return np.array(hull, dtype=int)


def threshold_by_roc(y_true, scores, cost_fp: float, cost_fn: float = 1.0) -> OperatingPoint:
    """The cheapest threshold found geometrically, without evaluating a cost
    at each threshold: slide a line of slope :func:`iso_cost_slope` down onto
    the ROC curve. It first touches the curve's convex hull at the vertex
    where the hull's slope falls to the line's slope or below (ties: the
    vertex with the fewer false positives, the higher threshold). The cost
    is then read from that vertex's coordinates.

    The hull is built on counts (false positives, true positives) rather than
    rates, so that its arithmetic is exact; in counts the iso-cost slope is
    ``cost_fp / cost_fn``, the same lines as in rates.
    """
    y = np.asarray(y_true).astype(int)
    _check_both_classes(y)
    fpr, tpr, thresholds = roc_curve(y, np.asarray(scores, dtype=float), drop_intermediate=False)
    positives, negatives = int(y.sum()), int(len(y) - y.sum())
    fp, tp = np.rint(fpr * negatives).astype(np.int64), np.rint(tpr * positives).astype(np.int64)
    hull = roc_convex_hull(fp, tp)
    best = hull[-1]  # everything positive, if every stretch of the hull is steeper than the line
    for start, end in zip(hull[:-1], hull[1:]):
        # The stretch start -> end is no steeper than the iso-cost line: start is where it touches.
        if cost_fn * (tp[end] - tp[start]) <= cost_fp * (fp[end] - fp[start]):
            best = start
            break
    cost = (cost_fp * fp[best] + cost_fn * (positives - tp[best])) / len(y)
    return OperatingPoint(float(thresholds[best]), float(cost), float(fpr[best]), float(tpr[best]))


def bayes_threshold(cost_fp: float, cost_fn: float = 1.0) -> float:
    """The cost-minimising threshold on a *calibrated* probability p: predict
    positive when ``p * cost_fn >= (1 - p) * cost_fp``, that is when
    ``p >= cost_fp / (cost_fp + cost_fn)``."""
    if cost_fp < 0 or cost_fn < 0 or cost_fp + cost_fn == 0:
        raise ValueError("costs must be non-negative and not both zero")
    return cost_fp / (cost_fp + cost_fn)


def _check_both_classes(y: np.ndarray) -> None:
    if y.min() == y.max():
        raise ValueError("the labels hold a single class: no ROC curve and no cost trade-off")
