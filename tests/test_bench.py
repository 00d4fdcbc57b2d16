"""The benchmark scripts run (CI smoke runs); their timings are never asserted, only their arithmetic."""

import subprocess
import sys
from pathlib import Path

import pytest

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


def test_bench_cli_mode_times_littlebaby_train_beside_the_bare_step():
    done = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--cli", "--models", "B"],
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr
    section = done.stdout.split("## Through the CLI")[1]
    row = next(line for line in section.splitlines() if line.startswith("| B |"))
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    short_s, long_s, per_step, bare = map(float, cells[2:6])
    assert 0 < short_s and 0 < bare and cells[6].endswith("%")
    # 6 minus 2 steps in quick mode; seconds are printed to the millisecond
    assert per_step == pytest.approx((long_s - short_s) / 4 * 1e3, abs=0.3)


def test_profile_gemm_quick_prints_the_three_sections_with_exclusive_op_times():
    done = subprocess.run(
        [sys.executable, str(BENCH.parent / "profile_gemm.py"), "--quick", "--models", "C"],
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr
    for heading in ("1. Attention's batched matmuls", "fwd scores = k q^T", "2. The linear layers' GEMMs",
                    "3. One train step, per op", "MixtureOfExperts (own code)", "optimizer (AdamW)"):
        assert heading in done.stdout
    per_op = done.stdout.split("3. One train step, per op")[1].splitlines()
    rest = next(line for line in per_op if line.startswith("rest"))
    assert float(rest.split()[-2]) >= 0.0  # nested calls counted once: the ops never add up to more than the step
