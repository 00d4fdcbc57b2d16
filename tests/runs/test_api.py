"""The Python API: train, load, generate, finetune, resume after Ctrl-C."""

import contextlib
import json
import os
import re
import signal
import socket

import numpy as np
import pytest

import littlebaby
from littlebaby import api
from littlebaby.errors import UserError
from littlebaby.training.trainer import Trainer


def test_train_writes_every_file_and_a_sample(tiny_run):
    home, name = tiny_run
    for folder, pattern in [
        ("configs", "config_{}.json"),
        ("tokenizers", "tokenizer_{}.json"),
        ("models", "model_{}.safetensors"),
        ("checkpoints", "{}/step_000000004/optimizer.safetensors"),
        ("outputs", "report_{}.json"),
        ("outputs", "completion_{}.txt"),
    ]:
        assert (home / folder / pattern.format(name)).is_file()
    assert (home / "outputs" / f"completion_{name}.txt").read_text().startswith("ROMEO:")
    [row] = api.runs(home)
    assert (
        row["guid"] == name
        and row["steps"] == 4
        and row["blocks"] == "pre/mha/mlp"
        and row["name"] == "tiny max_steps=4"
    )


def test_load_returns_config_tokenizer_and_model(tiny_run):
    home, name = tiny_run
    config, tokenizer, model = littlebaby.load("last", home=home)
    assert config.n_ctx == 16 and tokenizer.vocab_size == model.vocab_size == 65
    ids = tokenizer.encode("KING HENRY")
    np.testing.assert_array_equal(model.logits(ids), littlebaby.load(name, home=home).model.logits(ids))
    assert not model.training


def test_generation_same_seed_same_text_with_and_without_cache(tiny_run):
    home, _ = tiny_run
    options = dict(prompt="ROMEO:", max_tokens=40, temperature=0.8, seed=3, home=home, write=False)
    text = littlebaby.generate("last", **options)
    assert text.startswith("ROMEO:") and len(text) == 46
    assert littlebaby.generate("last", **options) == text
    assert littlebaby.generate("last", cache=False, **options) == text
    streamed = []
    assert littlebaby.generate("last", on_text=streamed.append, **options) == "".join(streamed)


def test_generate_writes_a_timestamped_completion(tiny_run):
    home, name = tiny_run
    text = littlebaby.generate(name, max_tokens=5, seed=0, home=home)
    [path] = (home / "outputs").glob(f"completion_{name}_2*.txt")
    assert path.read_text() == text and len(text) == 5
    path.unlink()


@pytest.mark.parametrize(
    "options,message",
    [({"max_tokens": -1}, "max_tokens"), ({"prompt": "ROMEO€"}, "'€'"), ({"temperature": -1.0}, "temperature")],
)
def test_bad_generation_options(tiny_run, options, message):
    with pytest.raises(UserError, match=message):
        littlebaby.generate("last", home=tiny_run[0], **options)


def test_finetune_keeps_the_old_logits_before_any_step(tiny_run, greek_file):
    home, name = tiny_run
    base = littlebaby.load(name, home=home)
    tokenizer = base.tokenizer.extend(greek_file.read_text())
    grown = api.grown_model(base.model, base.config, tokenizer.vocab_size)
    ids = base.tokenizer.encode("O Romeo, Romeo!")
    old = base.model.vocab_size
    assert tokenizer.vocab[:old] == base.tokenizer.vocab and tokenizer.vocab_size > old
    # the old rows and columns are bit for bit the base's; the logits can differ in the last bit
    # only because BLAS may block a GEMM with more columns differently
    np.testing.assert_array_equal(
        grown.parameters.named()["head.weight"][:, :old], base.model.parameters.named()["head.weight"]
    )
    np.testing.assert_array_equal(
        grown.parameters.named()["wte.weight"][:old], base.model.parameters.named()["wte.weight"]
    )
    np.testing.assert_allclose(grown.logits(ids)[:, :old], base.model.logits(ids), rtol=1e-14, atol=1e-15)


def test_finetune_writes_a_new_run_and_leaves_the_base_alone(tiny_run, greek_file):
    home, name = tiny_run
    before = {p: p.read_bytes() for p in home.rglob(f"*{name}*") if p.is_file()}
    result = littlebaby.finetune(name, greek_file, overrides=["max_steps=2"], home=home)
    assert result.name == f"{name}_finetuned" and result.report.data["base"] == name
    assert {p: p.read_bytes() for p in before} == before
    assert all(result.name in str(p) for p in result.written)
    greek = littlebaby.generate(result.name, prompt="Ισμήνη", max_tokens=10, seed=0, home=home, write=False)
    assert greek.startswith("Ισμήνη")
    with pytest.raises(UserError, match="not in the model's vocabulary"):
        littlebaby.generate(name, prompt="Ισμήνη", home=home)
    for path in result.written:
        path.unlink()


