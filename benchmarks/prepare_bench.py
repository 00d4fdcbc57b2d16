"""Prepared corpora at scale: prepare throughput and peak memory, and train --data DIR memory.

    uv run python benchmarks/prepare_bench.py                     # 200 MB corpus (and 20 MB beside it), char and bpe
    uv run python benchmarks/prepare_bench.py --size 20M          # a quick run
    uv run python benchmarks/prepare_bench.py --tokenizer bpe --vocab-size 4096 --text FILE

A corpus of --size bytes is generated under a temporary folder (the lines of
--text, tiny Shakespeare by default, shuffled, in files of at most 64 MB, so
BPE sees real words) and deleted afterwards, with a second one a tenth of the
size. Each is prepared with `littlebaby prepare` (MB/s; CPU seconds, its
worker processes' included; peak RSS of that process and of its largest worker:
all of prepare's memory is at most the first plus the workers times the
second), then its text is encoded again as prepare encodes it, on as many
workers, without training the tokenizer or writing (encode MB/s: what a corpus
far larger than the tokenizer's sample approaches), then trained on with
`littlebaby train --data DIR` for --steps steps of the baby config (peak RSS of
that process, and the report's own peak). Memory that does not grow from the
small corpus to the large one is the point. Each command runs as a child
process, so each peak is its own (os.wait4). The CPU and the load average (the
machine may be shared: CPU seconds then say more than wall time) are printed
with the figures.
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

from littlebaby.runs.prepare import BATCH
from littlebaby.system.threads import cores
from littlebaby.text.source import shipped_text

FILE_BYTES = 64 << 20


def parse_size(text: str) -> int:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(float(text[:-1]) * units[text[-1].upper()]) if text[-1].upper() in units else int(text)


# the encoding prepare does (runs/prepare.py), timed alone: blocks cut where the tokenizer says, in batches, on
# prepare's worker processes (argv[3]: how many; 1: in this process)
ENCODE_ONLY = """
import sys, time
from littlebaby.runs.data import open_prepared
from littlebaby.runs.encoding import Encoder
from littlebaby.runs.prepare import BATCH
from littlebaby.text.source import blocks, list_sources
tokenizer, _, meta = open_prepared(sys.argv[1], n_ctx=1)
started, batch, tokens = time.perf_counter(), [], 0
with Encoder(tokenizer, meta["dtype"], int(sys.argv[3])) as encoder:
    for source in list_sources([sys.argv[2]]):
        for block in blocks(source, cut=tokenizer.cut):
            batch.append(block)
            if sum(map(len, batch)) >= BATCH:
                tokens += sum(len(ids) for done in encoder.send(batch, tokenizer) for ids in done)
                batch = []
    tokens += sum(len(ids) for done in encoder.send(batch, tokenizer) + encoder.rest() for ids in done)
print(time.perf_counter() - started, tokens)
"""

# prepare as the command runs it, then its own peak RSS and its largest worker's (RUSAGE_CHILDREN), in KB
PREPARE = """
import resource, sys
from littlebaby.cli.main import main
code = main(sys.argv[1:])
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(code)
"""


def cpu_name() -> str:
    with open("/proc/cpuinfo") as f:
        names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
    return f"{names[0] if names else 'unknown CPU'}, {os.cpu_count()} cores"


def write_corpus(folder: Path, size: int, text: str, seed: int = 0):
    """size bytes of the shuffled lines of text in files of at most FILE_BYTES."""
    lines = np.array(text.splitlines(keepends=True), dtype=object)
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


def run(command) -> tuple[float, float, str, float]:
    """(seconds, peak RSS in MB, stdout, CPU seconds: its own and its children's) of one child process."""
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    out = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"failed ({child.returncode}): {' '.join(map(str, command))}")
    return time.perf_counter() - started, usage.ru_maxrss / 1024, out, usage.ru_utime + usage.ru_stime


