"""The course data set: Chicago-style taxi trips, generated, never downloaded.

Every later part trains on, serves, and checks for skew in data from
:func:`generate_trips`, so the generator is deterministic: the same
``(n_rows, seed)`` always gives the same table, on any machine.

It is also *prefix stable*: ``generate_trips(n + k, seed)`` starts with the
``n`` rows of ``generate_trips(n, seed)``. Each column draws from its own
random stream, so asking for more rows appends rows instead of reshuffling
the old ones. That is how "tomorrow's table is today's plus new trips" is
simulated in the labs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Payment types and how often they occur. Cash tips are rarely recorded in
#: the real data, which makes payment type the strongest single signal.
PAYMENT_TYPES = {"Credit Card": 0.52, "Cash": 0.33, "Mobile": 0.08, "Prcard": 0.05, "Unknown": 0.02}

#: Fictional taxi companies with their share of trips.
COMPANIES = {
    "Lakeshore Cab": 0.22,
    "Prairie Taxi Co": 0.18,
    "Windy City Rides": 0.15,
    "Loop Transit": 0.12,
    "Northside Cab": 0.10,
    "Southport Taxi": 0.09,
    "Midway Express": 0.08,
    "Independent": 0.06,
}

#: Chicago has 77 community areas; 76 is O'Hare airport, 56 is Midway.
N_AREAS = 77
AIRPORT_AREAS = (76, 56)

#: The columns :func:`generate_trips` returns, in order.
COLUMNS = [
    "trip_id",
    "pickup_time",
    "trip_miles",
    "trip_seconds",
    "fare",
    "payment_type",
    "company",
    "pickup_area",
    "dropoff_area",
    "tips",
    "big_tip",
]

#: The label: a tip of more than this fraction of the fare.
BIG_TIP_FRACTION = 0.2


#: Every random draw has its own stream, named here; a draw that shared a
#: stream would shift all later draws when n_rows grows.
_DRAWS = [
    "day", "hour", "minute", "pickup_area", "to_airport", "airport", "dropoff_area", "miles",
    "airport_miles", "mph", "overhead", "fare_noise", "payment", "company", "tip_share", "tipped",
]


def _streams(seed: int, names: list[str]) -> dict[str, np.random.Generator]:
    """One independent random stream per column: the key to prefix stability."""
    children = np.random.SeedSequence(seed).spawn(len(names))
    return {name: np.random.default_rng(child) for name, child in zip(names, children)}


def _choice(rng: np.random.Generator, table: dict[str, float], n: int) -> np.ndarray:
    labels = np.array(list(table))
    p = np.array(list(table.values()))
    return labels[rng.choice(len(labels), size=n, p=p / p.sum())]


def generate_trips(n_rows: int = 10_000, seed: int = 42, start: str = "2024-01-01") -> pd.DataFrame:
    """Make ``n_rows`` taxi trips with realistic distributions and correlations.

    Columns are listed in :data:`COLUMNS`. ``big_tip`` is the label: ``tips``
    over :data:`BIG_TIP_FRACTION` of ``fare``.
    """
    if n_rows < 1:
        raise ValueError(f"n_rows must be at least 1, got {n_rows}")
    n = int(n_rows)
    r = _streams(seed, _DRAWS)

    # Trips spread over 90 days, busier in the day than at night.
    day = r["day"].integers(0, 90, size=n)
    hour = r["hour"].choice(24, size=n, p=_hour_profile())
    minute = r["minute"].integers(0, 60, size=n)
    pickup_time = pd.Timestamp(start) + pd.to_timedelta(day * 86400 + hour * 3600 + minute * 60, unit="s")

    # Downtown areas (8, 32, 28) dominate pickups; a share of trips go to the airports.
    pickup_area = _areas(r["pickup_area"], n)
    to_airport = r["to_airport"].random(n) < 0.08
    dropoff_area = np.where(to_airport, r["airport"].choice(AIRPORT_AREAS, size=n), _areas(r["dropoff_area"], n))

    miles = np.round(np.clip(r["miles"].lognormal(mean=0.9, sigma=0.8, size=n), 0.1, 60), 2)
    miles = np.where(to_airport, np.round(miles + r["airport_miles"].uniform(8, 15, size=n), 2), miles)

    # Rush hours are slow; nights are fast.
    rush = np.isin(hour, [7, 8, 9, 16, 17, 18])
    mph = np.clip(r["mph"].normal(np.where(rush, 11.0, 17.0), 3.0, size=n), 4, 45)
    seconds = np.round(miles / mph * 3600 + r["overhead"].uniform(60, 240, size=n)).astype(int)

    fare = 3.25 + 2.25 * miles + 0.25 * seconds / 36 + r["fare_noise"].normal(0, 0.75, size=n)
    fare = np.round(np.clip(fare, 3.25, None), 2)

    payment_type = _choice(r["payment"], PAYMENT_TYPES, n)
    company = _choice(r["company"], COMPANIES, n)

    # Tips: card and mobile riders tip a share of the fare that grows on longer,
    # airport and evening trips; cash tips are mostly not recorded.
    card = np.isin(payment_type, ["Credit Card", "Mobile"])
    evening = (hour >= 19) | (hour <= 2)
    mean_share = 0.155 + 0.03 * to_airport + 0.025 * evening + 0.004 * np.minimum(miles, 10)
    mean_share = mean_share + np.where(company == "Independent", -0.03, 0.0)
    share = np.clip(r["tip_share"].normal(mean_share, 0.06, size=n), 0, 0.6)
    tipped = r["tipped"].random(n) < np.where(card, 0.92, np.where(payment_type == "Cash", 0.04, 0.3))
    tips = np.round(np.where(tipped, share * fare, 0.0), 2)

    df = pd.DataFrame(
        {
            "trip_id": [f"T{seed:04d}-{i:08d}" for i in range(n)],
            "pickup_time": pickup_time,
            "trip_miles": miles,
            "trip_seconds": seconds,
            "fare": fare,
            "payment_type": payment_type,
            "company": company,
            "pickup_area": pickup_area.astype(int),
            "dropoff_area": dropoff_area.astype(int),
            "tips": tips,
        }
    )
    df["big_tip"] = (df["tips"] > BIG_TIP_FRACTION * df["fare"]).astype(int)
    return df[COLUMNS]


def _hour_profile() -> np.ndarray:
    hours = np.arange(24)
    profile = 0.3 + np.exp(-((hours - 8.5) ** 2) / 6) + 1.2 * np.exp(-((hours - 18) ** 2) / 10)
    return profile / profile.sum()


def _areas(rng: np.random.Generator, n: int) -> np.ndarray:
    weights = np.ones(N_AREAS)
    for downtown, w in ((8, 25), (32, 20), (28, 12), (6, 6), (7, 6), (24, 5)):
        weights[downtown - 1] = w
    return rng.choice(np.arange(1, N_AREAS + 1), size=n, p=weights / weights.sum())
