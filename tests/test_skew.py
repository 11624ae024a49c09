"""The skew planters break a batch in exactly one way each, and the distances
match their definitions (Part 9 relies on both)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

from mlops_course import data, skew


@pytest.fixture(scope="module")
def trips():
    return data.generate_trips(3_000, seed=11)


def test_validation_view_drops_the_key_and_turns_the_time_into_an_hour(trips):
    view = skew.validation_view(trips)
    assert "trip_id" not in view.columns and "pickup_time" not in view.columns
    assert view["pickup_hour"].between(0, 23).all()
    assert view["pickup_hour"].dtype == np.int64
    assert (view["pickup_hour"].to_numpy() == trips["pickup_time"].dt.hour.to_numpy()).all()
    assert set(view.columns) == set(data.COLUMNS) - {"trip_id", "pickup_time"} | {"pickup_hour"}


def test_serving_view_has_no_label(trips):
    served = skew.serving_view(trips)
    assert not set(skew.LABEL_COLUMNS) & set(served.columns)
    assert len(served) == len(trips)
    assert skew.serving_view(served).equals(served), "a second call changes nothing"


def test_planters_leave_their_input_alone(trips):
    before = trips.copy()
    skew.rename_column(trips, "payment_type", "payment_method")
    skew.change_type(trips, "pickup_area", str)
    skew.to_kilometres(trips)
    skew.merge_categories(trips, "payment_type", {"Mobile": "Credit Card"})
    skew.shift_population(trips, trips["dropoff_area"].isin(data.AIRPORT_AREAS), 5)
    skew.add_category(trips, "company", "Lakeview Cab", 0.1)
    pd.testing.assert_frame_equal(trips, before)


def test_schema_skew(trips):
    renamed = skew.rename_column(trips, "payment_type", "payment_method")
    assert "payment_type" not in renamed.columns
    assert renamed["payment_method"].equals(trips["payment_type"])
    with pytest.raises(KeyError):
        skew.rename_column(trips, "no_such_column", "x")
    with pytest.raises(ValueError):
        skew.rename_column(trips, "fare", "tips")
    as_text = skew.change_type(trips, "pickup_area", str)
    assert as_text["pickup_area"].map(type).eq(str).all()
    assert (as_text["pickup_area"].astype(int) == trips["pickup_area"]).all()


def test_unit_change_and_its_fix(trips):
    km = skew.to_kilometres(trips)
    ratio = km["trip_miles"] / trips["trip_miles"]
    assert np.allclose(ratio, skew.KM_PER_MILE, rtol=0.05)
    assert km.drop(columns="trip_miles").equals(trips.drop(columns="trip_miles"))
    back = skew.to_miles(km)
    assert np.allclose(back["trip_miles"], trips["trip_miles"], atol=0.01)


def test_merged_categories_change_only_frequencies(trips):
    merged = skew.merge_categories(trips, "payment_type", {"Mobile": "Credit Card", "Prcard": "Credit Card"})
    assert set(merged["payment_type"]) == set(trips["payment_type"]) - {"Mobile", "Prcard"}
    moved = trips["payment_type"].isin(["Mobile", "Prcard"]).mean()
    distance, worst = skew.l_infinity(trips["payment_type"], merged["payment_type"])
    assert worst == "Credit Card"
    assert distance == pytest.approx(moved)


def test_population_shift_changes_the_mix_not_the_rows(trips):
    airport = trips["dropoff_area"].isin(data.AIRPORT_AREAS)
    shifted = skew.shift_population(trips, lambda d: d["dropoff_area"].isin(data.AIRPORT_AREAS), 6, n_rows=2_000, seed=1)
    assert len(shifted) == 2_000
    assert set(shifted["trip_id"]) <= set(trips["trip_id"]), "every row is a real trip of the input"
    share_before = airport.mean()
    share_after = shifted["dropoff_area"].isin(data.AIRPORT_AREAS).mean()
    expected = 6 * share_before / (6 * share_before + (1 - share_before))
    assert share_after == pytest.approx(expected, abs=0.04)
    again = skew.shift_population(trips, airport, 6, n_rows=2_000, seed=1)
    assert again.equals(shifted), "the same seed gives the same batch"
    with pytest.raises(ValueError):
        skew.shift_population(trips, airport, 0)
    with pytest.raises(ValueError):
        skew.shift_population(trips, airport.to_numpy()[:10], 2)


def test_new_category_takes_its_share(trips):
    added = skew.add_category(trips, "company", "Lakeview Cab", 0.1, seed=3)
    assert (added["company"] == "Lakeview Cab").mean() == pytest.approx(0.1, abs=0.02)
    assert added.drop(columns="company").equals(trips.drop(columns="company"))
    with pytest.raises(ValueError):
        skew.add_category(trips, "company", "X", 1.5)


def test_l_infinity_by_hand():
    a = pd.Series(["x"] * 5 + ["y"] * 5)
    b = pd.Series(["x"] * 2 + ["y"] * 6 + ["z"] * 2)
    distance, worst = skew.l_infinity(a, b)
    assert distance == pytest.approx(0.3) and worst == "x"
    assert skew.l_infinity(a, a) == (0.0, "x")


def test_jensen_shannon_bounds_and_symmetry():
    rng = np.random.default_rng(0)
    x, y = rng.normal(0, 1, 5_000), rng.normal(0, 1, 5_000)
    assert skew.jensen_shannon(x, x) == pytest.approx(0.0)
    assert skew.jensen_shannon(x, y) < 0.01, "two samples of one distribution are close"
    far = skew.jensen_shannon(x, x + 100)
    assert far == pytest.approx(1.0), "disjoint supports give the maximum, 1 (base 2)"
    shifted = x + 1
    assert skew.jensen_shannon(x, shifted) == pytest.approx(skew.jensen_shannon(shifted, x))
    assert 0.05 < skew.jensen_shannon(x, shifted) < 1
    assert skew.jensen_shannon([1, 1], [1, 1]) == 0.0
    with pytest.raises(ValueError):
        skew.jensen_shannon([], [1.0])


def test_unit_change_moves_the_distribution_more_than_sampling_does(trips):
    other = data.generate_trips(3_000, seed=12)
    noise = skew.jensen_shannon(trips["trip_miles"], other["trip_miles"], bins=50)
    unit = skew.jensen_shannon(trips["trip_miles"], skew.to_kilometres(other)["trip_miles"], bins=50)
    assert unit > 3 * noise


def test_plot_comparison_draws_one_panel_per_column(trips):
    renamed = skew.rename_column(trips, "payment_type", "payment_method")
    fig = skew.plot_comparison(
        {"training": trips, "serving": renamed}, numeric=["trip_miles"], categorical=["payment_type"]
    )
    try:
        axes = fig.get_axes()
        assert len(axes) == 2
        assert "missing in: serving" in axes[1].get_title()
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)
    with pytest.raises(ValueError):
        skew.plot_comparison({"training": trips})
