"""The sharded optimizer's memory and update time per process, measured (`shard_optimizer`, docs/distributed.md).

    uv run python benchmarks/optimizer_memory.py                  # baby-large on 1, 2 and 3 processes
    uv run python benchmarks/optimizer_memory.py --config baby --processes 1 2

For each number of processes it starts that many under the mpich wheel's mpiexec. Each process builds the
config's model and its optimizer as a run does (sharded, or on one process not), with tracemalloc counting
what the optimizer allocates (NumPy reports its buffers to it): its state and its update buffer, at their
peak over a first step. Then it times the update alone, the median of a few steps, AdamW's share of a
training step (the clipping, statistics and all-gather around it are left out). It prints, it does not assert.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

STEPS = 7


def worker(config_name: str):
    from littlebaby.configs import find
    from littlebaby.plugins import resolve
    from littlebaby.plugins.resolve import build_model
    from littlebaby.training import distributed, sharding

    world = distributed.world()
    raw, _ = find(config_name)
    config = resolve.config(raw | {"shard_optimizer": world.size > 1})
    model = build_model(config, vocab_size=65)
    tracemalloc.start()
    optimizer = sharding.build(config, model.parameters, None, 1, world)
    part = world.rows(model.parameters.size) if world.size > 1 else slice(0, model.parameters.size)
    grad = np.random.default_rng(world.rank).standard_normal(part.stop - part.start).astype(model.parameters.dtype)
    seconds = []
    for _ in range(STEPS):
        started = time.perf_counter()
        optimizer.step(grad, 1e-4)
        seconds.append(time.perf_counter() - started)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    line = f"{world.rank} {model.parameters.size} {peak} {statistics.median(seconds[1:]) * 1e3:.2f}"
    print(line, flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="baby-large")
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2, 3])
    args = parser.parse_args()
    mpiexec = str(Path(sys.executable).parent / "mpiexec")
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    print(f"{args.config}: optimizer memory and update time per process ({os.cpu_count()} cores)\n")
    print("| processes | sharded | parameters | optimizer MB per process (max) | vs 1 process | update ms (max) |")
    print("|---|---|---|---|---|---|")
    alone = None
    for n in args.processes:
        command = [sys.executable, __file__, "--worker", args.config]
        command = [mpiexec, "-n", str(n), *command] if n > 1 else command
        out = subprocess.run(command, capture_output=True, text=True, env=env, check=True).stdout.split("\n")
        rows = [line.split() for line in out if line.strip()]
        size = int(rows[0][1])
        megabytes = max(int(row[2]) for row in rows) / 1e6
        milliseconds = max(float(row[3]) for row in rows)
        alone = alone or megabytes
        print(
            f"| {n} | {'yes' if n > 1 else 'no'} | {size:,} | {megabytes:.1f} | {megabytes / alone:.2f} | "
            f"{milliseconds:.1f} |"
        )


if __name__ == "__main__":
    if "--worker" in sys.argv:
        worker(sys.argv[sys.argv.index("--worker") + 1])
    else:
        main()
