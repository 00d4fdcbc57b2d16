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
        capture_output=True,
        text=True,
        timeout=600,
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
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert "PyTorch skipped" in done.stderr


def test_bench_cli_mode_times_littlebaby_train_beside_the_bare_step():
    done = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--cli", "--models", "B"],
        capture_output=True,
        text=True,
        timeout=600,
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
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    for heading in (
        "1. Attention's batched matmuls",
        "fwd scores = k q^T",
        "2. The linear layers' GEMMs",
        "3. One train step, per op",
        "MixtureOfExperts (own code)",
        "optimizer (AdamW)",
    ):
        assert heading in done.stdout
    per_op = done.stdout.split("3. One train step, per op")[1].splitlines()
    rest = next(line for line in per_op if line.startswith("rest"))
    assert float(rest.split()[-2]) >= 0.0  # nested calls counted once: the ops never add up to more than the step


def test_profile_gemm_without_a_working_torch_prints_its_own_three_sections():
    done = subprocess.run(
        [
            sys.executable,
            str(BENCH.parent / "profile_gemm.py"),
            "--quick",
            "--models",
            "B",
            "--torch",
            "/nonexistent/python",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert "PyTorch skipped" in done.stderr
    assert "3. One train step, per op" in done.stdout and "4. Beside PyTorch" not in done.stdout


def test_profile_gemm_sets_the_two_step_profiles_side_by_side_by_kind_of_work():
    sys.path.insert(0, str(BENCH.parent))
    import profile_gemm

    profiler = profile_gemm.Profiler()
    # littlebaby, over 2 repeats: 8 ms of linear, 2 of GELU, 1 of block code, 3 of AdamW
    for label, seconds in [
        ("linear", 0.010),
        ("column_sum", 0.006),
        ("gelu", 0.004),
        ("MLP (own code)", 0.002),
        ("optimizer (AdamW)", 0.006),
    ]:
        profiler.seconds[(label, "forward")] = seconds
    theirs = {
        "optimizer": 0.002,
        "ops": {
            "aten::mm": 0.012,
            "aten::addmm": 0.004,
            "aten::gelu": 0.001,
            "aten::gelu_backward": 0.003,
            "aten::copy_": 0.0005,
        },
    }
    rows = {row[0]: row[1:] for row in profile_gemm.side_by_side(profiler, 2, theirs)}
    assert rows["linear layers (GEMMs, bias)"] == ["8.000", "16.000", "0.50x"]
    assert rows["GELU"] == ["2.000", "4.000", "0.50x"]
    assert rows["layer norm"] == ["0.000", "0.000", ""]
    assert rows["everything else (block code, copies, autograd)"] == ["1.000", "0.500", "2.00x"]
    assert rows["optimizer (AdamW, timed alone for PyTorch)"] == ["3.000", "2.000", "1.50x"]
    assert rows["step"] == ["14.000", "22.500", "0.62x"]
