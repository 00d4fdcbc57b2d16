"""What an optimizer's step costs beside the forward and backward it follows, on this CPU.

    uv run python benchmarks/optimizer_cost.py                     # baby and baby-rope, adamw and muon
    uv run python benchmarks/optimizer_cost.py --configs baby --steps 5
    uv run python benchmarks/optimizer_cost.py --threads 1          # the optimizer on one thread alone

For each config: the median time of one forward + backward on a training batch (the config's batch_size x
n_ctx tokens), and of one optimizer step on the same model: AdamW, and Muon with 5, 3 and 2 Newton-Schulz
iterations. Muon's five iterations on an m x n matrix cost about 5 m / T of that matrix's forward and backward
at T tokens a step: the ratio printed says what that is here. The forward + backward runs as one worker of a
split step; the optimizer is built with `--threads` workers, as a run with that many threads builds it (Muon
orthogonalises its matrices in groups, one per thread). Name the CPU and the load beside the figures.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import machine  # noqa: E402

from littlebaby.config import block_options  # noqa: E402
from littlebaby.configs import find  # noqa: E402
from littlebaby.plugins import resolve  # noqa: E402
from littlebaby.system.threads import cores  # noqa: E402

OPTIMIZERS = {"adamw": {}, "muon (5)": {"ns_steps": 5}, "muon (3)": {"ns_steps": 3}, "muon (2)": {"ns_steps": 2}}


def median_seconds(work, steps: int) -> float:
    work()  # warm-up: first-touch pages, BLAS threads
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(name: str, steps: int, threads: int) -> list[str]:
    base = find(name)[0]
    rows = []
    step_time = None
    for label, options in OPTIMIZERS.items():
        keys = {**base, "dropout": 0.0, "threads": 1} | ({"c_optimizer": "muon", **options} if options else {})
        config = resolve.config(keys)
        model = resolve.build_model(config, vocab_size=65).train()
        rng = np.random.default_rng(0)
        ids = rng.integers(0, 65, (config.batch_size, config.n_ctx))
        if step_time is None:

            def forward_backward():
                model.grad[...] = 0.0
                model.loss_and_grad(ids, np.roll(ids, -1, axis=1))

            step_time = median_seconds(forward_backward, steps)
            rows.append(f"| {name} | forward + backward | {1000 * step_time:.1f} | 1.00 |")
        cls = config.chosen("optimizer")
        optimizer = cls.build(model.parameters, config, block_options(config, cls), threads)
        grad = rng.standard_normal(model.parameters.size).astype(model.parameters.data.dtype) * 1e-3
        seconds = median_seconds(lambda: optimizer.step(grad, config.lr), steps)
        rows.append(f"| {name} | {label} step | {1000 * seconds:.1f} | {seconds / step_time:.2f} |")
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--configs", default="baby,baby-rope", help="shipped configs, comma-separated")
    parser.add_argument("--steps", type=int, default=10, help="timed repetitions (median)")
    parser.add_argument("--threads", type=int, default=cores(), help="the optimizer's worker threads (default: cores)")
    args = parser.parse_args(argv)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"Machine: {machine()}; load {load}; forward + backward on one thread, the optimizer on {args.threads}\n")
    print("| config | work | median ms | vs forward + backward |")
    print("|---|---|---|---|")
    for name in args.configs.split(","):
        for row in measure(name, args.steps, args.threads):
            print(row, flush=True)


if __name__ == "__main__":
    main()
