"""benchmarks/architectures.py runs (a smoke run): one row per combination, sorted by loss."""

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "architectures.py"


def test_every_chosen_combination_gets_a_row_best_first(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--config",
            "tiny",
            "--seconds",
            "0.3",
            "--seeds",
            "2",
            "--evals",
            "2",
            "--calibrate",
            "3",
            "--sequence",
            "pre",
            "--attention",
            "mha",
            "--position",
            "learned,rope",
            "--network",
            "mlp",
            "--home",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith("| pre/")]
    assert sorted(row.split(" | ")[0] for row in rows) == ["| pre/mha+rope/mlp (no wpe)", "| pre/mha/mlp"]
    means = [float(re.search(r"\| ([\d.]+) ± ([\d.]+) \|", row).group(1)) for row in rows]
    assert means == sorted(means) and all(0 < m < 10 for m in means)
    assert len(list((tmp_path / "outputs").glob("report_*.json"))) == 2 * (1 + 2)  # a timing probe and 2 seeds each


def test_a_block_that_is_not_installed_is_named():
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--tiny", "--attention", "nosuch"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0 and "nosuch" in done.stderr
