"""Training-serving skew and drift, planted on purpose (Part 9).

The course data from :func:`mlops_course.data.generate_trips` are clean: every
batch comes from the same distribution. The functions here break a batch the
way real systems break it, so that a validator has something to find:

- **schema skew**, serving data that no longer match the schema:
  :func:`rename_column`, :func:`change_type`;
- **feature skew**, the same feature computed differently at serving time:
  :func:`to_kilometres` (a unit change), :func:`merge_categories` (a
  preprocessing bug that maps some values onto others);
- **distribution skew and drift**, a population that changes:
  :func:`shift_population`, :func:`add_category`.

- **missing and out-of-range values**: :func:`drop_values`, :func:`set_values`.

Each function returns a new frame and leaves its input alone. The lab
writes the comparators' distances itself, in NumPy. What is not the lesson
is here: :func:`check_batch`, a small pandas version of TFDV's schema checks
with TFDV's anomaly names, so that the lab's checks run in a kernel without
TFDV (no arm64 wheels), and :func:`plot_comparison`, which draws batches side
by side. Nothing here needs TFDV, so these functions run (and are tested) in
either course environment.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Columns only known after the trip: a model server never receives them.
LABEL_COLUMNS = ("tips", "big_tip")

#: Kilometres in a mile (exact, by definition of the international mile).
KM_PER_MILE = 1.609344


# --- views of a batch -------------------------------------------------------------


def validation_view(trips: pd.DataFrame) -> pd.DataFrame:
    """The columns a data validator should look at.

    The trip id is dropped (a unique key has no distribution to compare), and
    the pickup time becomes ``pickup_hour`` (0-23), a feature whose
    distribution is comparable from one day to the next where a time stamp's
    is not. Other columns are kept as they are, including any a planted skew
    renamed or added.
    """
    out = trips.drop(columns=[c for c in ("trip_id",) if c in trips.columns])
    if "pickup_time" in out.columns:
        hours = pd.to_datetime(out["pickup_time"]).dt.hour.astype("int64")
        out = out.drop(columns=["pickup_time"])
        out.insert(0, "pickup_hour", hours)
    return out.reset_index(drop=True)


def serving_view(trips: pd.DataFrame) -> pd.DataFrame:
    """What a model server receives (and logs): the trip without its label columns."""
    return trips.drop(columns=[c for c in LABEL_COLUMNS if c in trips.columns])


# --- schema skew ------------------------------------------------------------------


def rename_column(df: pd.DataFrame, old: str, new: str) -> pd.DataFrame:
    """A column that arrives under another name (a client released with a renamed field)."""
    if old not in df.columns:
        raise KeyError(f"no column {old!r} to rename")
    if new in df.columns:
        raise ValueError(f"column {new!r} exists already")
    return df.rename(columns={old: new})


def change_type(df: pd.DataFrame, column: str, to: type | str = str) -> pd.DataFrame:
    """A column that arrives with another type (say, area numbers sent as text)."""
    out = df.copy()
    out[column] = out[column].astype(to)
    return out


# --- feature skew -----------------------------------------------------------------


def to_kilometres(df: pd.DataFrame, column: str = "trip_miles") -> pd.DataFrame:
    """A unit change: the serving side sends kilometres in a column trained on miles.

    The name and the type stay the same, so no schema check sees it; only the
    values are about 1.6 times larger.
    """
    out = df.copy()
    out[column] = (out[column] * KM_PER_MILE).round(2)
    return out


def to_miles(df: pd.DataFrame, column: str = "trip_miles") -> pd.DataFrame:
    """The fix for :func:`to_kilometres`: convert back to miles."""
    out = df.copy()
    out[column] = (out[column] / KM_PER_MILE).round(2)
    return out


def merge_categories(df: pd.DataFrame, column: str, mapping: Mapping[str, str]) -> pd.DataFrame:
    """A preprocessing bug: some values are mapped onto others (say, a lookup
    table at serving time that files mobile payments as credit card ones).

    Every value stays a valid one, so a schema's domain check passes; only the
    frequencies change.
    """
    out = df.copy()
    out[column] = out[column].replace(dict(mapping))
    return out


# --- distribution skew and drift --------------------------------------------------


def shift_population(
    df: pd.DataFrame,
    where: Callable[[pd.DataFrame], pd.Series] | pd.Series,
    factor: float,
    n_rows: int | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """A population shift: rows where ``where`` holds become ``factor`` times as likely.

    Draws ``n_rows`` rows (default: as many as ``df`` has) with
    replacement, weighting the selected rows by ``factor`` and the others by
    1. Every row is still a realistic trip; what changes is the mix, as when
    a new airport contract makes airport trips several times as common.
    ``where`` is a boolean Series aligned with ``df``, or a function that
    returns one. Draw from a pool several times larger than ``n_rows`` so
    that few rows are drawn twice: repeated rows make a batch look less
    varied than real traffic.
    """
    if factor <= 0:
        raise ValueError(f"factor must be positive, got {factor}")
    mask = where(df) if callable(where) else where
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != (len(df),):
        raise ValueError("where must select rows of df (one boolean per row)")
    weights = np.where(mask, float(factor), 1.0)
    rng = np.random.default_rng(seed)
    n = len(df) if n_rows is None else int(n_rows)
    rows = rng.choice(len(df), size=n, replace=True, p=weights / weights.sum())
    return df.iloc[np.sort(rows)].reset_index(drop=True)


def add_category(
    df: pd.DataFrame, column: str, value: str, share: float, seed: int = 0
) -> pd.DataFrame:
    """A new category takes ``share`` of the rows (say, a taxi company that starts operating)."""
    if not 0 < share < 1:
        raise ValueError(f"share must be between 0 and 1, got {share}")
    out = df.copy()
    rng = np.random.default_rng(seed)
    chosen = rng.random(len(out)) < share
    out.loc[chosen, column] = value
    return out


# --- values that go missing or out of range ----------------------------------------


def drop_values(df: pd.DataFrame, column: str, share: float, seed: int = 0) -> pd.DataFrame:
    """About ``share`` of the rows arrive without ``column`` (a field that became optional).

    An integer column becomes pandas' nullable ``Int64``, so the values that
    remain are still integers and a validator sees missing values, not a
    type change.
    """
    if not 0 < share < 1:
        raise ValueError(f"share must be between 0 and 1, got {share}")
    out = df.copy()
    if pd.api.types.is_integer_dtype(out[column]):
        out[column] = out[column].astype("Int64")
    chosen = np.random.default_rng(seed).random(len(out)) < share
    out.loc[chosen, column] = pd.NA if out[column].dtype == "Int64" else np.nan
    return out


def set_values(df: pd.DataFrame, column: str, value, share: float, seed: int = 0) -> pd.DataFrame:
    """About ``share`` of the rows carry ``value`` in ``column`` (say, a sentinel -1 for "not known yet")."""
    if not 0 < share < 1:
        raise ValueError(f"share must be between 0 and 1, got {share}")
    out = df.copy()
    chosen = np.random.default_rng(seed).random(len(out)) < share
    out.loc[chosen, column] = value
    return out


# --- a schema check in pandas, for kernels without TFDV --------------------------------

#: TFDV's anomaly type for a value below or above the domain, by feature type.
_OUT_OF_RANGE = {"INT": ("INT_TYPE_SMALL_INT", "INT_TYPE_BIG_INT"), "FLOAT": ("FLOAT_TYPE_SMALL_FLOAT", "FLOAT_TYPE_BIG_FLOAT")}


@dataclass
class Expectation:
    """What one feature must look like: a small subset of a TFDV schema entry.

    ``kind`` is INT, FLOAT or STRING; ``min_fraction`` the share of rows that
    must have a value; ``low`` and ``high`` a numeric range; ``values`` a
    string domain, of which at least ``min_domain_mass`` of the values must
    be members; ``environments`` where the feature exists.
    """

    kind: str
    min_fraction: float = 1.0
    low: float | None = None
    high: float | None = None
    values: set[str] | None = None
    min_domain_mass: float = 1.0
    environments: tuple[str, ...] = ("TRAINING", "SERVING")


def kind_of(column: pd.Series) -> str:
    """INT, FLOAT or STRING, as TFDV names the type of a pandas column."""
    if pd.api.types.is_bool_dtype(column) or pd.api.types.is_integer_dtype(column):
        return "INT"
    if pd.api.types.is_float_dtype(column):
        return "FLOAT"
    return "STRING"


def infer_expectations(df: pd.DataFrame, max_domain: int = 20) -> dict[str, Expectation]:
    """A first draft, as ``tfdv.infer_schema`` writes one: each column's type, required in
    every row, and a domain for a string column with at most ``max_domain`` distinct values."""
    out = {}
    for name in df.columns:
        kind = kind_of(df[name])
        values = set(df[name].dropna().astype(str)) if kind == "STRING" and df[name].nunique() <= max_domain else None
        out[name] = Expectation(kind=kind, values=values)
    return out


def check_batch(df: pd.DataFrame, expected: Mapping[str, Expectation], environment: str | None) -> dict[str, list[str]]:
    """The anomalies of ``df`` against ``expected`` in ``environment``, as
    ``{feature: [anomaly types]}`` with TFDV's names for the same findings.

    With ``environment=None`` every feature is expected, as TFDV expects
    every feature of a schema when no environment is named.
    """
    found: dict[str, list[str]] = {}
    for name, want in expected.items():
        if environment is not None and environment not in want.environments:
            continue
        if name not in df.columns:
            found[name] = ["SCHEMA_MISSING_COLUMN"]
            continue
        column, reasons = df[name], []
        if kind_of(column) != want.kind:
            reasons.append("UNEXPECTED_DATA_TYPE")
        elif want.kind in _OUT_OF_RANGE:
            small, big = _OUT_OF_RANGE[want.kind]
            if want.low is not None and (column < want.low).any():
                reasons.append(small)
            if want.high is not None and (column > want.high).any():
                reasons.append(big)
        elif want.values is not None:
            present = column.dropna().astype(str)
            if len(present) and (~present.isin(want.values)).mean() > 1 - want.min_domain_mass + 1e-12:
                reasons.append("ENUM_TYPE_UNEXPECTED_STRING_VALUES")
        if column.notna().mean() < want.min_fraction:
            reasons.append("FEATURE_TYPE_LOW_FRACTION_PRESENT")
        if reasons:
            found[name] = sorted(reasons)
    for name in df.columns:
        if name not in expected:
            found[name] = ["SCHEMA_NEW_COLUMN"]
    return dict(sorted(found.items()))


def frequencies(values: pd.Series) -> pd.Series:
    """The share of each distinct value, as a Series indexed by value."""
    return values.astype(str).value_counts(normalize=True).sort_index()


# --- a static picture -------------------------------------------------------------


def plot_comparison(
    batches: Mapping[str, pd.DataFrame],
    numeric: Sequence[str] = (),
    categorical: Sequence[str] = (),
    bins: int = 30,
    upper_quantile: float = 0.99,
):
    """Histograms of ``numeric`` and share-of-value bars of ``categorical`` columns, one
    colour per batch, on one matplotlib figure (returned). A column a batch lacks
    is left out of that batch's picture, and the panel says so.

    Trip distances and fares have long tails; the histograms stop at the
    largest ``upper_quantile`` of the batches (1 shows everything) so that
    the bulk of the distribution is visible.
    """
    import matplotlib.pyplot as plt

    columns = [*numeric, *categorical]
    if not columns:
        raise ValueError("name at least one numeric or categorical column")
    fig, axes = plt.subplots(1, len(columns), figsize=(4.2 * len(columns), 3.2), squeeze=False)
    names = list(batches)
    for ax, column in zip(axes[0], columns):
        present = [n for n in names if column in batches[n].columns]
        missing = [n for n in names if n not in present]
        if column in numeric:
            values = [pd.to_numeric(batches[n][column], errors="coerce").dropna() for n in present]
            lo = min((v.min() for v in values if len(v)), default=0.0)
            hi = max((v.quantile(upper_quantile) for v in values if len(v)), default=1.0)
            edges = np.linspace(lo, hi if hi > lo else lo + 1, bins + 1)
            for n, v in zip(present, values):
                ax.hist(v, bins=edges, density=True, histtype="step", linewidth=1.6, label=n)
            ax.set_ylabel("density")
            if upper_quantile < 1:
                ax.set_xlabel(f"up to the {upper_quantile:.0%} quantile", fontsize=8)
        else:
            shares = pd.DataFrame({n: frequencies(batches[n][column]) for n in present}).fillna(0.0)
            shares.plot.bar(ax=ax, width=0.8, legend=False)
            ax.set_ylabel("share of rows")
            ax.tick_params(axis="x", labelrotation=60, labelsize=8)
        title = column if not missing else f"{column}\n(missing in: {', '.join(missing)})"
        ax.set_title(title, fontsize=10)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    return fig