def test_changing_the_architecture_of_a_run_is_refused(tiny_run, greek_file):
    with pytest.raises(UserError, match="cannot change n_emb"):
        littlebaby.finetune(tiny_run[1], greek_file, overrides=["n_emb=32"], home=tiny_run[0])


@contextlib.contextmanager
def ctrl_c_after_step(step: int, monkeypatch):
    """Within: a Ctrl-C arrives during training step `step`, as a user's would."""
    original = Trainer.train_step

    def interrupted_step(self):
        record = original(self)
        if self.step == step:
            os.kill(os.getpid(), signal.SIGINT)  # the handler asks for a stop after this step
        return record

    monkeypatch.setattr(Trainer, "train_step", interrupted_step)
    yield
    monkeypatch.setattr(Trainer, "train_step", original)


def test_ctrl_c_saves_and_resume_continues_exactly(tmp_path, monkeypatch):
    options = dict(overrides={"max_steps": 8, "dropout": 0.1, "dtype": "float64"})
    straight = api.train("tiny", home=tmp_path / "a", **options)
    home = tmp_path / "b"
    with ctrl_c_after_step(3, monkeypatch):
        stopped = api.train("tiny", home=home, **options)
    assert stopped.status == "interrupted" and stopped.report.data["steps_done"] == 3 and stopped.sample is None
    assert stopped.stop_signal == "SIGINT" and stopped.report.data["stop_signal"] == "SIGINT"
    assert not (home / "outputs" / f"completion_{stopped.name}.txt").exists()
    # resume finds the shipped text by its recorded key, whatever the display string says
    report_path = home / "outputs" / f"report_{stopped.name}.json"
    report = json.loads(report_path.read_text())
    report["data"]["source"] = "a display string that names no file"
    report_path.write_text(json.dumps(report))
    resumed = api.train(resume="last", home=home)
    assert resumed.status == "finished" and resumed.report.data["resumed"] == [3]
    assert [s["step"] for s in resumed.report.data["steps"]] == list(range(1, 9))
    np.testing.assert_array_equal(
        api.load(resumed.name, home=home).model.parameters.data,
        api.load(straight.name, home=tmp_path / "a").model.parameters.data,
    )
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_bad_config_and_data_create_nothing(tmp_path):
    with pytest.raises(UserError, match="unknown config key 'n_embd'"):
        api.train("tiny", overrides=["n_embd=8"], home=tmp_path / "h")
    with pytest.raises(UserError, match="no shipped config 'babyy'"):
        api.train("babyy", home=tmp_path / "h")
    with pytest.raises(UserError, match="not found"):
        api.train("tiny", data=tmp_path / "none.txt", home=tmp_path / "h")
    assert not (tmp_path / "h").exists()


def _edit_report(home, name, edit):
    path = home / "outputs" / f"report_{name}.json"
    report = json.loads(path.read_text())
    edit(report)
    path.write_text(json.dumps(report))


def test_resume_refuses_a_run_trained_from_a_pipe_and_one_still_training(tmp_path):
    home = tmp_path / "h"
    name = api.train("tiny", overrides={"max_steps": 2}, home=home).name
    _edit_report(home, name, lambda r: r["data"].update(source="/dev/fd/63", shipped=None, rereadable=False))
    with pytest.raises(UserError, match="cannot be read again") as error:
        api.train(resume=name, home=home, overrides={"max_steps": 4})
    assert "finetune" in str(error.value) and "data=" not in str(error.value)
    _edit_report(
        home, name, lambda r: r.update(status="running", writer={"pid": os.getppid(), "host": socket.gethostname()})
    )
    with pytest.raises(UserError, match=f"being trained by process {os.getppid()}"):
        api.train(resume=name, home=home, overrides={"max_steps": 4})


