"""A long run survives signals, kills, races and divergence: the `littlebaby` command as a scheduler would use it.

LITTLEBABY_CHECKPOINT_PAUSE slows each checkpoint write down, so that a signal can be sent while a
run is mid-way or mid-save without depending on the machine's speed.
"""

import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import littlebaby
from littlebaby.optim.adamw import AdamW
from littlebaby.store import checkpoints
from littlebaby.store import weights as checkpoint

TINY = [
    "--config",
    "tiny",
    "--set",
    "dropout=0.1",
    "--set",
    "checkpoint_interval=5",
    "--set",
    "eval_interval=10",
    "--quiet",
]


def tiny(**changes) -> list:
    """TINY with some of its --set values changed (a key may be given only once)."""
    args = list(TINY)
    for key, value in changes.items():
        args[args.index(next(a for a in args if a.startswith(key + "=")))] = f"{key}={value}"
    return args


def command(*args, pause=0.0):
    env = dict(os.environ, LITTLEBABY_CHECKPOINT_PAUSE=str(pause))
    return [sys.executable, "-m", "littlebaby.cli", *map(str, args)], env


def littlebaby_run(*args, cwd, pause=0.0):
    argv, env = command(*args, pause=pause)
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, encoding="utf-8", env=env, timeout=180)


def start(*args, cwd, pause):
    """A training process and its run name (from its first line)."""
    argv, env = command(*args, pause=pause)
    process = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    first = process.stdout.readline()
    assert first.startswith("run "), first + process.stderr.read()
    return process, first.split()[1].rstrip(":")


