"""benchmarks/techniques.py runs (a smoke run): the baseline and the chosen techniques, each a row with its
difference from the baseline and Welch's p-value; an unknown technique is named."""

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "techniques.py"


def test_each_technique_gets_a_row_against_the_baseline(tmp_path):
    command = [sys.executable, str(SCRIPT), "--tiny", "--seconds", "0.3", "--only", "qk-norm,muon, momentum warmup"]
    command += ["--home", tmp_path]
    done = subprocess.run(list(map(str, command)), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    rows = {line.split(" | ")[0][2:]: line for line in done.stdout.splitlines() if line.startswith("| ")}
    assert set(rows) == {"technique", "baseline", "qk-norm", "muon, momentum warmup"}
    for name in ("qk-norm", "muon, momentum warmup"):
        difference, p = rows[name].rstrip(" |").split(" | ")[-2:]
        assert re.fullmatch(r"[+-]\d\.\d{4}", difference) and 0.0 <= float(p) <= 1.0, rows[name]
    reports = list((tmp_path / "outputs").glob("report_*.json"))
    assert len(reports) == 3 * (1 + 2)  # a timing probe and two seeds each
    assert any('"qk_norm": true' in report.read_text() for report in reports)


def test_an_unknown_technique_is_named():
    done = subprocess.run([sys.executable, str(SCRIPT), "--tiny", "--only", "nosuch"], capture_output=True, text=True)
    assert done.returncode == 1 and "unknown technique(s): nosuch" in done.stderr


def test_a_record_lets_the_table_be_made_in_parts(tmp_path):
    record = tmp_path / "techniques.json"

    def run(only, *more):
        command = [sys.executable, str(SCRIPT), "--tiny", "--seconds", "0.3", "--only", only, "--home", tmp_path]
        done = subprocess.run(list(map(str, [*command, "--record", record, *more])), capture_output=True, text=True)
        return done, len(list((tmp_path / "outputs").glob("report_*.json")))

    done, trained = run("qk-norm")
    assert done.returncode == 0, done.stderr
    assert trained == 2 * 3 and "Runs finished " in done.stdout
    first = json.loads(record.read_text())
    assert set(first["rows"]) == {"baseline", "qk-norm"} and set(first["rows"]["qk-norm"]["runs"]) == {"0", "1"}

    del first["rows"]["qk-norm"]["runs"]["1"]  # as if stopped during qk-norm's second seed
    record.write_text(json.dumps(first))
    done, trained = run("qk-norm,relu2")
    assert done.returncode == 0, done.stderr
    assert trained == 2 * 3 + 1 + 3  # only the missing seed and the new row were trained
    rows = {line.split(" | ")[0][2:]: line for line in done.stdout.splitlines() if line.startswith("| ")}
    assert set(rows) == {"technique", "baseline", "qk-norm", "relu2"}
    again = json.loads(record.read_text())
    assert again["rows"]["baseline"] == first["rows"]["baseline"]

    record.write_text(json.dumps({**again, "seconds": 5.0}))  # made with other settings: refused, nothing run
    done, trained = run("qk-norm")
    assert done.returncode == 1 and "--seconds 5.0" in done.stderr and trained == 10


def training(report: Path) -> bool:
    """A run of many steps under way (the timing probe has only a few)."""
    try:
        data = json.loads(report.read_text())
    except (OSError, ValueError):  # not yet written
        return False
    return data.get("status") == "running" and data.get("total_steps", 0) > 100 and len(data.get("steps", [])) > 5


def test_a_run_stopped_by_a_signal_is_not_kept(tmp_path):
    record, outputs = tmp_path / "techniques.json", tmp_path / "outputs"
    command = [sys.executable, str(SCRIPT), "--tiny", "--seconds", "60", "--only", "qk-norm", "--home", tmp_path]
    bench = subprocess.Popen(list(map(str, [*command, "--record", record])), stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not any(map(training, outputs.glob("report_*.json"))):  # the baseline's first seed, after its probe
        assert bench.poll() is None and time.monotonic() < deadline, bench.stderr.read()
        time.sleep(0.2)
    bench.send_signal(signal.SIGTERM)
    _, err = bench.communicate(timeout=300)
    stopped = re.search(r"run (\S+) was stopped by SIGTERM before its last step: not counted", err)
    assert bench.returncode == 1 and stopped, err
    baseline = json.loads(record.read_text())["rows"]["baseline"]
    kept = [run["run"] for run in baseline["runs"].values()]
    assert "steps" in baseline and len(kept) < 2 and stopped[1][:8] not in kept  # finished seeds kept, not it