def test_a_full_disk_mid_run_is_one_error_and_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    from littlebaby.store import checkpoints
    from littlebaby.store import weights as checkpoint

    home = tmp_path / "h"
    original, calls = checkpoint.save_optimizer, []

    def full_disk_at_the_second(*args):
        calls.append(1)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return original(*args)

    monkeypatch.setattr(checkpoint, "save_optimizer", full_disk_at_the_second)
    with pytest.raises(UserError, match="No space left on device.*step 2 is intact"):
        api.train("tiny", overrides={"max_steps": 6, "checkpoint_interval": 2}, home=home)
    [folder] = (home / "checkpoints").iterdir()
    assert [p.name for p in checkpoints.steps(folder)] == ["step_000000002"] and checkpoints.newest(folder).step == 2
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_a_run_saved_before_checkpoint_folders_still_resumes(tmp_path, monkeypatch):
    import shutil

    home = tmp_path / "h"
    with ctrl_c_after_step(3, monkeypatch):
        stopped = api.train("tiny", home=home)
    # the layout of older versions: model and optimizer state in models/, no checkpoints/
    folder = home / "checkpoints" / stopped.name
    shutil.copy(
        folder / "step_000000003" / "optimizer.safetensors", home / "models" / f"optimizer_{stopped.name}.safetensors"
    )
    shutil.rmtree(folder)
    resumed = api.train(resume="last", home=home)
    assert (
        resumed.status == "finished"
        and resumed.report.data["resumed"] == [3]
        and resumed.report.data["steps_done"] == 6
    )


def test_a_run_without_a_model_or_checkpoint_yet_says_so(tiny_run, tmp_path):
    import shutil

    home, name = tiny_run
    young = "0" * 8 + name[8:]  # a run killed before its first checkpoint: config and tokenizer only
    for folder, pattern in [("configs", "config_{}.json"), ("tokenizers", "tokenizer_{}.json")]:
        (tmp_path / folder).mkdir()
        shutil.copy(home / folder / pattern.format(name), tmp_path / folder / pattern.format(young))
    assert [row["guid"] for row in api.runs(tmp_path)] == [young]
    with pytest.raises(UserError, match="has no model yet"):
        littlebaby.generate(young, home=tmp_path)
    with pytest.raises(UserError, match="no runs with a model"):  # `last` is a run with a model
        littlebaby.generate("last", home=tmp_path)


def test_a_run_another_process_trains_is_not_resumed(tmp_path):
    import fcntl

    home = tmp_path / "h"
    name = api.train("tiny", overrides={"max_steps": 2}, home=home).name
    with open(home / "checkpoints" / name / "lock", "a") as held:  # as a concurrent resume holds it
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(UserError, match="being trained by another process"):
            api.train(resume=name, home=home, overrides={"max_steps": 4})
    assert api.train(resume=name, home=home, overrides={"max_steps": 4}).report.data["steps_done"] == 4


# every one was a TypeError or AttributeError from deep inside (pathlib, str.startswith, tokenizer.encode, numpy);
# a lone "lr=1" was read a character at a time ("an override must look like key=value, got 'l'")
BAD_TYPES = {
    "home None": (lambda home, run: api.runs(None), "home must be a path"),
    "config number": (lambda home, run: api.train(5, home=home), "config must be a path"),
    "data number": (lambda home, run: api.train("tiny", 5, home=home), "data must be a path"),
    "data empty": (lambda home, run: api.train("tiny", "", home=home), "data is an empty path"),
    "overrides a string": (
        lambda home, run: api.train("tiny", overrides="lr=1", home=home),
        "overrides must be a dict or a list",
    ),
    "overrides a number": (
        lambda home, run: api.train("tiny", overrides=5, home=home),
        "overrides must be a dict or a list",
    ),
    "override key a number": (
        lambda home, run: api.train("tiny", overrides={1: 2}, home=home),
        "config keys are strings",
    ),
    "resume a number": (lambda home, run: api.train(resume=5, home=home), "run must be a run name"),
    "run None": (lambda home, run: api.load(None, home), "run must be a run name"),
    "prompt bytes": (
        lambda home, run: api.generate(run, prompt=b"RO", max_tokens=2, home=home),
        "prompt must be a str",
    ),
    "text a number": (lambda home, run: api.token_losses(run, 5, home), "text must be a str"),
    "attention prompt a number": (lambda home, run: api.attention(run, 5, home=home), "prompt must be a str"),
    "layer a string": (
        lambda home, run: api.attention(run, "RO", layer="0", home=home),
        "layer must be a whole number",
    ),
    "head a bool": (lambda home, run: api.attention(run, "RO", head=True, home=home), "head must be a whole number"),
    "out a number": (lambda home, run: api.plot(run, home, out=5), "out must be a path"),
    "out empty": (
        lambda home, run: api.plot(run, home, out=""),
        "out is an empty path",
    ),  # was "cannot write . (it is a directory)"
    # finetuned on the shipped Shakespeare, while the command line requires --data
    "finetune data None": (
        lambda home, run: api.finetune(run, None, overrides=["max_steps=1"], home=home),
        "data must be a path",
    ),
    "prepare data None": (lambda home, run: api.prepare(None, home / "p"), "data must be a path or a list of paths"),
    "prepare out None": (lambda home, run: api.prepare([home], None), "out must be a path"),
    "import paths None": (lambda home, run: api.import_original(None, None, None, home), "config must be a path"),
    "vocab_size negative": (lambda home, run: littlebaby.build_model({}, -1), "vocab_size must be a whole number >= 1"),
    "config a number": (lambda home, run: littlebaby.build_model(5, 10), "config must be a Config or a dict"),
}


