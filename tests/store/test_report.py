"""The run report: one schema, written by training, read strictly by resume and plot, tolerantly by `runs`."""

import json
import socket

import numpy as np
import pytest

from littlebaby.errors import UserError
from littlebaby.look import listing
from littlebaby.store import records
from littlebaby.store.report import Report


def test_environment_names_numpy_and_blas():
    info = records.environment()
    assert info["numpy"] == np.__version__ and "python" in info and "blas" in info


def test_a_trained_run_lists_with_every_column(tiny_run):
    home, name = tiny_run
    [row] = listing.runs(home)
    assert row["guid"] == name and row["status"] == "finished" and row["steps"] == 4
    assert row["name"] == "tiny max_steps=4" and row["blocks"] == "pre/mha/mlp" and row["params"] > 0
    assert isinstance(row["best_val_loss"], float) and row["date"][:2] == "20"


@pytest.mark.parametrize(
    "damaged",
    [
        [1, 2],
        "text",
        None,
        {"status": "running", "writer": {"pid": 10**20, "host": socket.gethostname()}},
        {"status": "running", "writer": {"pid": -1, "host": socket.gethostname()}},
        {"config": "pre", "data": "x", "steps_done": "many", "status": 3},
        {"config": {"c_sequence": 1}, "created": 5, "best_val_loss": True},
    ],
)
def test_a_damaged_report_lists_as_unknowns_not_a_crash(damaged):
    row = listing.row("r", Report(damaged))
    assert row["guid"] == "r" and row["status"] in ("?", "killed") and row["name"] == "?"
    assert row["steps"] is None and row["best_val_loss"] is None and row["params"] is None
    assert set(row["blocks"].split("/")) <= {"?"}


def test_reading_a_report_that_is_not_an_object_is_one_user_error(tmp_path):
    path = tmp_path / "report.json"
    path.write_text(json.dumps([1, 2]))
    with pytest.raises(UserError, match="not a littlebaby report"):
        Report.read(path)


def test_the_data_of_a_run_is_recorded_by_key(tiny_run):
    home, name = tiny_run
    report = Report.read(home / "outputs" / f"report_{name}.json")
    data = report.trained_on("report")
    assert data.shipped == "shakespeare" and data.characters > 1_000_000
    with pytest.raises(UserError, match="does not record the run's data"):
        Report({"data": "tiny Shakespeare (shipped)"}).trained_on("report")


def random_json(rng, depth=0):
    kind = rng.integers(0, 7 if depth < 3 else 5)
    if kind == 0:
        return None
    if kind == 1:
        return bool(rng.integers(0, 2))
    if kind == 2:
        return int(rng.integers(-(10**6), 10**6))
    if kind == 3:
        return float(rng.normal()) * 10.0 ** int(rng.integers(-5, 30))
    if kind == 4:
        return "".join(rng.choice(list("abcT:-0 é"), size=int(rng.integers(0, 20))))
    if kind == 5:
        return [random_json(rng, depth + 1) for _ in range(int(rng.integers(0, 4)))]
    return {
        str(k): random_json(rng, depth + 1)
        for k in rng.choice(["config", "status", "c_network", "created", "x"], size=3)
    }


def test_any_damage_to_a_report_lists_without_a_crash(tiny_run):
    home, name = tiny_run
    good = Report.read(home / "outputs" / f"report_{name}.json").data
    rng = np.random.default_rng(0)
    for _ in range(500):
        damaged = json.loads(json.dumps(good))
        for key in rng.choice(sorted(damaged), size=int(rng.integers(1, 6))):
            damaged[str(key)] = random_json(rng)
        report = damaged if rng.random() < 0.9 else random_json(rng)
        row = listing.row(name, Report(report))
        assert all(value is None or isinstance(value, (str, int, float)) for value in row.values())
        assert isinstance(row["status"], str) and isinstance(row["blocks"], str) and isinstance(row["date"], str)
        wide = listing.comparison_row(name, Report(report))  # runs --markdown reads more of the report
        assert all(value is None or isinstance(value, (str, int, float)) for value in wide.values())
        assert listing.markdown([wide]).count("\n") == 2


def test_val_curve_counts_step_seconds_up_to_each_eval():
    report = {
        "steps": [{"step": s, "seconds": 0.5} for s in range(1, 7)],
        "val": [{"step": 0, "loss": 4.0}, {"step": 3, "loss": 3.0}, {"step": 6, "loss": 2.5}],
    }
    assert Report(report).val_curve() == ([0, 3, 6], [0.0, 1.5, 3.0], [4.0, 3.0, 2.5])


def test_comparison_row_tolerates_a_damaged_report_and_shows_bits_per_byte():
    row = listing.comparison_row("abcdef0123", Report({"config": "oops", "steps": [{"seconds": "x"}]}))
    assert row["run"] == "abcdef01" and row["n_ctx"] is None and row["step ms"] is None
    assert "val bits per byte" not in row
    assert listing.comparison_row("r", Report({"best_val_bpb": 2.1}))["val bits per byte"] == 2.1
    assert "| ? |" in listing.markdown([row])


def test_a_report_too_large_to_parse_here_is_refused_before_reading(tiny_run, monkeypatch):
    # a crafted report of '[],[],...' takes ~24 bytes of memory per byte to parse: the 256 MiB cap
    # alone would let one take 6 GB; a small machine refuses it by its size first
    from littlebaby.system import memory

    home, name = tiny_run
    path = home / "outputs" / f"report_{name}.json"
    size = path.stat().st_size
    monkeypatch.setattr(memory, "available", lambda *args: size * memory.JSON_BYTES_PER_BYTE - 1)
    with pytest.raises(UserError, match="parsing JSON takes up to 24 times its size in memory"):
        Report.read(path, name)
    [listed] = listing.runs(home)  # the listing does not parse it either: the run lists with unknowns
    assert listed["guid"] == name and listed["steps"] is None
    monkeypatch.setattr(memory, "available", lambda *args: size * memory.JSON_BYTES_PER_BYTE)
    assert Report.read(path, name).data["guid"] == name
    assert listing.runs(home)[0]["steps"] == 4
