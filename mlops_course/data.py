"""The course data set: Chicago-style taxi trips, generated, never downloaded.

Every later part trains on, serves, and checks for skew in data from
:func:`generate_trips`, so the generator is deterministic: the same
``(n_rows, seed)`` always gives the same table, on any machine.

It is also *prefix stable*: ``generate_trips(n + k, seed)`` starts with the
``n`` rows of ``generate_trips(n, seed)``. Each column draws from its own
random stream, so asking for more rows appends rows instead of reshuffling
the old ones. That is how "tomorrow's table is today's plus new trips" is
simulated in the labs.

The tips copy two traits of the real Chicago Taxi Trips data: cash tips are
mostly not recorded (the driver pockets them), so a cash trip almost never
has a big tip on record, and card tips cluster at the reader's presets. The
rest is invented but plausible. Card riders press one of three presets
(15/20/25%, or 20/25/30% on some companies' readers), and which one depends
on the rider's mood: evenings out, the Loop and the north lakefront raise
it, airport runs and morning commutes lower it, and companies shift it. On
short rides many riders give a round dollar amount instead, a large share
of a small fare. A model can learn most of this from the features, but not
the rider's mood, so the label stays uncertain, as real labels are.
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

#: How often a trip's tip is recorded, by payment type. Cash tips go into
#: the driver's pocket, not the record; prepaid cards rarely add one.
TIP_RECORDED = {"Credit Card": 0.93, "Mobile": 0.9, "Prcard": 0.2, "Cash": 0.03, "Unknown": 0.1}

#: Tip presets on a card reader, and the higher ones some companies' readers offer.
PRESETS = (0.15, 0.20, 0.25)
HIGH_PRESETS = (0.20, 0.25, 0.30)
HIGH_PRESET_COMPANIES = ("Windy City Rides", "Loop Transit")
#: Where a rider's mood crosses from the lowest to the middle, and the middle to the highest preset.
PRESET_CUTS = (-0.2, 0.9)

#: How companies shift a rider's mood (fleet service and clean cars; owner-drivers' old readers).
COMPANY_GENEROSITY = {"Lakeshore Cab": 0.5, "Northside Cab": 0.8, "Independent": -1.2, "Southport Taxi": -0.5}

#: Pickup areas whose riders tip more: the Loop and the north lakefront.
GENEROUS_AREAS = (6, 7, 8, 32)

#: The label: a tip of more than this fraction of the fare.
BIG_TIP_FRACTION = 0.2


#: Every random draw has its own stream, named here; a draw that shared a
#: stream would shift all later draws when n_rows grows.
_DRAWS = [
    "day", "hour", "minute", "pickup_area", "to_airport", "airport", "dropoff_area", "miles",
    "airport_miles", "mph", "overhead", "fare_noise", "payment", "company", "tipped",
    "tip_style", "flat_amount", "preset", "custom_share",
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

    weekday = (day + pd.Timestamp(start).weekday()) % 7  # 0 is Monday, as in pandas
    tips = _tips(r, n, fare=fare, hour=hour, weekday=weekday, payment_type=payment_type, company=company,
                 pickup_area=pickup_area, to_airport=to_airport)

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


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _tips(r, n, *, fare, hour, weekday, payment_type, company, pickup_area, to_airport) -> np.ndarray:
    """Recorded tips in dollars (see the module's description)."""
    recorded = r["tipped"].random(n) < pd.Series(payment_type).map(TIP_RECORDED).to_numpy()

    # How generous this rider is likely to be: evenings out (more so on
    # Friday and Saturday) and the Loop and north lakefront tip more, airport
    # runs (often on expenses) and morning commutes less. The logistic draw
    # below is the rider's own mood.
    evening = (hour >= 19) | (hour <= 2)
    weekend_night = evening & np.isin(weekday, [4, 5])
    commute = np.isin(hour, [6, 7, 8, 9])
    generous = (
        1.6 * evening + 0.6 * weekend_night - 0.8 * commute - 1.5 * to_airport
        + np.where(np.isin(pickup_area, GENEROUS_AREAS), 1.0, 0.0)
        + pd.Series(company).map(COMPANY_GENEROSITY).fillna(0.0).to_numpy()
    )
    mood = generous + r["preset"].logistic(0.0, 0.5, size=n)

    # A card reader offers three presets; the rider takes the lowest, middle
    # or highest as their mood crosses two cut points (an ordered logit).
    high_reader = np.isin(company, HIGH_PRESET_COMPANIES)
    choice = np.digitize(mood, PRESET_CUTS)
    presets = np.where(high_reader[:, None], np.array(HIGH_PRESETS), np.array(PRESETS))
    preset_share = presets[np.arange(n), choice]
    # Cents are cut off, as card readers do: a 20% preset is never more than 20%.
    preset_tip = np.floor(preset_share * fare * 100) / 100

    # On a short ride many riders hand over a round dollar amount, which is a
    # large share of a small fare; some type their own amount.
    style = r["tip_style"].random(n)
    flat = style < 0.85 * _sigmoid((10.0 - fare) / 1.0)
    custom = ~flat & (style > 0.85)
    flat_tip = r["flat_amount"].choice(np.array([1.0, 2.0, 3.0, 5.0]), size=n, p=[0.15, 0.5, 0.25, 0.1])
    custom_share = np.clip(r["custom_share"].normal(0.17 + 0.03 * (mood > PRESET_CUTS[1]), 0.05, size=n), 0.02, 0.5)
    custom_tip = np.round(custom_share * fare, 2)

    tip = np.where(flat, flat_tip, np.where(custom, custom_tip, preset_tip))
    return np.where(recorded, tip, 0.0)
