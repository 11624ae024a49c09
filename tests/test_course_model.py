"""The course data generator, model, split and run records behave as the labs promise."""

from __future__ import annotations

import subprocess

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier

from mlops_course import data, model, split, tracking


@pytest.fixture(scope="module")
def trips():
    return data.generate_trips(6_000, seed=7)


def test_generator_is_deterministic_and_seeded(trips):
    assert trips.equals(data.generate_trips(6_000, seed=7))
    assert not trips.equals(data.generate_trips(6_000, seed=8))
    assert list(trips.columns) == data.COLUMNS
    assert trips["trip_id"].is_unique


def test_generator_is_prefix_stable(trips):
    more = data.generate_trips(7_500, seed=7)
    pd.testing.assert_frame_equal(more.head(6_000), trips)


def test_generated_trips_are_plausible(trips):
    assert trips["fare"].min() >= 3.25
    assert (trips["trip_seconds"] > 0).all()
    assert trips["fare"].corr(trips["trip_miles"]) > 0.8
    assert 0.1 < trips["big_tip"].mean() < 0.35
    by_payment = trips.groupby("payment_type")["big_tip"].mean()
    assert by_payment["Cash"] < 0.05 < by_payment["Credit Card"]
    assert (trips["big_tip"] == (trips["tips"] > data.BIG_TIP_FRACTION * trips["fare"])).all()
    assert set(trips["pickup_area"]) <= set(range(1, data.N_AREAS + 1))


def test_tips_carry_the_signals_the_book_describes():
    trips = data.generate_trips(40_000, seed=3)
    card = trips[trips["payment_type"] == "Credit Card"]
    tipped = card[card["tips"] > 0]
    share = (tipped["tips"] / tipped["fare"]).round(2)
    assert share.isin([0.15, 0.2, 0.25, 0.3]).mean() > 0.5, "card tips cluster at the reader's presets"
    assert (trips.loc[trips["payment_type"] == "Cash", "tips"] == 0).mean() > 0.9, "cash tips are mostly not recorded"
    hour = card["pickup_time"].dt.hour
    evening, daytime = card[(hour >= 19) | (hour <= 2)], card[hour.between(10, 17)]
    assert evening["big_tip"].mean() > daytime["big_tip"].mean() + 0.1
    airport = card["dropoff_area"].isin(data.AIRPORT_AREAS)
    assert card.loc[airport, "big_tip"].mean() < card.loc[~airport, "big_tip"].mean() - 0.1
    assert card.loc[card["fare"] < 8, "big_tip"].mean() > card.loc[card["fare"] > 15, "big_tip"].mean() + 0.1, "round-dollar tips on short rides"
    by_company = trips.groupby("company")["big_tip"].mean()
    assert by_company.idxmin() == "Independent"


def test_generator_rejects_an_empty_request():
    with pytest.raises(ValueError, match="at least 1"):
        data.generate_trips(0)


@pytest.fixture(scope="module")
def lab_split():
    """Lab 1's default table and hash split: the size the course's figures come from."""
    trips = data.generate_trips(10_000, seed=42)
    assigned = split.hash_split(trips["trip_id"]).to_numpy()
    return trips[assigned == "train"], trips[assigned == "valid"]


def test_evaluate_leads_with_ranking_and_reports_the_baseline(lab_split):
    train_rows, valid_rows = lab_split
    metrics = model.evaluate(model.train(train_rows, max_iter=20), valid_rows)
    assert list(metrics) == ["roc_auc", "log_loss", "accuracy", "baseline_log_loss", "baseline_accuracy"]
    share = valid_rows[model.LABEL].mean()
    assert metrics["baseline_accuracy"] == pytest.approx(max(share, 1 - share), abs=1e-4)
    # A classifier that knows only the base rate scores exactly the baseline,
    # by default the validation rows' own share, or the one it was trained on.
    for rows, base_rate in ((valid_rows, None), (train_rows, train_rows[model.LABEL].mean())):
        constant = DummyClassifier(strategy="prior").fit(rows.drop(columns=[model.LABEL]), rows[model.LABEL])
        flat = model.evaluate(constant, valid_rows, base_rate=base_rate)
        assert flat["roc_auc"] == 0.5
        assert flat["log_loss"] == flat["baseline_log_loss"] and flat["accuracy"] == flat["baseline_accuracy"]
    with pytest.raises(ValueError, match="base_rate"):
        model.evaluate(constant, valid_rows, base_rate=1.0)


