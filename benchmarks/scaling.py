"""Data-parallel scaling on this machine, and on paper past it.

    uv run python benchmarks/scaling.py                 # baby and baby-large, a few steps each
    uv run python benchmarks/scaling.py --steps 10 --configs baby
    uv run python benchmarks/scaling.py --configs baby --two-hosts   # + 2 x 1 over TCP between 2 namespaces

For each config, trains the same short run as 1 process x 2 threads, 2
processes x 1 thread (under the mpich wheel's mpiexec; once more with
`shard_optimizer`) and 1 x 1, through the CLI as a user would, and reads each run's report: the median step time (the
first steps are warm-up and left out), tokens/s, and under MPI the all-reduce
time per step and its share of the step. That time includes waiting for the
slower process (the all-reduce is the step's barrier), so the all-reduce of
the same buffer is also timed alone, after a barrier, on 2 processes. 1 x 1
also holds OpenBLAS to one thread, so it is one core's speed. 2 x 1 runs twice:
as trained (the gradient summed in buckets while the backward pass runs,
training/buckets.py) and with LITTLEBABY_OVERLAP=0 (one all-reduce once the
backward pass has ended); the all-reduce column is the time the step waited
for its reductions (exposed, not overlapped). With --two-hosts, 2 x 1 runs once
more between two network namespace hosts (benchmarks/namespaces.py), its all-reduce
over TCP, modelled with the all-reduce timed alone over that link.

    uv run python benchmarks/scaling.py --overlap --repeats 5 [--two-hosts]

prints only that comparison, alternating the two ways `--repeats` times
(medians over the runs' medians); --two-hosts also runs both through two
network namespaces joined by a veth pair, the all-reduce over TCP (the setup
of tests/training/test_two_hosts.py; needs root and iproute2).

Then the cost model of docs/distributed.md. A step on N nodes takes

    T(N) = ceil(batch / N) / batch x (T1 - R) + R / (N if sharded else 1) + ring(N)

T1 the one-node step, R the replicated work in it (clipping, statistics and
the optimizer, measured here alone on random gradients): the rows are cut
over the nodes, and the busiest node has ceil(batch / N) of them (a node with
no row waits); R runs on every node, or 1/N of it on each with the sharded
optimizer. ring(N) is a ring all-reduce of float32 gradients: 2 (N - 1) / N x
4 P bytes over a link of B bytes/s, plus 2 (N - 1) hops of latency (ALPHA,
assumed per link). The efficiency is T1 / (N x T(N)). The model is first
checked on this machine: T1 = the 1 x 1 step, ring(2) = the all-reduce timed
alone, beside the measured 2 x 1 steps. Past it, T1 is the measured 1 x 2
step (one node); the 100M-parameter config's T1 and R are baby-large's scaled
by parameters and tokens per step (6 P FLOPs per token), an estimate. It
prints, it does not assert.
"""

import argparse
import contextlib
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
from littlebaby.optim.adamw import AdamW, clip_grad_norm
from littlebaby.plugins import resolve
from littlebaby.plugins.resolve import build_model
from littlebaby.training.stats import GroupStats

sys.path.insert(0, str(Path(__file__).resolve().parent))
import namespaces  # noqa: E402
from namespaces import mpiexec  # noqa: E402

# (processes, threads, shard_optimizer, overlap: the gradient's buckets summed during the backward pass)
LAYOUTS = [(1, 2, False, True), (2, 1, False, False), (2, 1, False, True), (2, 1, True, True), (1, 1, False, True)]
NODES = [2, 8, 64]
LINKS_GBIT = [10, 100]
ALPHA = {10: 30e-6, 100: 5e-6}  # seconds of latency per hop of the ring (assumed: TCP over Ethernet, RDMA)
WARMUP = 3  # steps left out of the medians
TCP = (2, 1, False, True, "tcp")  # the 2 x 1 layout between two namespace hosts (--two-hosts)
VOCAB = 65  # tiny Shakespeare's characters
BIG = dict(n_emb=768, n_layers=14, n_ctx=256, batch_size=32)  # about 100M parameters


