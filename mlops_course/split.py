"""Repeatable train/valid/test splits from a hash of a key column.

BigQuery users write ``ABS(MOD(FARM_FINGERPRINT(key), 10)) < 8`` to put a
row in the training set: the decision depends on the key alone, so it is the
same on every run, in any row order, and a row never changes side when new
rows arrive. This module does the same in Python with SHA-256 (FarmHash is
not in the standard library; any well-mixed hash behaves the same way).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

SPLITS = ("train", "valid", "test")


def hash_bucket(key: object, n_buckets: int = 100) -> int:
    """The bucket ``0 .. n_buckets-1`` of ``key``: the first 8 bytes of its SHA-256, modulo ``n_buckets``."""
    digest = hashlib.sha256(str(key).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % n_buckets


def hash_split(
    keys: Iterable[object],
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    names: Sequence[str] = SPLITS,
    n_buckets: int = 100,
) -> pd.Series:
    """Assign each key to a split by its bucket.

    ``fractions`` must add up to 1 and each must be a whole number of buckets
    (multiples of 0.01 with the default 100 buckets).
    """
    fractions = list(fractions)
    if len(fractions) != len(names):
        raise ValueError(f"{len(fractions)} fractions for {len(names)} split names")
    if not np.isclose(sum(fractions), 1.0):
        raise ValueError(f"fractions must add up to 1, got {sum(fractions)}")
    edges = np.rint(np.cumsum(fractions) * n_buckets).astype(int)
    if not np.allclose(edges / n_buckets, np.cumsum(fractions)):
        raise ValueError(f"each fraction must be a multiple of 1/{n_buckets}")
    keys = list(keys)
    buckets = np.fromiter((hash_bucket(k, n_buckets) for k in keys), dtype=int, count=len(keys))
    return pd.Series(np.asarray(names)[np.searchsorted(edges, buckets, side="right")], index=keys, name="split")


def random_split(
    n_rows: int, fractions: Sequence[float] = (0.8, 0.1, 0.1), names: Sequence[str] = SPLITS, seed: int = 0
) -> np.ndarray:
    """The usual alternative, for comparison: scikit-learn's ``train_test_split``, applied
    to the row positions once per cut, with a fixed ``random_state``."""
    from sklearn.model_selection import train_test_split

    out = np.empty(n_rows, dtype=object)
    rest, left = np.arange(n_rows), 1.0
    for name, fraction in zip(names[:-1], fractions[:-1]):
        taken, rest = train_test_split(rest, train_size=fraction / left, random_state=seed)
        out[taken] = name
        left -= fraction
    out[rest] = names[-1]
    return out
