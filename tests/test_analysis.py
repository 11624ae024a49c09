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
#   0.4     1  1  1   (0.5, 0.5)    2/4 = 0.5    <- below the convex hull
#   0.35    2  1  0   (0.5, 1  )    1/4 = 0.25
#   0.1     2  2  0   (1,   1  )    2/4 = 0.5
Y = np.array([0, 0, 1, 1])
SCORES = np.array([0.1, 0.4, 0.35, 0.8])


def test_confusion_counts_and_expected_cost_by_hand():
    assert analysis.confusion_counts(Y, SCORES, 0.4) == {"tp": 1, "fp": 1, "tn": 1, "fn": 1}
    assert analysis.confusion_counts(Y, SCORES, 0.35) == {"tp": 2, "fp": 1, "tn": 1, "fn": 0}
    # score >= threshold is positive: a score equal to the threshold counts.
    assert analysis.confusion_counts(Y, SCORES, 0.8)["tp"] == 1
    assert analysis.expected_cost(Y, SCORES, 0.4, cost_fp=3, cost_fn=1) == pytest.approx((3 * 1 + 1 * 1) / 4)
    assert analysis.expected_cost(Y, SCORES, 0.35, cost_fp=0.25, cost_fn=1) == pytest.approx(0.25 / 4)


def test_cost_sweep_lists_every_threshold_with_its_cost():
    table = analysis.cost_sweep(Y, SCORES, cost_fp=1, cost_fn=1)
    assert math.isinf(table["threshold"].iloc[0])
    assert table["threshold"].iloc[1:].tolist() == [0.8, 0.4, 0.35, 0.1]
    assert table["fp"].tolist() == [0, 0, 1, 1, 2]
    assert table["fn"].tolist() == [2, 1, 1, 0, 0]
    assert table["cost"].tolist() == pytest.approx([0.5, 0.25, 0.5, 0.25, 0.5])


@pytest.mark.parametrize(
    "cost_fp, cost_fn, threshold, cost",
    [
        (1, 1, 0.8, 0.25),  # a tie between 0.8 and 0.35: the higher threshold wins
        (3, 1, 0.8, 0.25),  # false positives are dear: no false positive at all
        (0.25, 1, 0.35, 0.0625),  # false positives are cheap: catch both positives, one FP
        (1, 10, 0.35, 0.25),  # a missed positive costs ten
    ],
)
def test_both_ways_to_the_threshold_agree_with_the_hand_computation(cost_fp, cost_fn, threshold, cost):
    for found in (
        analysis.threshold_by_sweep(Y, SCORES, cost_fp, cost_fn),
        analysis.threshold_by_roc(Y, SCORES, cost_fp, cost_fn),
    ):
        assert found.threshold == threshold
        assert found.cost == pytest.approx(cost)


def test_predicting_nothing_or_everything_can_be_cheapest():
    # One negative scored 0.9, one positive scored 0.2: the model ranks them the wrong way round.
    y, scores = np.array([0, 1]), np.array([0.9, 0.2])
    for method in (analysis.threshold_by_sweep, analysis.threshold_by_roc):
        dear_fp = method(y, scores, cost_fp=2, cost_fn=1)
        assert math.isinf(dear_fp.threshold) and dear_fp.cost == pytest.approx(0.5)
        cheap_fp = method(y, scores, cost_fp=0.5, cost_fn=1)
        assert cheap_fp.threshold == 0.2 and cheap_fp.cost == pytest.approx(0.25)


def test_convex_hull_drops_the_point_below_it():
    fpr = [0, 0, 0.5, 0.5, 1]
    tpr = [0, 0.5, 0.5, 1, 1]
    assert analysis.roc_convex_hull(fpr, tpr).tolist() == [0, 1, 3, 4]
    # Collinear points on the diagonal are not vertices.
    assert analysis.roc_convex_hull([0, 1, 2, 3], [0, 1, 2, 3]).tolist() == [0, 3]
    with pytest.raises(ValueError):
        analysis.roc_convex_hull([0, 1, 0.5], [0, 1, 1])


def test_iso_cost_slope_and_bayes_threshold():
    # 2 negatives, 2 positives: slope = cost_fp * 2 / (cost_fn * 2).
    assert analysis.iso_cost_slope(Y, cost_fp=3, cost_fn=1) == pytest.approx(3.0)
    # 3 negatives, 1 positive: equal costs, yet the slope is 3.
    assert analysis.iso_cost_slope([0, 0, 0, 1], cost_fp=1, cost_fn=1) == pytest.approx(3.0)
    assert analysis.bayes_threshold(1, 1) == 0.5
    assert analysis.bayes_threshold(3, 1) == 0.75
    assert analysis.bayes_threshold(0.25, 1) == pytest.approx(0.2)
    with pytest.raises(ValueError):
        analysis.bayes_threshold(0, 0)
    with pytest.raises(ValueError):
        analysis.threshold_by_sweep([1, 1], [0.2, 0.3], cost_fp=1)


def test_sweep_and_roc_agree_on_many_random_problems():
    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(2, 40))
        y = rng.integers(0, 2, size=n)
        if y.min() == y.max():
            continue
        scores = np.round(rng.random(n) + 0.3 * y, 1)  # rounded: ties between scores too
        ratio = float(rng.choice([0.25, 0.5, 1, 2, 4]))
        swept = analysis.threshold_by_sweep(y, scores, ratio)
        geometric = analysis.threshold_by_roc(y, scores, ratio)
        assert geometric.cost == pytest.approx(swept.cost)
        assert geometric.threshold == swept.threshold
        assert swept.cost == pytest.approx(min(analysis.expected_cost(y, scores, t, ratio) for t in [*scores, np.inf]))


def test_slice_metrics_by_hand():
    y = [1, 0, 1, 0, 0, 0]
    scores = [0.9, 0.2, 0.4, 0.6, 0.1, 0.3]
    groups = ["a", "a", "a", "b", "b", "b"]
    table = analysis.slice_metrics(y, scores, groups)
    assert table.index.tolist() == ["a", "b", "(all)"]
    assert table["rows"].tolist() == [3, 3, 6]
    assert table["positive_rate"].tolist() == pytest.approx([2 / 3, 0, 1 / 3])
    # a: predictions 1, 0, 0 against 1, 0, 1; b: 1, 0, 0 against 0, 0, 0.
    assert table["accuracy"].tolist() == pytest.approx([2 / 3, 2 / 3, 4 / 6])
    assert table.loc["a", "roc_auc"] == pytest.approx(1.0)
    assert math.isnan(table.loc["b", "roc_auc"]), "one class only: no ROC AUC"
    # All: 0.9 beats the four negatives, 0.4 beats three of them (not 0.6): 7 of 8 pairs.
    assert table.loc["(all)", "roc_auc"] == pytest.approx(7 / 8)


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
