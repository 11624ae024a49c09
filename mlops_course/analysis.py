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
- **a threshold from costs**, after the lab has written the sweep once in
  its cells: :func:`cheapest_threshold` and :func:`expected_cost`, for the
  tables, the slider and the exercise that repeat it.

The slice tables, the sweep, the iso-cost argument and the calibrated
threshold are the lesson, so they are in the lab's cells, not here. A
threshold ``t`` predicts the positive class when ``score >= t``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import roc_curve
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


# --- a threshold from costs, once the lab has swept it by hand ------------------------------


def expected_cost(y_true, scores, threshold: float, cost_fp: float, cost_fn: float) -> float:
    """Average cost per example when ``score >= threshold`` is flagged: ``(cost_fp * FP + cost_fn * FN) / n``."""
    y = np.asarray(y_true).astype(bool)
    flagged = np.asarray(scores, dtype=float) >= threshold
    return float((cost_fp * (flagged & ~y).sum() + cost_fn * (~flagged & y).sum()) / len(y))


def cheapest_threshold(y_true, scores, cost_fp: float, cost_fn: float) -> tuple[float, float]:
    """The threshold with the lowest expected cost, and that cost: the sweep the lab
    writes in section 6, over every distinct score and ``inf`` (flag nothing).
    Ties go to the highest threshold (the fewest trips flagged)."""
    y = np.asarray(y_true).astype(int)
    if y.min() == y.max():
        raise ValueError("the labels hold a single class: no ROC curve and no cost trade-off")
    fpr, tpr, thresholds = roc_curve(y, np.asarray(scores, dtype=float), drop_intermediate=False)
    positives, negatives = int(y.sum()), int(len(y) - y.sum())
    cost = (cost_fp * np.rint(fpr * negatives) + cost_fn * np.rint((1 - tpr) * positives)) / len(y)
    best = int(np.argmin(cost))
    return float(thresholds[best]), float(cost[best])
