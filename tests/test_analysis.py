"""The model-analysis helpers of Part 9 give the answers worked out by hand below."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from mlops_course import analysis, data, model

# Four examples, worked by hand. Thresholds from high to low, with "score >= t is positive":
#
#   t      TP FP FN   (fpr, tpr)    cost with cost_fp = cost_fn = 1
#   inf     0  0  2   (0,   0  )    2/4 = 0.5
#   0.8     1  0  1   (0,   0.5)    1/4 = 0.25
#   0.4     1  1  1   (0.5, 0.5)    2/4 = 0.5
#   0.35    2  1  0   (0.5, 1  )    1/4 = 0.25
#   0.1     2  2  0   (1,   1  )    2/4 = 0.5
Y = np.array([0, 0, 1, 1])
SCORES = np.array([0.1, 0.4, 0.35, 0.8])


def test_expected_cost_by_hand():
    # t = 0.4 flags 0.4 and 0.8: one FP, one FN (0.35 is missed).
    assert analysis.expected_cost(Y, SCORES, 0.4, cost_fp=3, cost_fn=1) == pytest.approx((3 * 1 + 1 * 1) / 4)
    # t = 0.35 flags three: one FP, no FN; a score equal to the threshold counts.
    assert analysis.expected_cost(Y, SCORES, 0.35, cost_fp=0.25, cost_fn=1) == pytest.approx(0.25 / 4)
    assert analysis.expected_cost(Y, SCORES, np.inf, cost_fp=1, cost_fn=2) == pytest.approx(2 * 2 / 4)


@pytest.mark.parametrize(
    "cost_fp, cost_fn, threshold, cost",
    [
        (1, 1, 0.8, 0.25),  # a tie between 0.8 and 0.35: the higher threshold wins
        (3, 1, 0.8, 0.25),  # false positives are dear: no false positive at all
        (0.25, 1, 0.35, 0.0625),  # false positives are cheap: catch both positives, one FP
        (1, 10, 0.35, 0.25),  # a missed positive costs ten
    ],
)
def test_cheapest_threshold_agrees_with_the_hand_computation(cost_fp, cost_fn, threshold, cost):
    assert analysis.cheapest_threshold(Y, SCORES, cost_fp, cost_fn) == (threshold, pytest.approx(cost))


def test_flagging_nothing_can_be_cheapest():
    # One negative scored 0.9, one positive scored 0.2: the model ranks them the wrong way round.
    y, scores = np.array([0, 1]), np.array([0.9, 0.2])
    threshold, cost = analysis.cheapest_threshold(y, scores, cost_fp=2, cost_fn=1)
    assert math.isinf(threshold) and cost == pytest.approx(0.5)
    assert analysis.cheapest_threshold(y, scores, cost_fp=0.5, cost_fn=1) == (0.2, pytest.approx(0.25))
    with pytest.raises(ValueError):
        analysis.cheapest_threshold([1, 1], [0.2, 0.3], cost_fp=1, cost_fn=1)


def test_cheapest_threshold_is_the_minimum_over_every_threshold():
    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(2, 40))
        y = rng.integers(0, 2, size=n)
        if y.min() == y.max():
            continue
        scores = np.round(rng.random(n) + 0.3 * y, 1)  # rounded: ties between scores too
        cost_fp, cost_fn = float(rng.choice([0.25, 0.5, 1, 2, 4])), 1.0
        threshold, cost = analysis.cheapest_threshold(y, scores, cost_fp, cost_fn)
        every = {t: analysis.expected_cost(y, scores, t, cost_fp, cost_fn) for t in [*scores, np.inf]}
        assert cost == pytest.approx(min(every.values()))
        assert cost == pytest.approx(every[threshold])
        assert threshold == max(t for t, c in every.items() if np.isclose(c, cost)), "ties go to the highest threshold"


def test_changed_features_and_distance_by_hand():
    query = pd.DataFrame({"miles": [2.0], "hour": [8], "payment": ["Cash"]})
    rows = pd.DataFrame({"miles": [2.0, 5.0, 3.0], "hour": [8, 20, 8], "payment": ["Card", "Cash", "Cash"]})
    assert analysis.changed_features(query, rows) == [["payment"], ["miles", "hour"], ["miles"]]
    distance = analysis.counterfactual_distance(query, rows, scale={"miles": 2.0, "hour": 6.0}, categorical=["payment"])
    assert distance.tolist() == pytest.approx([1.0, 3 / 2 + 12 / 6, 1 / 2])
    with pytest.raises(ValueError):
        analysis.counterfactual_distance(query, rows, scale={"miles": 0.0}, categorical=[])


@pytest.fixture(scope="module")
def trained():
    trips = data.generate_trips(3_000, seed=3)
    return trips, model.train(trips.head(2_500), seed=0)


def test_feature_view_predicts_exactly_what_the_model_predicts(trained):
    trips, fitted = trained
    features = analysis.feature_frame(trips)
    assert list(features.columns) == model.FEATURES
    assert analysis.feature_frame(analysis.trips_from_features(features)).equals(features)
    direct = fitted.predict_proba(trips.drop(columns=[model.LABEL]))[:, 1]
    viewed = analysis.on_features(fitted).predict_proba(features)[:, 1]
    np.testing.assert_array_equal(direct, viewed)


def test_sweep_changes_one_feature_of_one_row(trained):
    trips, fitted = trained
    clf = analysis.on_features(fitted)
    row = analysis.feature_frame(trips).head(1)
    swept = analysis.sweep(clf, row, "payment_type", ["Cash", row["payment_type"].iloc[0]])
    assert swept["payment_type"].tolist() == ["Cash", row["payment_type"].iloc[0]]
    assert swept["probability"].iloc[1] == pytest.approx(clf.predict_proba(row)[0, 1])
    with pytest.raises(ValueError):
        analysis.sweep(clf, analysis.feature_frame(trips).head(2), "fare", [10.0])