def wait_for(condition, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def parameters(home, run="last"):
    return littlebaby.load(run, home=home).model.parameters.data


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """An uninterrupted 40-step run: what an interrupted and resumed one must end as, bit for bit."""
    home = tmp_path_factory.mktemp("straight")
    done = littlebaby_run("train", *TINY, "--set", "max_steps=40", "--home", home, cwd=home)
    assert done.returncode == 0, done.stderr
    return parameters(home)


def test_sigterm_mid_run_then_resume_ends_as_an_uninterrupted_run(tmp_path, straight):
    process, name = start("train", *TINY, "--set", "max_steps=40", "--home", tmp_path, cwd=tmp_path, pause=0.3)
    wait_for(lambda: checkpoints.steps(tmp_path / "checkpoints" / name))
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 143, err
    stopped = int(re.search(r"interrupted at step (\d+) of 40 \(SIGTERM\)", out).group(1))
    assert 0 < stopped < 40 and f"littlebaby train --resume {name} --home {tmp_path}" in out
    report = json.loads((tmp_path / "outputs" / f"report_{name}.json").read_text())
    assert report["status"] == "interrupted" and report["stop_signal"] == "SIGTERM" and len(report["steps"]) == stopped
    resumed = littlebaby_run("train", "--resume", name, "--home", tmp_path, "--quiet", cwd=tmp_path)
    assert resumed.returncode == 0 and f"resuming at step {stopped}" in resumed.stdout, resumed.stderr
    np.testing.assert_array_equal(parameters(tmp_path), straight)
    report = json.loads((tmp_path / "outputs" / f"report_{name}.json").read_text())
    assert [s["step"] for s in report["steps"]] == list(range(1, 41)) and report["resumed"] == [stopped]


def test_sigkill_after_a_checkpoint_then_resume_continues_from_it(tmp_path, straight):
    process, name = start("train", *TINY, "--set", "max_steps=40", "--home", tmp_path, cwd=tmp_path, pause=0.3)
    folder = tmp_path / "checkpoints" / name
    wait_for(lambda: (folder / "step_000000010").exists())
    process.kill()
    process.communicate(timeout=60)
    newest = checkpoints.newest(folder).step
    runs = littlebaby_run("runs", "--home", tmp_path, cwd=tmp_path)
    assert re.search(rf"{name} .* killed$", runs.stdout, re.M), runs.stdout
    sample = littlebaby_run("generate", "last", "--max-tokens", "5", "--home", tmp_path, cwd=tmp_path)
    assert sample.returncode == 0, sample.stderr  # a killed run is usable from its newest checkpoint
    resumed = littlebaby_run("train", "--resume", "last", "--home", tmp_path, "--quiet", cwd=tmp_path)
    assert resumed.returncode == 0 and f"resuming at step {newest}" in resumed.stdout, resumed.stderr
    np.testing.assert_array_equal(parameters(tmp_path), straight)
    assert [
        p.name for p in folder.iterdir() if p.name.startswith(".")
    ] == []  # the killed writer's temporaries are gone
    report = json.loads((tmp_path / "outputs" / f"report_{name}.json").read_text())
    assert [s["step"] for s in report["steps"]] == list(range(1, 41))  # no step recorded twice


def test_a_second_sigint_during_the_save_never_yields_a_mixed_set(tmp_path):
    process, name = start(
        "train",
        *tiny(checkpoint_interval=0),
        "--set",
        "max_steps=100000",
        "--home",
        tmp_path,
        cwd=tmp_path,
        pause=2.0,
    )
    folder = tmp_path / "checkpoints" / name
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    wait_for(lambda: folder.exists() and any(p.name.endswith(".tmp") for p in folder.iterdir()))
    process.send_signal(signal.SIGINT)  # mid-save: between the model and the optimizer
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    saved = checkpoints.newest(folder)
    model = checkpoint.load_model(saved.model)
    optimizer_state = checkpoint.load_optimizer(saved.optimizer, AdamW(model.parameters))
    report = json.loads((tmp_path / "outputs" / f"report_{name}.json").read_text())
    assert saved.step == optimizer_state["step"] == report["steps_done"] == len(report["steps"]) > 0
    np.testing.assert_array_equal(model.parameters.data, parameters(tmp_path, name))
    resumed = littlebaby_run(
        "train", "--resume", name, "--set", f"max_steps={saved.step + 2}", "--home", tmp_path, "--quiet", cwd=tmp_path
    )
    assert resumed.returncode == 0 and f"resuming at step {saved.step}" in resumed.stdout, resumed.stderr


def test_sighup_stops_like_ctrl_c(tmp_path):
    process, name = start("train", *TINY, "--set", "max_steps=40", "--home", tmp_path, cwd=tmp_path, pause=0.3)
    wait_for(lambda: checkpoints.steps(tmp_path / "checkpoints" / name))
    process.send_signal(signal.SIGHUP)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 129, err
    report = json.loads((tmp_path / "outputs" / f"report_{name}.json").read_text())
    assert report["status"] == "interrupted" and report["stop_signal"] == "SIGHUP"


def test_concurrent_finetunes_of_one_run_get_distinct_complete_runs(tmp_path, greek_file):
    base = littlebaby_run("train", "--config", "tiny", "--set", "max_steps=2", "--quiet", cwd=tmp_path)
    assert base.returncode == 0, base.stderr
    # by name, not `last`: a sibling that finishes first would become `last` for a slower one
    base_name = next((tmp_path / "configs").glob("config_*.json")).name[len("config_") : -len(".json")]
    argv, env = command("finetune", base_name, "--data", greek_file, "--set", "max_steps=2", "--quiet")
    processes = [
        subprocess.Popen(argv, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    for process in processes:
        _, err = process.communicate(timeout=180)
        assert process.returncode == 0, err
    tuned = sorted(
        p.name[len("config_") : -len(".json")] for p in (tmp_path / "configs").glob("config_*_finetuned*.json")
    )
    assert len(tuned) == 3 and len({name.rsplit("_", 1)[1] for name in tuned}) == 3
    for name in tuned:
        config, tokenizer, model = littlebaby.load(name, home=tmp_path)
        assert json.loads((tmp_path / "outputs" / f"report_{name}.json").read_text())["guid"] == name
        assert tokenizer.vocab_size == model.vocab_size
        assert littlebaby.generate(name, prompt="Ισμήνη", max_tokens=3, home=tmp_path, write=False).startswith("Ισμήνη")


def test_concurrent_generates_keep_every_completion(tiny_run):
    home, name = tiny_run
    before = set((home / "outputs").glob(f"completion_{name}_*.txt"))
    argv = [command("generate", name, "--max-tokens", "3", "--seed", str(seed), "--home", home) for seed in range(4)]
    processes = [subprocess.Popen(a, env=e, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for a, e in argv]
    assert all(p.wait(timeout=120) == 0 for p in processes)
    written = set((home / "outputs").glob(f"completion_{name}_*.txt")) - before
    assert len(written) == 4 and all(p.stat().st_size > 0 for p in written)
    for path in written:
        path.unlink()


def test_a_nan_loss_stops_with_one_line_and_keeps_the_last_good_checkpoint(tmp_path):
    done = littlebaby_run(
        "train",
        "--config",
        "tiny",
        "--set",
        "lr=1e20",
        "--set",
        "weight_decay=0",
        "--set",
        "grad_clip=0",
        "--set",
        "warmup_steps=0",
        "--set",
        "dtype=float32",
        "--set",
        "checkpoint_interval=1",
        "--quiet",
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and re.match(
        r"littlebaby: error: training diverged at step (\d+): the loss is nan", done.stderr
    )
    assert "lower it (for example --set lr=" in done.stderr and "--resume" in done.stderr, done.stderr
    [report_path] = (tmp_path / "outputs").glob("report_*.json")
    report = json.loads(report_path.read_text())
    step = report["diverged_at"]
    assert report["status"] == "diverged" and f"at step {step}" in done.stderr
    name = report["guid"]
    assert checkpoints.newest(tmp_path / "checkpoints" / name).step == step - 1
    assert np.isfinite(
        checkpoint.load_model(checkpoints.newest(tmp_path / "checkpoints" / name).model).parameters.data
    ).all()


def test_resume_refuses_a_changed_text(tmp_path):
    data = tmp_path / "data.txt"
    data.write_text("to be or not to be, that is the question\n" * 20)
    first = littlebaby_run("train", "--config", "tiny", "--data", data, "--set", "max_steps=2", "--quiet", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    data.write_text("to be or not to be, that is the answer!!\n" * 20)
    again = littlebaby_run("train", "--resume", "last", "--set", "max_steps=4", cwd=tmp_path)
    assert again.returncode == 2 and "changed since" in again.stderr and again.stderr.count("\n") == 1, again.stderr


def test_a_second_signal_during_a_periodic_checkpoint_keeps_it_and_exits_by_its_number(tmp_path):
    # the notice promises "again quits at once, after any save in progress": the periodic save too
    process, name = start(
        "train",
        *tiny(checkpoint_interval=1),
        "--set",
        "max_steps=100000",
        "--home",
        tmp_path,
        cwd=tmp_path,
        pause=2.0,
    )
    folder = tmp_path / "checkpoints" / name
    wait_for(lambda: folder.exists() and any(p.name.endswith(".tmp") for p in folder.iterdir()))
    process.send_signal(signal.SIGTERM)
    time.sleep(0.3)  # two pending SIGTERMs would merge into one
    process.send_signal(signal.SIGTERM)  # a scheduler that insists: still 143, not Ctrl-C's 130
    out, err = process.communicate(timeout=60)
    assert process.returncode == 143 and err.strip() == "littlebaby: interrupted", err
    assert checkpoints.newest(folder).step == 1
    resumed = littlebaby_run(
        "train", "--resume", "last", "--set", "max_steps=3", "--home", tmp_path, "--quiet", cwd=tmp_path
    )
    assert resumed.returncode == 0 and "resuming at step 1" in resumed.stdout, resumed.stderr


def test_a_resume_right_after_a_stop_waits_for_the_trainer_to_leave(tmp_path):
    # as when an MPI job ends because a remote rank died: the local trainer takes a moment to save and leave,
    # and a resume typed at once used to be refused as "being trained by process N"
    process, name = start(
        "train", *tiny(checkpoint_interval=2), "--set", "max_steps=100000", "--home", tmp_path, cwd=tmp_path, pause=1.0
    )
    folder = tmp_path / "checkpoints" / name
    wait_for(lambda: folder.exists() and any(p.name.startswith("step_") for p in folder.iterdir()))
    process.send_signal(signal.SIGTERM)  # it saves a last checkpoint, pausing 1 s in it, then leaves
    resumed = littlebaby_run("train", "--resume", name, "--set", "max_steps=30", "--home", tmp_path, cwd=tmp_path)
    process.communicate(timeout=60)
    assert resumed.returncode == 0 and "being trained" not in resumed.stderr, resumed.stderr
