"""The course data generator, model, split and run records behave as the labs promise."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

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


def test_generator_rejects_an_empty_request():
    with pytest.raises(ValueError, match="at least 1"):
        data.generate_trips(0)


@pytest.mark.parametrize("kind", ["gbdt", "logistic"])
def test_model_learns_the_label(trips, kind):
    assigned = split.hash_split(trips["trip_id"]).to_numpy()
    fitted = model.train(trips[assigned == "train"], seed=0, kind=kind)
    metrics = model.evaluate(fitted, trips[assigned != "train"])
    assert metrics["roc_auc"] > 0.65
    assert metrics["accuracy"] > 1 - trips["big_tip"].mean() - 0.02  # at least the majority-class rate


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
