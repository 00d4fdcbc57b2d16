"""What the deadline on training's collectives costs: an all-reduce polled (training/deadline.py) against MPI's
blocking one, on 2 processes.

    uv run python benchmarks/polling.py

Starts itself on 2 processes under the mpich wheel's mpiexec. For each size (a stop flag's 8 bytes, then baby's
and baby-large's float32 gradients) both ranks meet in a barrier, then all-reduce the buffer, alternately with
MPI's Allreduce and with the world's `sum` under a deadline (Iallreduce, polled); the medians of REPEATS each.
It prints, it does not assert.
"""

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

SIZES = {"a stop flag (1 int64)": (1, np.int64), "baby (816,705 float32)": (816_705, np.float32)}
SIZES["baby-large (4,800,577 float32)"] = (4_800_577, np.float32)
REPEATS = 30


def worker():
    from littlebaby.training import deadline, distributed
    from littlebaby.training.stopping import StopRequest

    world = distributed.world()
    MPI, comm = world.MPI, world.comm
    lines = []
    for name, (count, dtype) in SIZES.items():
        buffer, blocking, polled = np.ones(count, dtype=dtype), [], []
        for repeat in range(REPEATS + 3):  # 3 warm-up
            comm.Barrier()
            started = time.perf_counter()
            comm.Allreduce(MPI.IN_PLACE, buffer, op=MPI.SUM)
            blocking.append(time.perf_counter() - started)
            world.watch = deadline.Watch(60.0, StopRequest())
            comm.Barrier()
            started = time.perf_counter()
            world.sum(buffer)
            polled.append(time.perf_counter() - started)
            world.watch = None
        lines.append(
            f"| {name} | {1000 * statistics.median(blocking[3:]):.3f} | {1000 * statistics.median(polled[3:]):.3f} |"
        )
    if world.is_root:
        print("\n".join(lines))


def main():
    mpiexec = str(Path(sys.executable).parent / "mpiexec")
    command = [mpiexec, "-n", "2", sys.executable, __file__, "--worker"]
    out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=600).stdout
    print(f"# an all-reduce on 2 processes of this machine ({os.cpu_count()} cores), median of {REPEATS}\n")
    print("| buffer | blocking ms | polled under the deadline ms |")
    print("|---|---|---|")
    print(out.strip())


if __name__ == "__main__":
    worker() if "--worker" in sys.argv else main()
