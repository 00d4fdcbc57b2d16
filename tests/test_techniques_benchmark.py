"""benchmarks/techniques.py runs (a smoke run): the baseline and the chosen techniques, each a row with its
difference from the baseline and Welch's p-value; an unknown technique is named."""

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "techniques.py"


def test_each_technique_gets_a_row_against_the_baseline(tmp_path):
    command = [sys.executable, str(SCRIPT), "--tiny", "--seconds", "0.3", "--only", "qk-norm,muon", "--home", tmp_path]
    done = subprocess.run(list(map(str, command)), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    rows = {line.split(" | ")[0][2:]: line for line in done.stdout.splitlines() if line.startswith("| ")}
    assert set(rows) == {"technique", "baseline", "qk-norm", "muon"}
    for name in ("qk-norm", "muon"):
        difference, p = rows[name].rstrip(" |").split(" | ")[-2:]
        assert re.fullmatch(r"[+-]\d\.\d{4}", difference) and 0.0 <= float(p) <= 1.0, rows[name]
    reports = list((tmp_path / "outputs").glob("report_*.json"))
    assert len(reports) == 3 * (1 + 2)  # a timing probe and two seeds each
    assert any('"qk_norm": true' in report.read_text() for report in reports)


def test_an_unknown_technique_is_named():
    done = subprocess.run([sys.executable, str(SCRIPT), "--tiny", "--only", "nosuch"], capture_output=True, text=True)
    assert done.returncode == 1 and "unknown technique(s): nosuch" in done.stderr
