"""The speedrun's techniques, each alone and all together, against a baseline config at equal wall time.

    uv run python benchmarks/techniques.py --config baby-rope --seconds 600   # the question as posed (hours)
    uv run python benchmarks/techniques.py --config baby --seconds 60         # a smaller one (about 30 min)
    uv run python benchmarks/techniques.py --tiny                             # a smoke run
    uv run python benchmarks/techniques.py --record techniques.json --only muon,qk-norm   # in parts

With `--record FILE` every finished run is kept in FILE (JSON) as it ends, and a later call with the same
file skips what it holds: the hours the table takes can be spread over several sittings (the baseline is
trained once), and a stopped benchmark loses at most the run it was in (a run stopped by a signal is
not counted). The table then names the span of dates and the machines its runs came from.

Each technique is a set of config overrides on top of `--config` (the baseline). Every row is trained as
benchmarks/architectures.py trains a block: its step time calibrated, then `--seeds` seeds for the same
wall time each, so a technique that slows the step gets fewer steps. Tiny Shakespeare overfits: the best val
loss of each run counts (and the step it was reached at is in its report). Prints a Markdown table: steps,
step time, best val loss mean ± std, and against the baseline the mean difference with Welch's two-sided
p-value (littlebaby's own `compare` test; the speedrun accepts a record at p < 0.01).

Timings mean something only on a quiet machine; name the CPU and the load beside the figures.
"""

import argparse
import datetime
import json
import os
import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from architectures import calibrate, measure, seed_run, summary  # noqa: E402
from bench import machine  # noqa: E402

from littlebaby.look.significance import welch  # noqa: E402

MUON = {"c_optimizer": "muon", "ns_steps": 5}  # as the table was measured
TECHNIQUES = {
    "baseline": {},
    "muon": {**MUON, "muon_momentum_warmup": 0},
    "muon, momentum warmup": {**MUON, "muon_momentum_warmup": 300},
    "relu2": {"c_network": "relu2"},
    "zero-init projections": {"zero_init_residual": True},
    "qk-norm": {"qk_norm": True},
    "logit soft-cap 15": {"logit_softcap": 15.0},
    "wsd schedule, cooldown 0.4": {"schedule": "wsd", "cooldown": 0.4},
    "tied head": {"tie_embeddings": True},
}
TECHNIQUES["all but the tied head"] = {
    key: value
    for name, keys in TECHNIQUES.items()
    if name not in ("muon", "tied head", "baseline")
    for key, value in keys.items()
}


SETTINGS = ("config", "seconds", "evals", "calibrate")


def now() -> str:
    return f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC"


class Record:
    """Finished runs kept in a JSON file, so that the benchmark can stop and go on where it stopped."""

    def __init__(self, path: Path, args):
        self.path, self.args = path, args
        settings = {key: getattr(args, key) for key in SETTINGS}
        self.data = json.loads(path.read_text()) if path.exists() else {**settings, "rows": {}}
        made = {key: self.data.get(key) for key in SETTINGS}
        if made != settings:
            given = " ".join(f"--{key} {value}" for key, value in made.items())
            sys.exit(f"{path} holds runs made with {given}; give those, or another --record")

    def save(self):
        spare = self.path.with_name(self.path.name + ".partial")
        spare.write_text(json.dumps(self.data, indent=1))
        os.replace(spare, self.path)

    def measure(self, name: str, home, keys: dict) -> dict:
        row = self.data["rows"].setdefault(name, {"keys": keys, "runs": {}})
        if row["keys"] != keys:
            sys.exit(f"{self.path} holds '{name}' with other settings ({row['keys']}); use another --record")
        if "steps" not in row:
            row["steps"] = calibrate(self.args, home, keys)
            self.save()
        for seed in map(str, range(self.args.seeds)):
            if seed not in row["runs"]:
                run = seed_run(self.args, home, keys, row["steps"], int(seed))
                row["runs"][seed] = {**run, "machine": machine(), "finished": now()}
                self.save()
        runs = [row["runs"][seed] for seed in map(str, range(self.args.seeds))]
        return summary(runs, row["steps"]) | {"runs": runs}


def provenance(rows: dict) -> list[str]:
    """When and where a recorded table's runs were made (nothing for a table made in one sitting)."""
    runs = [run for r in rows.values() for run in r.get("runs", [])]
    if not runs:
        return []
    finished = sorted(run["finished"] for run in runs)
    machines = "; ".join(sorted({run["machine"] for run in runs}))
    return [f"Runs finished {finished[0]} to {finished[-1]} on: {machines}"]


def markdown(rows: dict, args) -> str:
    base = rows["baseline"]["losses"]
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    lines = [
        f"config `{args.config}` (baseline), {args.seconds:g} s of training each, {args.seeds} seeds, best val loss",
        f"Machine: {machine()}; load {load}; {now()}",
        *provenance(rows),
        "",
        "| technique | steps | step ms | best val loss: mean ± std | vs baseline | Welch p |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        test = welch(base, r["losses"])
        p = "" if name == "baseline" or test.p is None else f"{test.p:.3g}"
        versus = "" if name == "baseline" else f"{test.difference:+.4f}"
        lines.append(
            f"| {name} | {r['steps']:,} | {r['step ms']} | {r['mean']:.4f} ± {r['std']:.4f} | {versus} | {p} |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default="baby-rope", help="the baseline: a shipped config or a JSON path")
    parser.add_argument("--seconds", type=float, default=600.0, help="training seconds per run (default 600)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--evals", type=int, default=10, help="val losses per run (the best counts)")
    parser.add_argument("--calibrate", type=int, default=20, help="steps timed to choose each row's step count")
    parser.add_argument(
        "--only",
        metavar="A,B",
        help="only these techniques, baseline kept: names as in the table, split by commas without a space",
    )
    parser.add_argument("--tiny", action="store_true", help="smoke test: config tiny, 2 s, 2 seeds, 4 evals")
    parser.add_argument("--home", help="keep the runs here (default: a temporary directory)")
    parser.add_argument("--record", type=Path, help="keep each finished run in this JSON file; skip what it holds")
    args = parser.parse_args(argv)
    if args.tiny:
        args.config, args.seconds, args.seeds, args.evals, args.calibrate = "tiny", 2.0, 2, 4, 5
    chosen = {"baseline"} | set(re.split(r",(?! )", args.only) if args.only else TECHNIQUES)
    unknown = sorted(chosen - set(TECHNIQUES))
    if unknown:
        sys.exit(f"unknown technique(s): {', '.join(unknown)}; known: {', '.join(TECHNIQUES)}")
    record = args.record and Record(args.record, args)
    with tempfile.TemporaryDirectory() as scratch:
        rows = {}
        for name, keys in TECHNIQUES.items():
            if name in chosen:
                home = args.home or scratch
                rows[name] = record.measure(name, home, keys) if record else measure(args, home, keys)
                print(f"{name}: {rows[name]['mean']:.4f} ± {rows[name]['std']:.4f}", file=sys.stderr, flush=True)
    print(markdown(rows, args))


if __name__ == "__main__":
    main()
