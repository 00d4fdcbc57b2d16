"""Run files: atomic writes, run names, `last`, writable homes."""

import errno
import os
import stat
import subprocess
import sys

import pytest

from littlebaby.errors import UserError
from littlebaby.store import home as files
from littlebaby.store.report import Report
from littlebaby.system import atomic, reading


def test_atomic_write_replaces_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "sub" / "a.json"
    atomic.write_json(path, {"a": 1})
    atomic.write_json(path, {"a": 2})
    assert reading.read_json(path, "test") == {"a": 2}
    assert os.listdir(path.parent) == ["a.json"]


def test_a_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "a.json"
    atomic.write_json(path, {"a": 1})
    with pytest.raises(TypeError):
        atomic.write_json(path, {"a": object()})
    assert reading.read_json(path, "test") == {"a": 1}
    assert os.listdir(tmp_path) == ["a.json"]


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_json_that_no_strict_reader_reads_is_never_written(tmp_path, value):
    path = tmp_path / "a.json"
    atomic.write_json(path, {"a": 1})
    with pytest.raises(ValueError, match="not JSON compliant"):
        atomic.write_json(path, {"nested": [{"loss": value}]})
    assert reading.read_json(path, "test") == {"a": 1} and os.listdir(tmp_path) == ["a.json"]