@pytest.mark.parametrize("kind, margin", [("gbdt", 0.05), ("logistic", 0.03)])
def test_model_beats_the_majority_class_baseline_clearly(lab_split, kind, margin):
    train_rows, valid_rows = lab_split
    metrics = model.evaluate(model.train(train_rows, seed=0, kind=kind), valid_rows)
    assert metrics["roc_auc"] > 0.8
    assert metrics["log_loss"] < metrics["baseline_log_loss"] - 0.1
    assert metrics["accuracy"] > metrics["baseline_accuracy"] + margin, "at the 0.5 threshold the model must beat 'never a big tip'"


def test_hyperparameters_move_validation_roc_auc(lab_split):
    """Parts 7 and 8 tune this model: a search must have something to find."""
    train_rows, valid_rows = lab_split

    def auc(kind="gbdt", **params):
        return model.evaluate(model.train(train_rows, seed=0, kind=kind, **params), valid_rows)["roc_auc"]

    default = auc()
    assert default - auc(max_depth=1, learning_rate=0.01, max_iter=30) > 0.05, "an underfitting model must score clearly worse"
    assert default - auc(learning_rate=1.0) > 0.05, "an overfitting model must score clearly worse"
    assert auc("logistic", C=1.0) - auc("logistic", C=0.001) > 0.02, "strong regularisation must cost the linear model"


def test_unknown_model_kind_is_a_clear_error():
    with pytest.raises(ValueError, match="gbdt"):
        model.build_model(kind="forest")


def test_hash_split_is_stable_and_sized():
    keys = [f"k{i}" for i in range(20_000)]
    a = split.hash_split(keys)
    assert (a == split.hash_split(list(reversed(keys))).reindex(a.index)).all()
    shares = a.value_counts(normalize=True)
    assert abs(shares["train"] - 0.8) < 0.01 and abs(shares["test"] - 0.1) < 0.01
    assert split.hash_bucket("k1") == split.hash_bucket("k1") and 0 <= split.hash_bucket("k1") < 100


@pytest.mark.parametrize("fractions", [(0.8, 0.1), (0.5, 0.3, 0.3), (0.805, 0.095, 0.1)])
def test_hash_split_rejects_bad_fractions(fractions):
    with pytest.raises(ValueError):
        split.hash_split(["a", "b"], fractions=fractions)


def test_random_split_moves_rows_when_data_grows():
    today = split.random_split(5_000)
    assert dict(zip(*np.unique(today, return_counts=True))) == {"train": 4000, "valid": 500, "test": 500}
    tomorrow = split.random_split(6_000)[:5_000]
    assert (today != tomorrow).mean() > 0.1


def test_fingerprints_and_run_records(trips):
    assert tracking.fingerprint_frame(trips) == tracking.fingerprint_frame(trips.copy())
    assert tracking.fingerprint_frame(trips) != tracking.fingerprint_frame(trips.rename(columns={"fare": "cost"}))
    small = trips.head(1_500)
    probe = small.drop(columns=[model.LABEL]).head(50)
    records = []
    for _ in range(2):
        fitted = model.train(small, seed=1, max_iter=20)
        records.append(
            tracking.run_record(data=small, params={"max_iter": 20}, metrics=model.evaluate(fitted, small), model=fitted, probe=probe)
        )
    assert tracking.reproducible_part(records[0]) == tracking.reproducible_part(records[1])
    assert records[0]["environment"]["python"].startswith("3.11")
    with pytest.raises(ValueError, match="probe"):
        tracking.run_record(data=small, params={}, metrics={}, model=fitted)


def test_code_version_is_dirty_only_when_the_training_code_changed(tmp_path, monkeypatch):
    def git(*args):
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    (tmp_path / "mlops_course").mkdir()
    (tmp_path / "mlops_course" / "model.py").write_text("x = 1\n")
    (tmp_path / "lab.ipynb").write_text("{}\n")
    git("init", "-q")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-q", "-m", "start")
    monkeypatch.setattr(tracking, "REPO_ROOT", tmp_path)
    clean = tracking.code_version()
    assert clean and not clean.endswith("-dirty")
    (tmp_path / "lab.ipynb").write_text('{"outputs": []}\n')  # a notebook rewrites itself as it runs
    assert tracking.code_version() == clean
    (tmp_path / "mlops_course" / "model.py").write_text("x = 2\n")
    assert tracking.code_version() == clean + "-dirty"
    monkeypatch.setattr(tracking, "REPO_ROOT", tmp_path / "missing")
    assert tracking.code_version().startswith("unknown")