def measure(root: Path, size: int, args) -> dict:
    corpus, prepared, home = root / f"text{size}", root / f"prepared{size}", root / f"home{size}"
    write_corpus(corpus, size, args.text_content)
    cli = [sys.executable, "-m", "littlebaby.cli"]
    tokenizer = ["--set", f"c_tokenizer={args.tokenizer}"] + (
        ["--set", f"vocab_size={args.vocab_size}"] if args.tokenizer == "bpe" else []
    )
    threads = ["--set", f"threads={args.threads}"] if args.threads else []
    seconds, _, out, cpu = run(
        [sys.executable, "-c", PREPARE, "prepare", "--data", corpus, "--out", prepared, "--quiet"] + tokenizer + threads
    )
    prepare_rss, worker_rss = (int(kb) / 1024 for kb in out.split()[-2:])
    workers = str(args.threads or cores()) if args.tokenizer == "bpe" and size > BATCH else "1"
    _, _, out, encode_cpu = run([sys.executable, "-c", ENCODE_ONLY, prepared, corpus, workers])
    encode_seconds = float(out.split()[0])
    shutil.rmtree(corpus)  # the text is not needed to train: only the ids
    meta = json.loads((prepared / "meta.json").read_text())
    _, train_rss, _, _ = run(
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
        "cpu": cpu,
        "encode_mb_per_s": size / encode_seconds / 1e6,
        "encode_cpu": encode_cpu,
        "prepare_rss": prepare_rss,
        "worker_rss": worker_rss,
        "workers": workers,
        "tokens": tokens,
        "train_rss": train_rss,
        "report_peak": report["peak_memory_mb"],
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--size", default="200M", help="bytes of the large corpus, e.g. 1G, 200M (default 200M); the small one a tenth"
    )
    parser.add_argument("--tokenizer", default="both", choices=["char", "bpe", "both"])
    parser.add_argument("--text", help="a UTF-8 text whose lines make the corpus (default: the shipped Shakespeare)")
    parser.add_argument("--vocab-size", type=int, default=4096, help="for bpe (default 4096)")
    parser.add_argument("--steps", type=int, default=20, help="train steps on each prepared corpus (default 20)")
    parser.add_argument("--threads", type=int, default=0, help="prepare's threads key (default 0: one per core)")
    parser.add_argument("--keep", metavar="DIR", help="work in DIR and keep it (default: a temporary folder, deleted)")
    args = parser.parse_args(argv)
    args.text_content = Path(args.text).read_text(encoding="utf-8") if args.text else shipped_text()
    large = parse_size(args.size)
    load = os.getloadavg()
    print(f"{cpu_name()}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the start")
    print(f"prepare and train --data DIR, {args.steps} baby steps; bpe vocab_size {args.vocab_size}")
    print(
        "| tokenizer | corpus | tokens | prepare s | prepare CPU s | prepare MB/s | encoding processes | encode MB/s "
        "| encode CPU s | prepare peak RSS MB | largest worker's MB | train peak RSS MB | report peak MB |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for tokenizer in ("char", "bpe") if args.tokenizer == "both" else (args.tokenizer,):
        args.tokenizer = tokenizer
        root = Path(args.keep or tempfile.mkdtemp(prefix="littlebaby-prepare-bench-")) / tokenizer
        try:
            for size in (large // 10, large):
                r = measure(root, size, args)
                print(
                    f"| {tokenizer} | {r['size'] / 1e6:,.1f} MB | {r['tokens']:,} | {r['seconds']:.1f} | "
                    f"{r['cpu']:.1f} | "
                    f"{r['mb_per_s']:.2f} | {r['workers']} | {r['encode_mb_per_s']:.2f} | {r['encode_cpu']:.1f} "
                    f"| {r['prepare_rss']:.0f} "
                    f"| {r['worker_rss']:.0f} | {r['train_rss']:.0f} | {r['report_peak']:.0f} |",
                    flush=True,
                )
        finally:
            if not args.keep:
                shutil.rmtree(root.parent, ignore_errors=True)
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the end")


if __name__ == "__main__":
    main()