# a diverging run's last steps can have update ratios that overflowed float32 (stats.squared_norms):
# report.step_record writes them as null, so the strict readers (resume, runs, plot) still read the report
def test_a_run_stopped_by_a_nan_loss_has_a_report_that_reads_back(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "littlebaby.cli",
            "train",
            "--config",
            "tiny",
            "--set",
            "lr=1e20",
            "--set",
            "grad_clip=0",
            "--set",
            "weight_decay=0",
            "--set",
            "warmup_steps=0",
            "--set",
            "dtype=float32",
            "--set",
            "checkpoint_interval=1",
            "--quiet",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 2 and "training diverged" in done.stderr, done.stderr
    [path] = (tmp_path / "outputs").glob("report_*.json")
    report = Report.read(path).data  # what resume and plot read: strict
    assert report["status"] == "diverged"
    assert any(v is None for step in report["steps"] for group in step["groups"].values() for v in group.values())
    listed = subprocess.run(
        [sys.executable, "-m", "littlebaby.cli", "runs"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert "diverged" in listed.stdout, listed.stdout + listed.stderr
    plotted = subprocess.run(
        [sys.executable, "-m", "littlebaby.cli", "plot", "last", "--out", "curve.png"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert plotted.returncode == 0 and (tmp_path / "curve.png").stat().st_size > 0, plotted.stderr


def make_run(home, name):
    atomic.write_bytes(home.model(name), b"x")


def test_last_unknown_and_prefixes(tmp_path):
    home = files.Home(tmp_path)
    with pytest.raises(UserError, match="no runs"):
        home.resolve("last")
    first, second = files.new_guid(), files.new_guid()
    make_run(home, first)
    make_run(home, second)
    os.utime(home.model(first), ns=(1, 1))
    assert home.resolve("last") == second
    assert home.resolve(first) == first
    assert home.resolve(first[:8]) == first
    with pytest.raises(UserError, match="no run 'nope'"):
        home.resolve("nope")
    make_run(home, f"{first}_finetuned")
    assert home.resolve("last") == f"{first}_finetuned"
    assert home.resolve(first[:8]) == first


def test_a_finetune_never_takes_an_existing_name(tmp_path):
    home = files.Home(tmp_path)
    base = files.new_guid()
    assert home.finetune_name(base) == f"{base}_finetuned"
    make_run(home, f"{base}_finetuned")
    assert home.finetune_name(base) == f"{base}_finetuned2"


def test_completion_names(tmp_path):
    home = files.Home(tmp_path)
    assert home.completion("r").name == "completion_r.txt"
    atomic.write_text(home.completion("r", "20260101000000"), "x")
    assert home.completion("r", "20260101000000").name == "completion_r_20260101000000-2.txt"


def test_home_must_be_a_writable_directory(tmp_path):
    files.Home(tmp_path / "new" / "deeper").check_writable()  # may be created later
    assert not (tmp_path / "new").exists()
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match="not a directory"):
        files.Home(tmp_path / "file").check_writable()
    with pytest.raises(UserError, match="is a file"):
        files.Home(tmp_path / "file" / "below").check_writable()


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(done.stdout)


def test_the_next_command_removes_only_a_dead_writers_temporaries(tmp_path):
    home = files.Home(tmp_path)
    outputs, run_checkpoints = tmp_path / "outputs", tmp_path / "checkpoints" / "r"
    outputs.mkdir()
    run_checkpoints.mkdir(parents=True)
    dead, alive = dead_pid(), os.getpid()
    leftovers = [
        outputs / f".report_r.json.{dead}.ab12cd_x.tmp",
        run_checkpoints / f".step_000000005.{dead}.k2j3h4.tmp",
        outputs / ".report_r.json.abcdefgh.tmp",
    ]  # the last: an older version's name, without a pid
    kept = [
        outputs / f".report_r.json.{alive}.zz99yy.tmp",
        outputs / ".report_q.json.abcdefgh.tmp",
        outputs / "report_r.json",
    ]
    for path in leftovers + kept:
        path.mkdir() if "step_" in path.name else path.write_text("x")
    os.utime(leftovers[2], (1, 1))  # old enough to be a leftover; the other pid-less one is fresh
    home.check_writable()
    assert [p for p in leftovers if p.exists()] == [] and all(p.exists() for p in kept)


def test_a_writer_on_another_machine_is_never_judged_dead_by_its_pid(tmp_path):
    # a trainer in a container, or on another node sharing the home: its pid means nothing here
    from littlebaby.system import processes

    home = files.Home(tmp_path)
    folder = tmp_path / "checkpoints" / "r"
    folder.mkdir(parents=True)
    dead, ours, theirs = dead_pid(), processes.machine(), "0123456789ab"
    elsewhere = folder / f".step_000000099.{dead}-{theirs}.k2j3h4.tmp"
    here = folder / f".step_000000098.{dead}-{ours}.k2j3h4.tmp"
    forgotten = folder / f".step_000000097.{dead}-{theirs}.k2j3h5.tmp"
    for path in (elsewhere, here, forgotten):
        path.mkdir()
    os.utime(forgotten, (1, 1))  # older than any write could take: its writer is gone, wherever it was
    home.check_writable()
    assert elsewhere.exists() and not here.exists() and not forgotten.exists()
    assert atomic.temporary_prefix("x").endswith(f".{os.getpid()}-{ours}.")


def test_a_run_trained_in_another_container_of_this_host_lists_as_running(tiny_run):
    import json
    import socket

    from littlebaby import api

    home, name = tiny_run
    path = home / "outputs" / f"report_{name}.json"
    saved = path.read_text()
    report = json.loads(saved)
    report.update(status="running", writer={"pid": dead_pid(), "host": socket.gethostname(), "machine": "0123456789ab"})
    path.write_text(json.dumps(report))
    try:
        assert [row["status"] for row in api.runs(home)] == ["running"]
        report["writer"]["machine"] = None  # a record without one (older versions): this machine, pid dead
        path.write_text(json.dumps(report))
        assert [row["status"] for row in api.runs(home)] == ["killed"]
    finally:
        path.write_text(saved)


def test_names_are_reserved_once(tmp_path):
    path = tmp_path / "sub" / "name"
    assert atomic.reserve(path) and not atomic.reserve(path) and path.read_bytes() == b""
    home = files.Home(tmp_path)
    base = files.new_guid()
    names = [home.finetune_name(base) for _ in range(3)]  # as three finetunes started together would
    assert names == [f"{base}_finetuned", f"{base}_finetuned2", f"{base}_finetuned3"]
    assert len({home.completion("r", "20260101000000") for _ in range(3)}) == 3


def test_last_is_the_newest_model_not_a_run_that_just_started(tmp_path):
    home = files.Home(tmp_path)
    trained, starting, killed = files.new_guid(), files.new_guid(), files.new_guid()
    make_run(home, trained)
    assert home.reserve_run(killed)
    (home.checkpoints(killed) / "step_000000250").mkdir(parents=True)  # killed mid-way: a checkpoint, no model file
    os.utime(home.config(killed), ns=(2, 2))
    os.utime(home.model(trained), ns=(1, 1))
    os.utime(home.checkpoints(killed) / "step_000000250", ns=(2, 2))
    assert home.resolve("last") == killed
    assert home.reserve_run(starting)  # a finetune that just reserved its name: no model yet
    assert home.resolve("last") == killed and home.runs()[-1] == starting


# -- writes that fail: one line naming the path and the reason, the old file intact ---------
def refused_write(path) -> str:
    with pytest.raises(UserError) as error:
        atomic.write_bytes(path, b"new")
    text = str(error.value)
    assert "\n" not in text and str(path) in text
    return text


def test_writing_onto_a_directory_or_under_a_file_is_one_line(tmp_path):
    assert "it is a directory" in refused_write(tmp_path)
    (tmp_path / "afile").write_text("x")
    assert "afile is a file, not a directory" in refused_write(tmp_path / "afile" / "x.png")
    assert "afile is a file, not a directory" in refused_write(tmp_path / "afile" / "deeper" / "x.png")
    assert (tmp_path / "afile").read_text() == "x"


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc")
def test_writing_into_proc_is_one_line():
    refused_write("/proc/x.png")


@pytest.mark.parametrize(
    "code,fix",
    [
        (errno.ENOSPC, "free some disk space"),
        (errno.EROFS, "choose a writable path"),
        (errno.EACCES, "choose a writable path"),
    ],
)
def test_a_full_or_read_only_disk_keeps_the_old_file(tmp_path, monkeypatch, code, fix):
    path = tmp_path / "model.safetensors"
    atomic.write_bytes(path, b"old")

    def fail(fd):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "fsync", fail)  # where a full disk shows at the latest
    text = refused_write(path)
    assert os.strerror(code) in text and fix in text
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["model.safetensors"]


def test_an_empty_home_is_refused_not_taken_for_the_current_directory():
    with pytest.raises(UserError, match="the home is an empty path"):
        files.Home("")


def test_a_dangling_model_link_is_still_listed(tmp_path):
    home = files.Home(tmp_path)
    name = files.new_guid()
    home.model(name).parent.mkdir()
    home.model(name).symlink_to(tmp_path / "moved.safetensors")
    assert home.runs() == [name] and home.resolve("last") == name


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_writing_onto_a_fifo_keeps_the_fifo(tmp_path):  # a rename over it replaced it (as root: /dev/null too)
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(UserError, match="it is a FIFO"):
        atomic.write_text(tmp_path / "pipe", "text")
    assert stat.S_ISFIFO(os.lstat(tmp_path / "pipe").st_mode) and os.listdir(tmp_path) == ["pipe"]
