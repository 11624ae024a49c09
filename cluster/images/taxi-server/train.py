"""Train the course model (Part 1's split, the given kind) and write it with its metrics to --out."""
import argparse
import json
from pathlib import Path

import joblib

from mlops_course import data, model, split

parser = argparse.ArgumentParser()
parser.add_argument("--kind", default="gbdt", choices=["gbdt", "logistic"])
parser.add_argument("--rows", type=int, default=10_000)
parser.add_argument("--seed", type=int, default=42)
parser.add_argument("--out", type=Path, default=Path("/models"))
args = parser.parse_args()

trips = data.generate_trips(args.rows, seed=args.seed)
assigned = split.hash_split(trips["trip_id"]).to_numpy()
fitted = model.train(trips[assigned == "train"], seed=args.seed, kind=args.kind)
metrics = model.evaluate(fitted, trips[assigned == "valid"])
args.out.mkdir(parents=True, exist_ok=True)
joblib.dump(fitted, args.out / "model.joblib")
(args.out / "metrics.json").write_text(json.dumps({"kind": args.kind, "rows": args.rows, "seed": args.seed,
                                                    "metrics": metrics}))
print(f"trained {args.kind} on {args.rows} trips: {json.dumps(metrics)}")
