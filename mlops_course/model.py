"""The course model: a scikit-learn pipeline that predicts ``big_tip``.

Preprocessing and classifier live in one :class:`~sklearn.pipeline.Pipeline`,
so the object that is trained is the object that is packaged and served
(Parts 2 and 8), and the same feature code runs at training and serving time
(Part 9 shows what happens when it does not).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, log_loss, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, OrdinalEncoder, StandardScaler

LABEL = "big_tip"
NUMERIC = ["trip_miles", "trip_seconds", "fare", "pickup_hour", "pickup_weekday"]
CATEGORICAL = ["payment_type", "company", "pickup_area", "dropoff_area"]
FEATURES = NUMERIC + CATEGORICAL

#: The gradient-boosted model's hyperparameters unless a run sets them.
GBDT_DEFAULTS = {"learning_rate": 0.1, "max_iter": 100, "max_depth": None}


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
    ``params`` go to the classifier. The ones that move validation ROC AUC,
    and that Part 7 tunes, are ``learning_rate``, ``max_iter`` and
    ``max_depth`` of the gradient-boosted model (:data:`GBDT_DEFAULTS`) and
    ``C`` of the logistic one: too small a model underfits, too large a
    learning rate overfits.
    """
    if kind == "gbdt":
        # Trees split on categories directly: faster than one-hot columns, and
        # the 77 pickup areas stay one feature instead of 77 sparse ones.
        encode = ColumnTransformer(
            [
                ("numeric", "passthrough", NUMERIC),
                (
                    "categorical",
                    OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan, min_frequency=20),
                    CATEGORICAL,
                ),
            ]
        )
        is_category = [False] * len(NUMERIC) + [True] * len(CATEGORICAL)
        classifier = HistGradientBoostingClassifier(
            random_state=seed, categorical_features=is_category, **{**GBDT_DEFAULTS, **params}
        )
    elif kind == "logistic":
        encode = ColumnTransformer(
            [
                ("numeric", StandardScaler(), NUMERIC),
                ("categorical", OneHotEncoder(handle_unknown="ignore", min_frequency=20), CATEGORICAL),
            ],
            sparse_threshold=0.0,
        )
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


def evaluate(
    model: Pipeline, df: pd.DataFrame, threshold: float = 0.5, base_rate: float | None = None
) -> dict[str, float]:
    """ROC AUC and log loss, then accuracy at ``threshold``, each beside the
    majority-class baseline's, rounded for display.

    The baseline knows only a share of big tips, ``base_rate``: it predicts
    that share as every trip's probability (its log loss) and the more common
    class for every trip (its accuracy); its ROC AUC is 0.5 by construction.
    By default ``base_rate`` is the share in ``df`` itself, the best any
    constant can do on these rows; pass the training rows' share to score the
    baseline as scikit-learn's ``DummyClassifier(strategy="prior")`` trained
    on them does. A model is worth serving only if it beats both clearly.
    """
    proba = model.predict_proba(df.drop(columns=[LABEL]))[:, 1]
    y = df[LABEL].to_numpy()
    rate = float(y.mean()) if base_rate is None else float(base_rate)
    if not 0 < rate < 1:
        raise ValueError(f"base_rate must be between 0 and 1 (a share of big tips), got {rate}")
    return {
        "roc_auc": round(float(roc_auc_score(y, proba)), 4),
        "log_loss": round(float(log_loss(y, proba, labels=[0, 1])), 4),
        "accuracy": round(float(accuracy_score(y, proba > threshold)), 4),
        "baseline_log_loss": round(float(log_loss(y, np.full(len(y), rate), labels=[0, 1])), 4),
        "baseline_accuracy": round(float(np.mean(y == int(rate > 0.5))), 4),
    }
