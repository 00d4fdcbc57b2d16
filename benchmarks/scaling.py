"""Data-parallel scaling on this machine, and on paper past it.

    uv run python benchmarks/scaling.py                 # baby and baby-large, a few steps each
    uv run python benchmarks/scaling.py --steps 10 --configs baby

For each config, trains the same short run as 1 process x 2 threads, 2
processes x 1 thread (under the mpich wheel's mpiexec) and 1 x 1, through the
CLI as a user would, and reads each run's report: the median step time (the
first steps are warm-up and left out), tokens/s, and under MPI the all-reduce
time per step and its share of the step. That time includes waiting for the
slower process (the all-reduce is the step's barrier), so the all-reduce of
the same buffer is also timed alone, after a barrier, on 2 processes. 1 x 1
also holds OpenBLAS to one thread, so it is one core's speed.

Then the cost model of docs/distributed.md: a ring all-reduce moves
2 (N - 1) / N x 4 P bytes per node and step (float32 gradients), which at a
link of B bytes/s takes that / B; with the global batch fixed, N nodes take
T1 / N + all-reduce per step (no overlap of compute and communication), so
the efficiency is (T1 / N) / (T1 / N + all-reduce). T1 is the measured 1 x 2
step time of this machine (one node); the 100M-parameter config's T1 is
baby-large's scaled by parameters and tokens per step (6 P FLOPs per token),
an estimate. It prints, it does not assert.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from littlebaby.configs import find
from littlebaby.plugins import resolve
from littlebaby.plugins.resolve import build_model

LAYOUTS = [(1, 2), (2, 1), (1, 1)]  # (processes, threads per process)
NODES = [2, 8, 64]
LINKS_GBIT = [10, 100]
WARMUP = 3  # steps left out of the medians
VOCAB = 65  # tiny Shakespeare's characters
BIG = dict(n_emb=768, n_layers=14, n_ctx=256, batch_size=32)  # about 100M parameters


def mpiexec() -> str:
    return str(Path(sys.executable).parent / "mpiexec")


def measure(config: str, processes: int, threads: int, steps: int) -> dict:
    """Median step seconds, tokens/s and all-reduce seconds of a short run (a fresh home)."""
    with tempfile.TemporaryDirectory() as home:
        command = [sys.executable, "-m", "littlebaby.cli", "train", "--config", config, "--quiet", "--home", home]
        for key in (f"max_steps={steps}", f"threads={threads}", "eval_interval=100000", "eval_windows=8"):
            command += ["--set", key]
        env = dict(os.environ)
        if processes > 1:
            command = [mpiexec(), "-n", str(processes)] + command
        elif threads == 1:
            env["OPENBLAS_NUM_THREADS"] = "1"  # one core: no BLAS threads either
        subprocess.run(command, check=True, capture_output=True, timeout=3600, env=env)
        report = json.loads(next((Path(home) / "outputs").glob("report_*.json")).read_text())
    timed = report["steps"][WARMUP:] or report["steps"]
    seconds = statistics.median(s["seconds"] for s in timed)
    reduce = statistics.median(s.get("allreduce_seconds", 0.0) for s in timed)
    tokens = report["batch_size"] * report["config"]["n_ctx"]
    return {"seconds": seconds, "tokens_per_second": tokens / seconds, "allreduce": reduce}


def allreduce_alone(params: int, repeats: int = 20) -> float:
    """Median seconds of one in-place all-reduce of params float32 on 2 processes, after a barrier."""
    command = [mpiexec(), "-n", "2", sys.executable, __file__, "--allreduce-worker", str(params), str(repeats)]
    return float(subprocess.run(command, check=True, capture_output=True, text=True, timeout=600).stdout.split()[-1])


def allreduce_worker(params: int, repeats: int):
    from mpi4py import MPI

    comm, buffer, times = MPI.COMM_WORLD, np.ones(params, dtype=np.float32), []
    for _ in range(repeats + 3):  # 3 warm-up
        comm.Barrier()
        started = time.perf_counter()
        comm.Allreduce(MPI.IN_PLACE, buffer, op=MPI.SUM)
        times.append(time.perf_counter() - started)
    if comm.Get_rank() == 0:
        print(statistics.median(times[3:]))


def parameters(config: str) -> int:
    raw, _ = find(config)
    return int(build_model(resolve.config(raw), VOCAB).parameters.size)


def gpt_parameters(n_emb: int, n_layers: int, n_ctx: int, vocab: int = VOCAB) -> int:
    """pre/mha/mlp with head_size = n_emb: per layer qkv (no bias) + proj + 4x MLP + two norms."""
    C = n_emb
    return n_layers * (12 * C * C + 10 * C) + vocab * C + n_ctx * C + 2 * C + C * vocab + vocab


def ring_seconds(params: int, nodes: int, gbit: float) -> float:
    """A ring all-reduce of float32 gradients: 2 (N - 1) / N x 4 P bytes over the link."""
    return 2 * (nodes - 1) / nodes * 4 * params / (gbit * 1e9 / 8)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=["baby", "baby-large"])
    parser.add_argument("--steps", type=int, default=15, help="steps per run (the first 3 are warm-up)")
    parser.add_argument("--allreduce-worker", nargs=2, type=int, metavar=("PARAMS", "REPEATS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.allreduce_worker:
        return allreduce_worker(*args.allreduce_worker)
    print(f"# scaling on this machine ({os.cpu_count()} cores), {args.steps} steps per run\n")
    print(
        "| config | parameters | processes x threads | step ms | tokens/s | all-reduce ms (in the step) | its "
        "share | all-reduce alone ms | vs 1 x 2 |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    single = {}  # config -> (parameters, tokens per step, T1)
    for config in args.configs:
        params = parameters(config)
        results = {layout: measure(config, *layout, args.steps) for layout in LAYOUTS}
        alone = allreduce_alone(params)
        raw, _ = find(config)
        single[config] = (params, raw["batch_size"] * raw["n_ctx"], results[(1, 2)]["seconds"])
        for (processes, threads), r in results.items():
            mpi = processes > 1
            reduce = (
                f"{1000 * r['allreduce']:.2f} | {r['allreduce'] / r['seconds']:.1%} | {1000 * alone:.2f}"
                if mpi
                else "- | - | -"
            )
            print(
                f"| {config} | {params:,} | {processes} x {threads} | {1000 * r['seconds']:.1f} | "
                f"{r['tokens_per_second']:,.0f} "
                f"| {reduce} | {results[(1, 2)]['seconds'] / r['seconds']:.2f}x |"
            )
    if "baby-large" in single:
        large_params, large_tokens, large_seconds = single["baby-large"]
        big, tokens = gpt_parameters(BIG["n_emb"], BIG["n_layers"], BIG["n_ctx"]), BIG["batch_size"] * BIG["n_ctx"]
        sizes = f"n_emb {BIG['n_emb']}, {BIG['n_layers']} layers, batch {BIG['batch_size']} x {BIG['n_ctx']}"
        label = f"100M ({sizes}; T1 estimated)"
        single[label] = (big, tokens, large_seconds * big / large_params * tokens / large_tokens)
    print("\n# the cost model: ring all-reduce, global batch fixed, no overlap (efficiency = speed-up / N)\n")
    header = " | ".join(f"{n} nodes {g} Gbit/s" for g in LINKS_GBIT for n in NODES)
    print(f"| config | parameters | T1 ms | {header} |")
    print("|---|---|---|" + "---|" * len(NODES) * len(LINKS_GBIT))
    for config, (params, _, t1) in single.items():
        cells = []
        for gbit in LINKS_GBIT:
            for nodes in NODES:
                compute = t1 / nodes
                cells.append(f"{compute / (compute + ring_seconds(params, nodes, gbit)):.0%}")
        print(f"| {config} | {params:,} | {1000 * t1:.0f} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
