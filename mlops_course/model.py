"""The course model: a scikit-learn pipeline that predicts ``big_tip``.

Preprocessing and classifier live in one :class:`~sklearn.pipeline.Pipeline`,
so the object that is trained is the object that is packaged and served
(Parts 2 and 8), and the same feature code runs at training and serving time
(Part 9 shows what happens when it does not).
"""

from __future__ import annotations

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, log_loss, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

LABEL = "big_tip"
NUMERIC = ["trip_miles", "trip_seconds", "fare", "pickup_hour", "pickup_weekday"]
CATEGORICAL = ["payment_type", "company", "pickup_area", "dropoff_area"]
FEATURES = NUMERIC + CATEGORICAL


def add_time_features(df: pd.DataFrame) -> pd.DataFrame:
    """Derive hour and weekday from ``pickup_time``; leave other columns alone."""
    out = df.copy()
    t = pd.to_datetime(out["pickup_time"])
    out["pickup_hour"] = t.dt.hour
    out["pickup_weekday"] = t.dt.weekday
    return out


def build_model(kind: str = "gbdt", seed: int = 0, **params) -> Pipeline:
    """An untrained pipeline: time features, encoding, then a classifier.

    ``kind`` is ``"gbdt"`` (histogram gradient boosting) or ``"logistic"``;
    ``params`` go to the classifier.
    """
    encode = ColumnTransformer(
        [
            ("numeric", StandardScaler(), NUMERIC),
            ("categorical", OneHotEncoder(handle_unknown="ignore", min_frequency=20), CATEGORICAL),
        ],
        sparse_threshold=0.0,
    )
    if kind == "gbdt":
        classifier = HistGradientBoostingClassifier(random_state=seed, **{"max_iter": 100, **params})
    elif kind == "logistic":
        classifier = LogisticRegression(random_state=seed, **{"max_iter": 1000, **params})
    else:
        raise ValueError(f"unknown model kind {kind!r}: use 'gbdt' or 'logistic'")
    return Pipeline(
        [
            ("time_features", FunctionTransformer(add_time_features)),
            ("encode", encode),
            ("classifier", classifier),
        ]
    )


def train(df: pd.DataFrame, seed: int = 0, kind: str = "gbdt", **params) -> Pipeline:
    """Fit :func:`build_model` on the rows of ``df`` (features and ``big_tip``)."""
    model = build_model(kind=kind, seed=seed, **params)
    return model.fit(df.drop(columns=[LABEL]), df[LABEL])


def evaluate(model: Pipeline, df: pd.DataFrame) -> dict[str, float]:
    """Accuracy, ROC AUC and log loss on ``df``, rounded for display."""
    proba = model.predict_proba(df.drop(columns=[LABEL]))[:, 1]
    y = df[LABEL]
    return {
        "accuracy": round(float(accuracy_score(y, proba > 0.5)), 4),
        "roc_auc": round(float(roc_auc_score(y, proba)), 4),
        "log_loss": round(float(log_loss(y, proba)), 4),
    }
