"""A data-parallel training job in the Python standard library, for the Kubeflow training operators.

Each rank fits the same linear model y = w*x + b on its own shard of a generated
data set; after every step the ranks all-reduce (average) their gradients over TCP,
so every rank ends with the same weights, as torch.distributed's all_reduce would
give. Rank 0 listens at MASTER_ADDR:MASTER_PORT; the other ranks connect to it.

The rank and world size come from the environment the operators set:
  PyTorchJob (Training Operator v1): MASTER_ADDR, MASTER_PORT, WORLD_SIZE, RANK
  TrainJob (Trainer v2, torch runtime): PET_MASTER_ADDR, PET_MASTER_PORT, PET_NNODES,
      PET_NODE_RANK, PET_NPROC_PER_NODE (torchrun's variables; one process per node here)

    python3 dist_train.py [--steps N] [--fail-rank R]

--fail-rank makes that rank exit with an error before it joins, for the lab's fault.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import sys
import time

CONNECT_SECONDS = 120  # the master's DNS name appears only once its pod has an address


def env(*names: str, default: str | None = None) -> str:
    for name in names:
        if os.environ.get(name):
            return os.environ[name]
    if default is None:
        sys.exit(f"none of {', '.join(names)} is set: run this under a PyTorchJob or a TrainJob, "
                 "or set them yourself (MASTER_ADDR=127.0.0.1 MASTER_PORT=29500 WORLD_SIZE=1 RANK=0)")
    return default


def topology() -> tuple[int, int, str, int]:
    """(rank, world size, master address, master port) from either operator's variables."""
    nproc = env("PET_NPROC_PER_NODE", default="1")
    if nproc not in ("1", "auto"):
        sys.exit(f"PET_NPROC_PER_NODE={nproc}: this job runs one process per node; set numProcPerNode: 1")
    rank = int(env("RANK", "PET_NODE_RANK"))
    world = int(env("WORLD_SIZE", "PET_NNODES"))
    return rank, world, env("MASTER_ADDR", "PET_MASTER_ADDR"), int(env("MASTER_PORT", "PET_MASTER_PORT"))


def send(conn: socket.socket, message: dict) -> None:
    conn.sendall((json.dumps(message) + "\n").encode())


def receive(reader) -> dict:
    line = reader.readline()
    if not line:
        raise ConnectionError("a peer closed the connection (did another rank fail? read its log)")
    return json.loads(line)


class Group:
    """A star-shaped process group: rank 0 sums what every rank sends and sends the sum back."""

    def __init__(self, rank: int, world: int, addr: str, port: int):
        self.rank, self.world = rank, world
        self.peers = []  # rank 0: (socket, reader) per other rank
        if world == 1:
            return
        if rank == 0:
            server = socket.create_server(("", port))  # inside the pod: the headless Service points here
            server.settimeout(CONNECT_SECONDS)
            while len(self.peers) < world - 1:
                try:
                    conn, _ = server.accept()
                except TimeoutError:
                    sys.exit(f"rank 0: only {len(self.peers) + 1} of {world} ranks joined in {CONNECT_SECONDS} s")
                conn.settimeout(CONNECT_SECONDS)
                reader = conn.makefile("r")
                hello = receive(reader)
                print(f"rank 0: rank {hello['rank']} joined from {conn.getpeername()[0]}", flush=True)
                self.peers.append((conn, reader))
            server.close()
        else:
            deadline = time.monotonic() + CONNECT_SECONDS
            while True:
                try:
                    conn = socket.create_connection((addr, port), timeout=5)
                    break
                except OSError as exc:
                    if time.monotonic() > deadline:
                        sys.exit(f"rank {rank}: could not reach the master at {addr}:{port} in {CONNECT_SECONDS} s ({exc})")
                    time.sleep(1)
            conn.settimeout(CONNECT_SECONDS)
            self.peers = [(conn, conn.makefile("r"))]
            send(conn, {"rank": rank})

    def all_reduce(self, values: list[float]) -> list[float]:
        """The element-wise sum of ``values`` over all ranks, on every rank."""
        if self.world == 1:
            return list(values)
        if self.rank == 0:
            total = list(values)
            for _, reader in self.peers:
                for i, v in enumerate(receive(reader)["values"]):
                    total[i] += v
            for conn, _ in self.peers:
                send(conn, {"values": total})
            return total
        conn, reader = self.peers[0]
        send(conn, {"values": values})
        return receive(reader)["values"]


def shard(rank: int, world: int, n: int = 400) -> list[tuple[float, float]]:
    """This rank's share of y = 3x + 2 + noise (the same data set whatever the world size)."""
    rng = random.Random(0)
    data = [(x, 3 * x + 2 + rng.gauss(0, 0.1)) for x in (rng.uniform(-1, 1) for _ in range(n))]
    return data[rank::world]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--lr", type=float, default=0.5)
    parser.add_argument("--fail-rank", type=int, default=-1)
    args = parser.parse_args()

    rank, world, addr, port = topology()
    print(f"rank {rank} of {world}: master {addr}:{port}, host {socket.gethostname()}", flush=True)
    if rank == args.fail_rank:
        sys.exit(f"rank {rank}: failing on purpose (--fail-rank {rank})")
    group = Group(rank, world, addr, port)

    # The all-reduce every distributed job starts with: the sum of (rank + 1) is world*(world+1)/2.
    total = group.all_reduce([rank + 1.0])[0]
    print(f"rank {rank}: all_reduce(rank + 1) = {total:g}", flush=True)

    data = shard(rank, world)
    n = group.all_reduce([float(len(data))])[0]
    w = b = 0.0
    for step in range(1, args.steps + 1):
        gw = sum(2 * (w * x + b - y) * x for x, y in data)
        gb = sum(2 * (w * x + b - y) for x, y in data)
        loss = sum((w * x + b - y) ** 2 for x, y in data)
        gw, gb, loss = group.all_reduce([gw, gb, loss])
        w, b = w - args.lr * gw / n, b - args.lr * gb / n
        if step % 10 == 0 or step == args.steps:
            print(f"rank {rank}: step {step} loss {loss / n:.4f}", flush=True)
    print(f"rank {rank}: done, w={w:.4f} b={b:.4f} (true 3, 2)", flush=True)


if __name__ == "__main__":
    main()
