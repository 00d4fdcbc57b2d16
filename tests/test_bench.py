"""The benchmark script runs (CI smoke run); its timings are never asserted."""

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "bench.py"


def test_bench_quick_runs_and_prints_its_tables(tmp_path):
    markdown = tmp_path / "results.md"
    markdown.write_text("# old results\n\n### Train step\nold table\n\n## Why the fast paths\n\nnotes kept\n")
    done = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--markdown", str(markdown)],
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr
    for heading in ("## Train step", "## Generation", "| model |", "GEMM peak", "| B |", "| post/moh/moe |"):
        assert heading in done.stdout
    written = markdown.read_text()
    assert "### Train step" in written and "old table" not in written
    assert written.endswith("\n## Why the fast paths\n\nnotes kept\n")  # the hand-written section survives


def test_bench_skips_an_unavailable_torch():
    done = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--torch", "/nonexistent/python"],
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert "PyTorch skipped" in done.stderr
