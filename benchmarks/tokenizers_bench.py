"""char vs bpe at equal wall time on tiny Shakespeare, compared in val bits per byte.

    uv run python benchmarks/tokenizers_bench.py                  # the baby config, its 1500 char steps as the budget
    uv run python benchmarks/tokenizers_bench.py --config tiny --char-steps 100   # a quick run

The char run trains the config as it is (max_steps = --char-steps); its
training time is the budget. Each bpe run (vocab 512, 2048) first times a few
steps, then trains a full schedule of as many steps as fit in that budget, so
every run ends its cosine decay rather than being cut off. Step times are
compared by their medians, which a shared machine disturbs least. Loss per token is
not comparable across tokenizers; bits per byte of the same val text are.
"""

import argparse
import os
import statistics
import tempfile

from littlebaby import api

CALIBRATION_STEPS = 20


def train(config: str, home: str, overrides: dict):
    return api.train(config, overrides=overrides, home=home).report


def median_step_seconds(report: dict) -> float:
    return statistics.median(step["seconds"] for step in report["steps"])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="baby", help="shipped config name or JSON (default baby)")
    parser.add_argument(
        "--char-steps", type=int, default=1500, help="steps of the char run, whose time is the budget (default 1500)"
    )
    parser.add_argument(
        "--vocab-sizes", type=int, nargs="+", default=[512, 2048], help="bpe vocabularies (default 512 2048)"
    )
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="littlebaby-tokenizers-bench-") as home:
        char = train(args.config, home, {"max_steps": args.char_steps})
        budget = char["train_seconds"]
        rows.append(("char", char))
        for vocab_size in args.vocab_sizes:
            bpe = {"c_tokenizer": "bpe", "vocab_size": vocab_size}
            timing = train(args.config, home, {**bpe, "max_steps": CALIBRATION_STEPS, "eval_interval": 10**6})
            steps = max(1, int(args.char_steps * median_step_seconds(char) / median_step_seconds(timing)))
            rows.append((f"bpe {vocab_size}", train(args.config, home, {**bpe, "max_steps": steps})))
    print(
        f"tiny Shakespeare, config {args.config}, budget {budget:.1f} s of training (the char run's); CPU "
        f"count {os.cpu_count()}"
    )
    print("| tokenizer | vocab | steps | train s | bytes/token | best val loss | best val bits/byte |")
    print("|---|---|---|---|---|---|---|")
    for name, report in rows:
        print(
            f"| {name} | {report['vocab_size']} | {report['steps_done']} | {report['train_seconds']:.1f} | "
            f"{report['data']['val_bytes_per_token']:.2f} | {report['best_val_loss']:.4f} | "
            f"{report['best_val_bpb']:.4f} |"
        )


if __name__ == "__main__":
    main()
