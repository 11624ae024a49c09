"""The skew planters break a batch in exactly one way each, and the distances
match their definitions (Part 9 relies on both)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import json
from pathlib import Path

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
    gained = (merged["payment_type"] == "Credit Card").mean() - (trips["payment_type"] == "Credit Card").mean()
    assert gained == pytest.approx(moved)


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


def test_dropped_and_sentinel_values(trips):
    dropped = skew.drop_values(trips, "dropoff_area", 0.2, seed=1)
    assert dropped["dropoff_area"].dtype == "Int64", "integers stay integers, with missing values"
    assert dropped["dropoff_area"].isna().mean() == pytest.approx(0.2, abs=0.03)
    kept = dropped["dropoff_area"].notna()
    assert (dropped.loc[kept, "dropoff_area"].astype(int) == trips.loc[kept, "dropoff_area"]).all()
    assert skew.drop_values(trips, "fare", 0.1)["fare"].isna().any()
    sentinel = skew.set_values(trips, "fare", -1.0, 0.05, seed=2)
    changed = sentinel["fare"] != trips["fare"]
    assert (sentinel.loc[changed, "fare"] == -1.0).all() and changed.mean() == pytest.approx(0.05, abs=0.02)
    for planter in (skew.drop_values, lambda df, c, s: skew.set_values(df, c, 0, s)):
        with pytest.raises(ValueError):
            planter(trips, "fare", 1.0)


@pytest.fixture(scope="module")
def expected(trips):
    view = skew.validation_view(trips)
    out = skew.infer_expectations(view)
    for label in skew.LABEL_COLUMNS:
        out[label].environments = ("TRAINING",)
    out["fare"].low = 0.0
    out["pickup_hour"].low, out["pickup_hour"].high = 0, 23
    out["dropoff_area"].min_fraction = 0.9
    out["company"].min_domain_mass = 0.95
    return out


def test_inferred_expectations_describe_the_training_data(trips, expected):
    assert expected["trip_miles"].kind == "FLOAT" and expected["trip_seconds"].kind == "INT"
    assert expected["payment_type"].kind == "STRING" and expected["payment_type"].values == set(trips["payment_type"])
    assert skew.check_batch(skew.validation_view(trips), expected, "TRAINING") == {}


def test_check_batch_finds_each_planted_problem_with_tfdv_names(trips, expected):
    served = skew.serving_view(trips)

    def check(batch, environment="SERVING"):
        return skew.check_batch(skew.validation_view(batch), expected, environment)

    assert check(served) == {}
    assert check(served, None) == {label: ["SCHEMA_MISSING_COLUMN"] for label in skew.LABEL_COLUMNS}
    renamed = skew.change_type(skew.rename_column(served, "payment_type", "payment_method"), "pickup_area", str)
    assert check(renamed) == {
        "payment_method": ["SCHEMA_NEW_COLUMN"], "payment_type": ["SCHEMA_MISSING_COLUMN"], "pickup_area": ["UNEXPECTED_DATA_TYPE"],
    }
    assert check(skew.drop_values(served, "dropoff_area", 0.3)) == {"dropoff_area": ["FEATURE_TYPE_LOW_FRACTION_PRESENT"]}
    assert check(skew.drop_values(served, "dropoff_area", 0.03)) == {}, "within the allowed presence"
    assert check(skew.set_values(served, "fare", -1.0, 0.02)) == {"fare": ["FLOAT_TYPE_SMALL_FLOAT"]}
    late = skew.set_values(skew.validation_view(served), "pickup_hour", 24, 0.02)
    assert skew.check_batch(late, expected, "SERVING") == {"pickup_hour": ["INT_TYPE_BIG_INT"]}
    assert check(skew.add_category(served, "company", "New Cab", 0.2)) == {"company": ["ENUM_TYPE_UNEXPECTED_STRING_VALUES"]}
    assert check(skew.add_category(served, "company", "New Cab", 0.01, seed=4)) == {}, "within min_domain_mass"


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


LAB = Path(__file__).resolve().parents[1] / "solutions" / "09-training-serving-skew.ipynb"
TFDV_PYTHON = Path(__file__).resolve().parents[1] / "envs" / "tfdv" / ".venv" / "bin" / "python"

# Imported by the kernel at start-up (it is on PYTHONPATH): TFDV then fails to
# import as it does on an arm64 machine, where it has no wheels.
BLOCK_TFDV = """
import sys

class NoTFDV:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow_data_validation", "tfx_bsl"):
            raise ImportError(f"{name} is blocked by the test (as on arm64, where it has no wheels)")
        return None

sys.meta_path.insert(0, NoTFDV())
"""


@pytest.mark.skipif(not TFDV_PYTHON.exists(), reason="the TFDV environment is not installed (scripts/course setup)")
def test_the_skew_lab_runs_without_tfdv(tmp_path, monkeypatch):
    """The arm64 path, for real: the whole lab in its own kernel with TFDV unimportable."""
    import papermill

    (tmp_path / "sitecustomize.py").write_text(BLOCK_TFDV)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    out = tmp_path / "ran.ipynb"
    papermill.execute_notebook(str(LAB), str(out), cwd=str(LAB.parent), progress_bar=False)
    cells = json.loads(out.read_text())["cells"]
    printed = "".join(
        "".join(o.get("text", "")) for c in cells if c["cell_type"] == "code" for o in c.get("outputs", [])
    )
    assert "TFDV is not installed in this kernel" in printed and "the TFDV cells are skipped" in printed
    assert "TFDV 1.16" not in printed, "TFDV was imported although the test blocked it"
    checks = [c for c in cells if "check" in c["metadata"].get("tags", [])]
    passed = [c for c in checks if any("✓" in "".join(o.get("text", "")) for o in c.get("outputs", []))]
    assert len(passed) == len(checks), f"{len(checks) - len(passed)} check cells printed no ✓ without TFDV"
