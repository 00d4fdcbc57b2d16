"""Every installed sequence x attention x network block x position, trained for the same wall time: which learns most?

    uv run python benchmarks/architectures.py                    # the baby config, 90 s each, 3 seeds (hours!)
    uv run python benchmarks/architectures.py --attention mha --position learned,rope --network mlp,swiglu
    uv run python benchmarks/architectures.py --tiny             # a smoke run: config tiny, 2 s each

Equal wall time, not equal steps: a slower block gets fewer steps. Each combination is first
timed for a few steps (`--calibrate`), then trained with max_steps = seconds / (median step
time), so its warmup and cosine decay fit the budget; val loss is measured `--evals` times
over the run and the best one counts. Prints a Markdown table, best first: mean and spread
(sample standard deviation, min-max) of the best val loss over the seeds.

Timings mean something only on a quiet machine: the README's table needs such a run.
Runs go through the public API into a temporary home (or `--home`).
"""

import argparse
import datetime
import itertools
import statistics
import sys
import tempfile
from pathlib import Path

import littlebaby
from littlebaby.config import BLOCK_KEYS
from littlebaby.look.listing import comparison_row
from littlebaby.plugins.registry import default_registry

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import machine  # noqa: E402


def installed(kind: str, wanted: str | None) -> list[str]:
    names = [entry.name for entry in default_registry().entries() if entry.kind == kind]
    if wanted is None:
        return names
    chosen = wanted.split(",")
    missing = [name for name in chosen if name not in names]
    if missing:
        sys.exit(f"not installed ({kind}): {', '.join(missing)}; installed: {', '.join(names)}")
    return chosen


def train(args, home, blocks: dict, overrides: dict) -> dict:
    """One run of `blocks` with overrides; its comparison row (littlebaby.store.report)."""
    result = littlebaby.train(args.config, overrides={**blocks, **overrides}, home=home)
    if result.status == "interrupted":  # stopped early by a signal: its best val loss is not the run's
        sys.exit(f"run {result.name} was stopped by {result.stop_signal} before its last step: not counted")
    return comparison_row(result.name, result.report)


def calibrate(args, home, blocks: dict) -> int:
    """The step count that fills `args.seconds` at the median step time of `args.calibrate` timed steps."""
    probe = train(args, home, blocks, {"max_steps": args.calibrate, "eval_interval": args.calibrate, "eval_windows": 1})
    return max(2, int(args.seconds * 1000 / probe["step ms"]))


def seed_run(args, home, blocks: dict, steps: int, seed: int) -> dict:
    """One seed trained for `steps`, val loss measured `args.evals` times; its comparison row."""
    overrides = {"max_steps": steps, "eval_interval": max(1, steps // args.evals), "seed": seed}
    return train(args, home, blocks, {**overrides, "warmup_steps": min(100, steps // 10)})


def summary(rows: list[dict], steps: int) -> dict:
    """The seeds' rows as one line of the table: steps, median step time, best val loss mean, spread."""
    losses = [row["best val loss"] for row in rows]
    return {
        "blocks": rows[0]["blocks"],
        "parameters": rows[0]["parameters"],
        "steps": steps,
        "step ms": round(statistics.median(row["step ms"] for row in rows), 1),
        "mean": statistics.mean(losses),
        "std": statistics.stdev(losses) if len(losses) > 1 else 0.0,
        "range": (min(losses), max(losses)),
        "losses": losses,
    }


def measure(args, home, blocks: dict) -> dict:
    """Calibrate the step time, then train every seed for the same seconds."""
    steps = calibrate(args, home, blocks)
    return summary([seed_run(args, home, blocks, steps, seed) for seed in range(args.seeds)], steps)


def markdown(results: list[dict], args) -> str:
    lines = [
        f"config `{args.config}`, {args.seconds:g} s of training each, {args.seeds} seeds, best val loss",
        f"Machine: {machine()}; {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
        "",
        "| blocks | parameters | steps | step ms | best val loss: mean ± std | min - max |",
        "|---|---|---|---|---|---|",
    ]
    for r in sorted(results, key=lambda r: r["mean"]):
        lines.append(
            f"| {r['blocks']} | {r['parameters']:,} | {r['steps']:,} | {r['step ms']} | "
            f"{r['mean']:.4f} ± {r['std']:.4f} | {r['range'][0]:.4f} - {r['range'][1]:.4f} |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default="baby", help="a shipped config or a JSON path (default: baby)")
    parser.add_argument(
        "--seconds", type=float, default=90.0, help="training seconds per run (default 90: the baby's 1,500 steps here)"
    )
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--evals", type=int, default=10, help="val losses per run (the best counts)")
    parser.add_argument("--calibrate", type=int, default=20, help="steps timed to choose each combination's step count")
    for kind in BLOCK_KEYS:
        parser.add_argument(f"--{kind}", metavar="A,B", help=f"only these {kind} blocks (default: every installed one)")
    parser.add_argument(
        "--tiny", action="store_true", help="smoke test: config tiny, 2 s, 2 seeds, 4 evals, 5 calibration steps"
    )
    parser.add_argument("--home", help="keep the runs here (default: a temporary directory)")
    args = parser.parse_args(argv)
    if args.tiny:
        args.config, args.seconds, args.seeds, args.evals, args.calibrate = "tiny", 2.0, 2, 4, 5
    names = [installed(kind, getattr(args, kind)) for kind in BLOCK_KEYS]
    with tempfile.TemporaryDirectory() as scratch:
        home = args.home or scratch
        results = []
        for chosen in itertools.product(*names):
            blocks = dict(zip(BLOCK_KEYS.values(), chosen))
            results.append(measure(args, home, blocks))
            print(
                f"{results[-1]['blocks']}: {results[-1]['mean']:.4f} ± {results[-1]['std']:.4f}",
                file=sys.stderr,
                flush=True,
            )
    print(markdown(results, args))


if __name__ == "__main__":
    main()
