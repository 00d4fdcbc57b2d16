"""Hostile use of the run layer from the command line: damaged checkpoint folders, homes whose
folders are files or symlink loops, resume flags that cannot apply. Each is one line on stderr,
exit 2, and no file written (or, for a damaged checkpoint, resume from the intact one before it)."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from littlebaby.store import checkpoints


def files_in(home):
    return sorted(str(p.relative_to(home)) for p in home.rglob("*"))


@pytest.fixture(scope="module")
def two_checkpoints(tmp_path_factory, littlebaby):
    """A tiny finished run with checkpoints at steps 4 and 6."""
    home = tmp_path_factory.mktemp("pristine")
    done = littlebaby(
        "train",
        "--config",
        "tiny",
        "--set",
        "checkpoint_interval=2",
        "--set",
        "max_steps=6",
        "--quiet",
        "--home",
        home,
        cwd=home,
    )
    assert done.returncode == 0, done.stderr
    (name,) = os.listdir(home / "checkpoints")
    return home, name


@pytest.fixture
def damaged(two_checkpoints, tmp_path):
    """A copy of the run to damage: (home, name, its checkpoint folder)."""
    pristine, name = two_checkpoints
    home = tmp_path / "home"
    shutil.copytree(pristine, home, symlinks=True)
    return home, name, home / "checkpoints" / name


def one_line(result, code=2):
    assert result.returncode == code and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return result.stderr


@pytest.mark.parametrize(
    "position",
    [{"steps": "x", "val": -5}, {"steps": 6, "val": 2, "train_seconds": "soon"}, {"steps": True, "val": 2}, [6, 2]],
)
def test_a_manifest_with_a_damaged_report_position_is_a_broken_checkpoint(damaged, position, littlebaby):
    home, name, folder = damaged
    manifest = folder / "step_000000006" / checkpoints.MANIFEST
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "report": position}))
    resumed = littlebaby("train", "--resume", name, "--set", "max_steps=8", "--quiet", "--home", home, cwd=home)
    assert resumed.returncode == 0 and "resuming at step 4" in resumed.stdout, resumed.stderr
    assert "report position" in resumed.stderr and "Traceback" not in resumed.stderr
    report = json.loads((home / "outputs" / f"report_{name}.json").read_text())
    assert [s["step"] for s in report["steps"]] == list(range(1, 9))


def test_every_checkpoint_broken_is_said_so(damaged, littlebaby):
    home, name, folder = damaged
    for manifest in folder.glob("step_*/" + checkpoints.MANIFEST):
        manifest.unlink()
    error = one_line(littlebaby("train", "--resume", name, "--quiet", "--home", home, cwd=home))
    assert "no intact checkpoint" in error and "step_000000006: " in error and "manifest" in error


@pytest.mark.parametrize("obstacle", ["directory", "symlink loop"])
def test_a_lock_file_that_cannot_be_opened_is_one_line(damaged, obstacle, littlebaby):
    home, name, folder = damaged
    (folder / "lock").unlink()
    os.mkdir(folder / "lock") if obstacle == "directory" else os.symlink("lock", folder / "lock")
    one_line(littlebaby("train", "--resume", name, "--quiet", "--home", home, cwd=home))


@pytest.mark.parametrize("folder", ["checkpoints", "configs", "outputs"])
@pytest.mark.parametrize("obstacle", ["file", "symlink loop"])
def test_a_home_folder_that_is_not_a_directory_refuses_training_before_any_file(tmp_path, folder, obstacle, littlebaby):
    (tmp_path / folder).write_text("x") if obstacle == "file" else os.symlink(folder, tmp_path / folder)
    before = files_in(tmp_path) if obstacle == "file" else [folder]
    error = one_line(littlebaby("train", "--config", "tiny", "--quiet", "--home", tmp_path, cwd=tmp_path))
    assert folder in error
    assert sorted(os.listdir(tmp_path)) == before  # no config or tokenizer left behind


def test_resume_refuses_a_config_it_would_ignore(damaged, littlebaby):
    home, name, _ = damaged
    before = {p: p.stat().st_mtime_ns for p in home.rglob("*") if p.is_file()}
    error = one_line(littlebaby("train", "--resume", name, "--config", "baby", "--quiet", "--home", home, cwd=home))
    assert "--config" in error
    assert {p: p.stat().st_mtime_ns for p in home.rglob("*") if p.is_file()} == before


def test_resume_refuses_max_steps_below_the_steps_done(damaged, littlebaby):
    home, name, _ = damaged
    config = (home / "configs" / f"config_{name}.json").read_text()
    error = one_line(littlebaby("train", "--resume", name, "--set", "max_steps=3", "--quiet", "--home", home, cwd=home))
    assert "6 steps" in error and "--set max_steps=6" in error
    assert (home / "configs" / f"config_{name}.json").read_text() == config  # the run's recipe is not rewritten


@pytest.mark.parametrize("obstacle", ["file", "symlink loop", "dangling link"])
def test_a_non_folder_in_a_checkpoints_place_is_replaced_when_that_step_is_saved(damaged, obstacle, littlebaby):
    home, name, folder = damaged
    shutil.rmtree(folder / "step_000000006")
    target = folder / "step_000000006"
    {
        "file": lambda: target.write_text("x"),
        "symlink loop": lambda: os.symlink(target.name, target),
        "dangling link": lambda: os.symlink("nowhere", target),
    }[obstacle]()
    resumed = littlebaby("train", "--resume", name, "--set", "max_steps=8", "--quiet", "--home", home, cwd=home)
    assert resumed.returncode == 0 and "resuming at step 4" in resumed.stdout, resumed.stderr
    assert sorted(os.listdir(folder)) == ["lock", "step_000000006", "step_000000008"]
    assert checkpoints.verify(target).step == 6


@pytest.mark.parametrize("command", [["generate", "--max-tokens", "3"], ["inspect"]])
def test_a_killed_run_whose_checkpoints_are_all_broken_is_said_so(damaged, command, littlebaby):
    home, name, folder = damaged
    (home / "models" / f"model_{name}.safetensors").unlink()  # killed before its model file
    for manifest in folder.glob("step_*/" + checkpoints.MANIFEST):
        manifest.write_text("{")
    assert "no intact checkpoint" in one_line(littlebaby(command[0], name, *command[1:], "--home", home, cwd=home))


def test_a_resume_beside_a_training_one_is_refused_before_it_writes_or_reads_checkpoints(damaged, littlebaby):
    home, name, folder = damaged
    env = dict(os.environ, LITTLEBABY_CHECKPOINT_PAUSE="0.5")  # the trainer retires checkpoints slowly, one per step
    argv = [
        sys.executable,
        "-m",
        "littlebaby.cli",
        "train",
        "--resume",
        name,
        "--set",
        "max_steps=40",
        "--set",
        "checkpoint_interval=1",
        "--quiet",
        "--home",
        str(home),
    ]
    trainer = subprocess.Popen(argv, cwd=home, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert trainer.stdout.readline().startswith("run "), trainer.stderr.read()
        config = (home / "configs" / f"config_{name}.json").read_text()
        for _ in range(3):
            beside = littlebaby("train", "--resume", name, "--set", "max_steps=50", "--quiet", "--home", home, cwd=home)
            assert "being trained by another process" in one_line(beside)
            assert (home / "configs" / f"config_{name}.json").read_text() == config  # the trainer's max_steps stays
    finally:
        trainer.terminate()
        trainer.communicate(timeout=60)


def test_ctrl_c_during_the_end_sample_keeps_the_finished_run_and_says_so(tmp_path, monkeypatch, capsys):
    from littlebaby import cli
    from littlebaby.training import session

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # what Ctrl-C raises once the training's signal handlers are gone

    monkeypatch.setattr(session, "generate_ids", interrupted)
    code = cli.main(["train", "--config", "tiny", "--set", "max_steps=2", "--quiet", "--home", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 130 and "sample skipped (SIGINT); the run is finished and saved" in out and "wrote " in out
    (report,) = (tmp_path / "outputs").glob("report_*.json")
    assert json.loads(report.read_text())["status"] == "finished" and list(tmp_path.glob("outputs/completion_*")) == []
    assert len(list(tmp_path.glob("models/model_*.safetensors"))) == 1


def test_a_run_file_that_is_not_a_file_is_said_as_one_of_the_run_s_files(damaged, littlebaby):
    # the advice was "give the path of a file", to a user who gave no path: the run's tokenizer is a folder
    home, name, _ = damaged
    tokenizer = home / "tokenizers" / f"tokenizer_{name}.json"
    tokenizer.unlink()
    tokenizer.mkdir()
    error = one_line(littlebaby("generate", name, "--max-tokens", "5", "--home", home, cwd=home))
    assert f"tokenizer file {tokenizer} is a directory, not a regular file" in error
    assert "restore it if it is one of a run's files" in error