def measure(config: str, processes: int, threads: int, sharded: bool, overlap: bool, steps: int, launch=None) -> dict:
    """Median step seconds, tokens/s and all-reduce seconds of a short run (a fresh home).
    launch: the command that starts the processes (default: the mpich wheel's mpiexec -n processes)."""
    with tempfile.TemporaryDirectory() as home:
        command = [sys.executable, "-m", "littlebaby.cli", "train", "--config", config, "--quiet", "--home", home]
        keys = [f"max_steps={steps}", f"threads={threads}", "eval_interval=100000", "eval_windows=8"]
        for key in keys + (["shard_optimizer=true"] if sharded else []):
            command += ["--set", key]
        env = dict(os.environ, LITTLEBABY_OVERLAP="1" if overlap else "0")
        if processes > 1:
            command = (launch or [mpiexec(), "-n", str(processes)]) + command
        elif threads == 1:
            env["OPENBLAS_NUM_THREADS"] = "1"  # one core: no BLAS threads either
        subprocess.run(command, check=True, capture_output=True, timeout=3600, env=env)
        report = json.loads(next((Path(home) / "outputs").glob("report_*.json")).read_text())
    timed = report["steps"][WARMUP:] or report["steps"]
    seconds = statistics.median(s["seconds"] for s in timed)
    reduce = statistics.median(s.get("allreduce_seconds", 0.0) for s in timed)
    tokens = report["batch_size"] * report["config"]["n_ctx"]
    return {"seconds": seconds, "tokens_per_second": tokens / seconds, "allreduce": reduce}


def allreduce_alone(params: int, repeats: int = 20, launch=None) -> float:
    """Median seconds of one in-place all-reduce of params float32 on 2 processes, after a barrier."""
    command = (launch or [mpiexec(), "-n", "2"]) + [sys.executable, __file__, "--allreduce-worker"]
    command += [str(params), str(repeats)]
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


def processor() -> str:
    """The CPU's model name and core count, as /proc/cpuinfo says (Linux), for the figures' context."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()}, {os.cpu_count()} cores"
    return f"{os.cpu_count()} cores"


def parameters(config: str) -> int:
    raw, _ = find(config)
    return int(build_model(resolve.config(raw), VOCAB).parameters.size)


def replicated_seconds(config: str, threads: int, repeats: int = 7) -> float:
    """Median seconds of a step's work that does not shrink with the rows: clipping, the statistics, AdamW."""
    raw, _ = find(config)
    cfg = resolve.config(raw)
    model = build_model(cfg, VOCAB)
    optimizer = AdamW.build(model.parameters, cfg, threads=threads)
    stats = GroupStats(model.parameters)
    grad = np.random.default_rng(0).standard_normal(model.parameters.size).astype(model.parameters.dtype)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        clip_grad_norm(grad, cfg.grad_clip)
        weight_sq = stats.squared_norms(model.parameters.data)
        optimizer.step(grad, 1e-5)
        stats.step_stats(grad, weight_sq, optimizer.update)
        times.append(time.perf_counter() - started)
    return statistics.median(times[1:])