@pytest.mark.parametrize("case", BAD_TYPES)
def test_a_value_of_the_wrong_type_is_a_user_error(tiny_run, case):
    home, run = tiny_run
    before = sorted(home.rglob("*"))
    call, message = BAD_TYPES[case]
    with pytest.raises(UserError, match=re.escape(message)):
        call(home, run)
    assert sorted(home.rglob("*")) == before


def test_one_path_or_run_is_taken_as_a_list_of_one(tiny_run, tmp_path):
    home, run = tiny_run  # prepare("a.txt") read 'a', '.', 't', ... as paths; compare("last") the runs 'l', 'a', ...
    (tmp_path / "a.txt").write_text("some text to prepare " * 20)
    assert api.prepare(str(tmp_path / "a.txt"), tmp_path / "p")["splits"]["train"]["tokens"] > 0
    _, path = api.compare(run, home)
    assert path is None


def test_an_edited_run_config_is_applied_on_resume_and_never_left_saying_otherwise(tmp_path):
    first = api.train("tiny", overrides={"max_steps": 4, "checkpoint_interval": 2}, home=tmp_path)
    path = tmp_path / "configs" / f"config_{first.name}.json"
    config = json.loads(path.read_text())
    path.write_text(json.dumps({**config, "lr": 0.05, "max_steps": 6}))
    said = []
    resumed = api.train(resume=first.name, home=tmp_path, log=said.append)
    assert resumed.report.data["steps_done"] == 6 and resumed.report.data["config"]["lr"] == 0.05
    assert [s["lr"] for s in resumed.report.data["steps"]][-1] > 0 and any("lr=0.05" in line for line in said)
    assert json.loads(path.read_text()) == resumed.report.data["config"]
    path.write_text(json.dumps({**json.loads(path.read_text()), "n_layers": 3, "max_steps": 8}))
    with pytest.raises(UserError, match="cannot change n_layers of an existing run"):
        api.train(resume=first.name, home=tmp_path)


def test_a_run_whose_first_writes_fail_leaves_no_ghost(tmp_path, monkeypatch):
    from littlebaby.runs import train as training
    from littlebaby.system import atomic

    def full_disk(path, data):
        raise atomic.WriteError(path, OSError(28, "No space left on device"))

    monkeypatch.setattr(training, "write_run_files", lambda *args: full_disk(tmp_path / "configs" / "x.json", b""))
    with pytest.raises(UserError, match="No space left"):
        api.train("tiny", overrides={"max_steps": 1}, home=tmp_path)
    assert api.runs(tmp_path) == [] and not list((tmp_path / "configs").iterdir())


@pytest.mark.parametrize("ids", [[], [10**6], [1.5], [-1], [[]]])
def test_logits_of_ids_that_are_not_the_vocabularys_are_one_user_error(tiny_run, ids):
    home, name = tiny_run
    _, tokenizer, model = api.load(name, home)
    with pytest.raises(UserError) as error:
        model.logits(ids)
    assert "\n" not in str(error.value)
    if ids == [-1]:
        with pytest.raises(UserError, match="outside the vocabulary"):
            tokenizer.decode(ids)


def test_the_api_the_readme_names_is_there_and_checks_before_writing(tmp_path):
    import littlebaby

    assert littlebaby.compare is api.compare and littlebaby.inspect is api.inspect
    for bad in ({"log": 5}, {"quiet": "yes"}):
        with pytest.raises(UserError, match=next(iter(bad))):
            littlebaby.train("tiny", overrides={"max_steps": 1}, home=tmp_path, **bad)
    assert not tmp_path.exists() or not any(tmp_path.iterdir())
