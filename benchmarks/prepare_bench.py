"""Prepared corpora at scale: prepare throughput and peak memory, and train --data DIR memory.

    uv run python benchmarks/prepare_bench.py                     # 1 GB corpus (and 100 MB beside it)
    uv run python benchmarks/prepare_bench.py --size 20M          # a quick run
    uv run python benchmarks/prepare_bench.py --tokenizer bpe --vocab-size 4096

A corpus of --size bytes is generated under a temporary folder (tiny
Shakespeare with its lines shuffled, in files of at most 64 MB, so BPE sees
real words) and deleted afterwards, with a second one a tenth of the size.
Each is prepared with `littlebaby prepare` (MB/s, peak RSS of that process),
then trained on with `littlebaby train --data DIR` for --steps steps of the
baby config (peak RSS of that process, and the report's own peak). Memory
that does not grow from the small corpus to the large one is the point.
Each command runs as a child process, so each peak is its own (os.wait4).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from littlebaby.text.source import shipped_text

FILE_BYTES = 64 << 20


def parse_size(text: str) -> int:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(float(text[:-1]) * units[text[-1].upper()]) if text[-1].upper() in units else int(text)


def write_corpus(folder: Path, size: int, seed: int = 0):
    """size bytes of shuffled Shakespeare lines in files of at most FILE_BYTES."""
    lines = np.array(shipped_text().splitlines(keepends=True), dtype=object)
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    written, number = 0, 0
    while written < size:
        target = min(FILE_BYTES, size - written)
        with open(folder / f"part{number:04d}.txt", "w", encoding="utf-8") as f:
            done = 0
            while done < target:
                chunk = "".join(lines[rng.permutation(len(lines))])[: target - done]
                f.write(chunk)
                done += len(chunk.encode("utf-8"))
        written += done
        number += 1


def run(command) -> tuple[float, float, str]:
    """(seconds, peak RSS in MB, stdout) of one child process."""
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    out = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"failed ({child.returncode}): {' '.join(map(str, command))}")
    return time.perf_counter() - started, usage.ru_maxrss / 1024, out


def measure(root: Path, size: int, args) -> dict:
    corpus, prepared, home = root / f"text{size}", root / f"prepared{size}", root / f"home{size}"
    write_corpus(corpus, size)
    cli = [sys.executable, "-m", "littlebaby.cli"]
    tokenizer = ["--set", f"c_tokenizer={args.tokenizer}"] + (
        ["--set", f"vocab_size={args.vocab_size}"] if args.tokenizer == "bpe" else []
    )
    seconds, prepare_rss, _ = run(cli + ["prepare", "--data", corpus, "--out", prepared, "--quiet"] + tokenizer)
    shutil.rmtree(corpus)  # the text is not needed to train: only the ids
    meta = json.loads((prepared / "meta.json").read_text())
    _, train_rss, _ = run(
        cli
        + [
            "train",
            "--data",
            prepared,
            "--set",
            f"max_steps={args.steps}",
            "--set",
            "eval_interval=1000000",
            "--quiet",
            "--home",
            home,
        ]
    )
    report = json.loads(next((home / "outputs").glob("report_*.json")).read_text())
    tokens = sum(split["tokens"] for split in meta["splits"].values())
    return {
        "size": size,
        "seconds": seconds,
        "mb_per_s": size / seconds / 1e6,
        "prepare_rss": prepare_rss,
        "tokens": tokens,
        "train_rss": train_rss,
        "report_peak": report["peak_memory_mb"],
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--size", default="1G", help="bytes of the large corpus, e.g. 1G, 200M (default 1G); the small one is a tenth"
    )
    parser.add_argument("--tokenizer", default="char", choices=["char", "bpe"])
    parser.add_argument("--vocab-size", type=int, default=4096, help="for bpe (default 4096)")
    parser.add_argument("--steps", type=int, default=20, help="train steps on each prepared corpus (default 20)")
    parser.add_argument("--keep", metavar="DIR", help="work in DIR and keep it (default: a temporary folder, deleted)")
    args = parser.parse_args(argv)
    large = parse_size(args.size)
    root = Path(args.keep or tempfile.mkdtemp(prefix="littlebaby-prepare-bench-"))
    try:
        rows = [measure(root, size, args) for size in (large // 10, large)]
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print(
        f"prepare and train --data DIR, {args.tokenizer} tokenizer, {args.steps} baby steps; CPU count {os.cpu_count()}"
    )
    print("| corpus | tokens | prepare s | prepare MB/s | prepare peak RSS MB | train peak RSS MB | report peak MB |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['size'] / 1e6:,.0f} MB | {r['tokens']:,} | {r['seconds']:.1f} | {r['mb_per_s']:.2f} | "
            f"{r['prepare_rss']:.0f} "
            f"| {r['train_rss']:.0f} | {r['report_peak']:.0f} |"
        )


if __name__ == "__main__":
    main()