def modelled(t1: float, replicated: float, batch: int, nodes: int, sharded: bool, reduce: float) -> float:
    """The cost model's step seconds on `nodes` (see the module docstring); reduce: the all-reduce's seconds."""
    rows = -(-batch // nodes)  # the busiest node's rows
    return rows / batch * (t1 - replicated) + replicated / (nodes if sharded else 1) + reduce


def gpt_parameters(n_emb: int, n_layers: int, n_ctx: int, vocab: int = VOCAB) -> int:
    """pre/mha/mlp with head_size = n_emb: per layer qkv (no bias) + proj + 4x MLP + two norms."""
    C = n_emb
    return n_layers * (12 * C * C + 10 * C) + vocab * C + n_ctx * C + 2 * C + C * vocab + vocab


def ring_seconds(params: int, nodes: int, gbit: float) -> float:
    """A ring all-reduce of float32 gradients: 2 (N - 1) / N x 4 P bytes over the link, 2 (N - 1) hops."""
    return 2 * (nodes - 1) / nodes * 4 * params / (gbit * 1e9 / 8) + 2 * (nodes - 1) * ALPHA[gbit]


@contextlib.contextmanager
def two_hosts(workdir: Path):
    """The command that launches 2 processes, 1 per host, on two network namespaces joined by a veth pair
    (Hydra through an ssh stand-in, UCX over TCP: namespaces.py); removed afterwards, whatever happens."""
    with namespaces.hosts(workdir, "lbs") as (pair, standin):
        yield namespaces.launch(pair, standin)


def overlap_rows(configs: list, steps: int, repeats: int, launches: dict):
    """Step and waited all-reduce ms of 2 x 1 without and with the overlap, alternated `repeats` times."""
    print(f"\n# the all-reduce overlapped with the backward pass: 2 x 1, {steps} steps a run, {repeats} runs each way")
    print("(medians over the runs of each run's median step; waited: the all-reduce time the step was not computing)\n")
    print(
        "| config | parameters | link | step ms, one all-reduce after backward | step ms, buckets during backward "
        "| waited ms, after | waited ms, buckets | gain |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for config in configs:
        for link, launch in launches.items():
            runs = {False: [], True: []}
            for _ in range(repeats):
                for overlap in (False, True):
                    runs[overlap].append(measure(config, 2, 1, False, overlap, steps, launch))
            step = {o: statistics.median(r["seconds"] for r in runs[o]) for o in runs}
            wait = {o: statistics.median(r["allreduce"] for r in runs[o]) for o in runs}
            print(
                f"| {config} | {parameters(config):,} | {link} | {1000 * step[False]:.1f} | {1000 * step[True]:.1f} "
                f"| {1000 * wait[False]:.2f} | {1000 * wait[True]:.2f} | {1 - step[True] / step[False]:+.1%} |"
            )
    print(f"\nload {Path('/proc/loadavg').read_text().split()[:3]} at the end")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=["baby", "baby-large"])
    parser.add_argument("--steps", type=int, default=15, help="steps per run (the first 3 are warm-up)")
    parser.add_argument("--allreduce-worker", nargs=2, type=int, metavar=("PARAMS", "REPEATS"), help=argparse.SUPPRESS)
    parser.add_argument("--overlap", action="store_true", help="only the overlap's comparison, on 2 x 1")
    parser.add_argument("--repeats", type=int, default=3, help="runs each way for --overlap")
    parser.add_argument(
        "--two-hosts", action="store_true", help="2 x 1 also over TCP between 2 network namespaces (needs root)"
    )
    args = parser.parse_args(argv)
    if args.allreduce_worker:
        return allreduce_worker(*args.allreduce_worker)
    if args.overlap:
        with tempfile.TemporaryDirectory() as workdir, contextlib.ExitStack() as stack:
            launches = {"one machine (shared memory)": None}
            if args.two_hosts:
                launches["2 namespaces, TCP over veth"] = stack.enter_context(two_hosts(Path(workdir)))
            print(f"# {processor()}, load {Path('/proc/loadavg').read_text().split()[:3]} at the start")
            return overlap_rows(args.configs, args.steps, args.repeats, launches)
    print(f"# scaling on this machine ({os.cpu_count()} cores), {args.steps} steps per run\n")
    print(
        "| config | parameters | processes x threads | step ms | modelled ms | tokens/s | all-reduce ms (waited "
        "in the step) | its share | all-reduce alone ms | vs 1 x 2 |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    single = {}  # config -> (parameters, tokens per step, batch, T1, R)
    with tempfile.TemporaryDirectory() as workdir, contextlib.ExitStack() as stack:
        hosts = stack.enter_context(two_hosts(Path(workdir))) if args.two_hosts else None
        for config in args.configs:
            single[config] = measured_rows(config, args.steps, hosts)
    model_table(single)


def measured_rows(config: str, steps: int, hosts=None) -> tuple:
    """Print one config's measured layouts, each 1-thread one beside the model; returns (parameters, tokens per
    step, batch, T1, R). hosts: the launch of two namespace hosts, whose 2 x 1 row runs over TCP, modelled with
    the all-reduce timed alone over the same link."""
    params, (raw, _) = parameters(config), find(config)
    results = {layout: measure(config, *layout, steps) for layout in LAYOUTS}
    alone = {None: allreduce_alone(params)}
    if hosts:
        results[TCP] = measure(config, 2, 1, False, True, steps, launch=hosts)
        alone[TCP] = allreduce_alone(params, launch=hosts)
    batch = raw["batch_size"]
    node = results[(1, 2, False, True)]["seconds"]
    core, core_replicated = results[(1, 1, False, True)]["seconds"], replicated_seconds(config, 1)
    for layout, r in results.items():
        (processes, threads, sharded, overlap), link = layout[:4], (TCP if layout == TCP else None)
        mpi = processes > 1
        reduce_alone = alone[link] if mpi else 0.0
        reduce = (
            f"{1000 * r['allreduce']:.2f} | {r['allreduce'] / r['seconds']:.1%} | {1000 * reduce_alone:.2f}"
            if mpi
            else "- | - | -"
        )
        model = (
            f"{1000 * modelled(core, core_replicated, batch, processes, sharded, reduce_alone):.1f}"
            if threads == 1
            else "-"
        )
        print(
            f"| {config} | {params:,} | {processes} x {threads}{' sharded' if sharded else ''}"
            f"{'' if overlap else ' no overlap'}{', 2 namespaces over TCP' if link else ''} | "
            f"{1000 * r['seconds']:.1f} | {model} | {r['tokens_per_second']:,.0f} "
            f"| {reduce} | {node / r['seconds']:.2f}x |"
        )
    print(f"| {config} | replicated work (clip, statistics, AdamW) alone | 1 x 1 | {1000 * core_replicated:.1f} |")
    return params, batch * raw["n_ctx"], batch, node, replicated_seconds(config, 2)


def model_table(single: dict):
    """The cost model's efficiencies for each measured config (and a 100M one scaled from baby-large)."""
    if "baby-large" in single:
        large_params, large_tokens, _, large_seconds, large_replicated = single["baby-large"]
        big, tokens = gpt_parameters(BIG["n_emb"], BIG["n_layers"], BIG["n_ctx"]), BIG["batch_size"] * BIG["n_ctx"]
        sizes = f"n_emb {BIG['n_emb']}, {BIG['n_layers']} layers, batch {BIG['batch_size']} x {BIG['n_ctx']}"
        label = f"100M ({sizes}; T1 estimated)"
        t1 = large_seconds * big / large_params * tokens / large_tokens
        single[label] = (big, tokens, BIG["batch_size"], t1, large_replicated * big / large_params)
    print(
        "\n# the cost model: ring all-reduce with latency per hop, rows per node, replicated work; global batch "
        "fixed, no overlap (efficiency = speed-up / N)\n"
    )
    header = " | ".join(f"{n} nodes {g} Gbit/s" for g in LINKS_GBIT for n in NODES)
    print(f"| config | parameters | batch | T1 ms | replicated ms | optimizer | {header} |")
    print("|---|---|---|---|---|---|" + "---|" * len(NODES) * len(LINKS_GBIT))
    for config, (params, _, batch, t1, replicated) in single.items():
        for sharded in (False, True):
            cells = []
            for gbit in LINKS_GBIT:
                for nodes in NODES:
                    step = modelled(t1, replicated, batch, nodes, sharded, ring_seconds(params, nodes, gbit))
                    idle = max(0, nodes - batch)
                    cells.append(f"{t1 / (nodes * step):.0%}" + (f" ({idle} idle)" if idle else ""))
            print(
                f"| {config} | {params:,} | {batch} | {1000 * t1:.0f} | {1000 * replicated:.1f} | "
                f"{'sharded' if sharded else 'replicated'} | " + " | ".join(cells) + " |"
            )
    print("\nrows per node: " + ", ".join(f"{n} nodes need a batch of {8 * n} for 8 rows each" for n in NODES))


if __name__ == "__main__":
    main()
