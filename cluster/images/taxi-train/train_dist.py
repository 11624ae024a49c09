"""Data-parallel training of the course model (logistic regression in NumPy), one rank per process.

Every rank generates the same trips (the course's generator is deterministic), keeps
every fifth trip for validation and takes its own shard of the rest: rows rank,
rank + world, ... Each step, each rank computes the gradient of the log loss on its
shard, the ranks all-reduce (sum) the gradients, and each takes the same step, so the
weights are those of one process training on all rows.

The rank, the world size and the rendezvous come from the environment the operators set:
  PyTorchJob (Training Operator): MASTER_ADDR, MASTER_PORT, WORLD_SIZE, RANK
  TrainJob (Trainer, torch runtime): PET_MASTER_ADDR, PET_MASTER_PORT, PET_NNODES, PET_NODE_RANK

    python train_dist.py [--rows N] [--steps N] [--lr X] [--fail-rank R --fail-step S]

Each rank ends with a line ``RESULT {json}``: its timings, and on rank 0 the metrics and weights.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import time

import numpy as np

from dist_train import Group, topology  # the star-shaped all-reduce over TCP (cluster/components/images/dist-train)
from mlops_course import data, training


def main() -> None:
    started = time.perf_counter()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000, help="trips generated (a fifth held out)")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--lr", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--fail-rank", type=int, default=-1, help="this rank exits with an error at --fail-step")
    parser.add_argument("--fail-step", type=int, default=1)
    args = parser.parse_args()

    rank, world, addr, port = topology()
    print(f"rank {rank} of {world}: master {addr}:{port}, host {socket.gethostname()}", flush=True)
    group = Group(rank, world, addr, port)
    joined = time.perf_counter()

    trips = data.generate_trips(args.rows, seed=args.seed)
    X, y, names = training.features(trips)
    held_out = training.is_validation(len(y))
    X_mine, y_mine = X[~held_out][rank::world], y[~held_out][rank::world]
    n = group.all_reduce([float(len(y_mine))])[0]
    print(f"rank {rank}: {len(y_mine)} of {n:.0f} training trips, {X.shape[1]} features", flush=True)
    loaded = time.perf_counter()

    w = np.zeros(X.shape[1])
    compute = compute_cpu = reduce = 0.0
    for step in range(1, args.steps + 1):
        if rank == args.fail_rank and step == args.fail_step:
            sys.exit(f"rank {rank}: failing on purpose at step {step} (--fail-rank {rank})")
        t0, c0 = time.perf_counter(), time.thread_time()
        grad, loss = training.gradient(w, X_mine, y_mine)
        t1, c1 = time.perf_counter(), time.thread_time()
        total = group.all_reduce([*grad.tolist(), loss])  # the sum over all ranks, on every rank
        t2 = time.perf_counter()
        w -= args.lr * np.asarray(total[:-1]) / n
        compute, compute_cpu, reduce = compute + t1 - t0, compute_cpu + c1 - c0, reduce + t2 - t1
        if step % 25 == 0 or step == args.steps:
            print(f"rank {rank}: step {step} train log loss {total[-1] / n:.5f}", flush=True)
    done = time.perf_counter()

    result = {"rank": rank, "world": world, "rows": len(y_mine), "steps": args.steps,
              "rendezvous_s": joined - started, "data_s": loaded - joined, "train_s": done - loaded,
              "compute_s": compute, "compute_cpu_s": compute_cpu, "allreduce_s": reduce, "train_log_loss": total[-1] / n}
    if rank == 0:
        p = 1 / (1 + np.exp(-(X[held_out] @ w)))
        y_valid = y[held_out]
        result.update(valid_roc_auc=training.roc_auc(y_valid, p), valid_log_loss=training.log_loss(y_valid, p),
                      baseline_log_loss=training.log_loss(y_valid, np.full(len(y_valid), y[~held_out].mean())),
                      weights=dict(zip(names, w.round(6).tolist())))
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    try:
        main()
    except (ConnectionError, OSError) as exc:  # a peer that died: one line, not a traceback
        sys.exit(f"{type(exc).__name__}: {exc}")
