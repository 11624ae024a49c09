"""Train the course model at image build time and write it to /models.

Two versions of it, so that one image serves a stable model and a canary: the
gradient-boosted pipeline the course trains everywhere (``gbdt``) and the logistic
one (``logistic``). Same trips, same hash split, same seed: the course environment
gets the same pipelines from the same calls.
"""
import json
import os
from pathlib import Path

import joblib

from mlops_course import data, model, split

n_rows, seed = int(os.environ.get("N_ROWS", "10000")), int(os.environ.get("SEED", "42"))
out = Path(os.environ.get("OUT", "/models"))
out.mkdir(parents=True, exist_ok=True)

trips = data.generate_trips(n_rows, seed=seed)
assigned = split.hash_split(trips["trip_id"]).to_numpy()
metrics = {}
for kind in ("gbdt", "logistic"):
    fitted = model.train(trips[assigned == "train"], seed=seed, kind=kind)
    metrics[kind] = model.evaluate(fitted, trips[assigned == "valid"])
    joblib.dump(fitted, out / f"{kind}.joblib")
(out / "metrics.json").write_text(json.dumps({"n_rows": n_rows, "seed": seed, "metrics": metrics}))
print("trained on", n_rows, "trips:", json.dumps(metrics))
