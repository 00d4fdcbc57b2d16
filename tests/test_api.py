"""The Python API: train, load, generate, finetune, resume after Ctrl-C."""

import json
import os
import signal

import numpy as np
import pytest

import littlebaby
from littlebaby import api
from littlebaby.errors import UserError
from littlebaby.training import Trainer


def test_train_writes_every_file_and_a_sample(tiny_run):
    home, name = tiny_run
    for folder, pattern in [("configs", "config_{}.json"), ("tokenizers", "tokenizer_{}.json"), ("models", "model_{}.safetensors"),
                            ("models", "optimizer_{}.safetensors"), ("outputs", "report_{}.json"), ("outputs", "completion_{}.txt")]:
        assert (home / folder / pattern.format(name)).is_file()
    assert (home / "outputs" / f"completion_{name}.txt").read_text().startswith("ROMEO:")
    [row] = api.runs(home)
    assert row["guid"] == name and row["steps"] == 4 and row["blocks"] == "pre/mha/mlp" and row["config"] == "tiny"


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


@pytest.mark.parametrize("options,message", [({"max_tokens": -1}, "max_tokens"), ({"prompt": "ROMEO€"}, "'€'"), ({"temperature": -1.0}, "temperature")])
def test_bad_generation_options(tiny_run, options, message):
    with pytest.raises(UserError, match=message):
        littlebaby.generate("last", home=tiny_run[0], **options)


def test_finetune_keeps_the_old_logits_before_any_step(tiny_run, greek_file):
    home, name = tiny_run
    base = littlebaby.load(name, home=home)
    tokenizer = base.tokenizer.grow(greek_file.read_text())
    grown = api.grown_model(base.model, base.config, tokenizer.vocab_size)
    ids = base.tokenizer.encode("O Romeo, Romeo!")
    old = base.model.vocab_size
    assert tokenizer.vocab[:old] == base.tokenizer.vocab and tokenizer.vocab_size > old
    # the old rows and columns are bit for bit the base's; the logits can differ in the last bit
    # only because BLAS may block a GEMM with more columns differently
    np.testing.assert_array_equal(grown.parameters.named()["head.weight"][:, :old], base.model.parameters.named()["head.weight"])
    np.testing.assert_array_equal(grown.parameters.named()["wte.weight"][:old], base.model.parameters.named()["wte.weight"])
    np.testing.assert_allclose(grown.logits(ids)[:, :old], base.model.logits(ids), rtol=1e-14, atol=1e-15)


def test_finetune_writes_a_new_run_and_leaves_the_base_alone(tiny_run, greek_file):
    home, name = tiny_run
    before = {p: p.read_bytes() for p in home.rglob(f"*{name}*")}
    result = littlebaby.finetune(name, greek_file, overrides=["max_steps=2"], home=home)
    assert result.name == f"{name}_finetuned" and result.report["base"] == name
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


def test_ctrl_c_saves_and_resume_continues_exactly(tmp_path, monkeypatch):
    options = dict(overrides={"max_steps": 8, "dropout": 0.1, "dtype": "float64"})
    straight = api.train("tiny", home=tmp_path / "a", **options)
    original = Trainer.train_step

    def interrupted_step(self):
        record = original(self)
        if self.step == 3:
            os.kill(os.getpid(), signal.SIGINT)  # the handler asks for a stop after this step
        return record

    monkeypatch.setattr(Trainer, "train_step", interrupted_step)
    home = tmp_path / "b"
    stopped = api.train("tiny", home=home, **options)
    assert stopped.status == "interrupted" and stopped.report["steps_done"] == 3 and stopped.sample is None
    assert not (home / "outputs" / f"completion_{stopped.name}.txt").exists()
    monkeypatch.setattr(Trainer, "train_step", original)
    # resume finds the shipped text by its recorded key, whatever the display string says
    report_path = home / "outputs" / f"report_{stopped.name}.json"
    report = json.loads(report_path.read_text())
    report["data"]["source"] = "a display string that names no file"
    report_path.write_text(json.dumps(report))
    resumed = api.train(resume="last", home=home)
    assert resumed.status == "finished" and resumed.report["resumed"] == [3]
    assert [s["step"] for s in resumed.report["steps"]] == list(range(1, 9))
    np.testing.assert_array_equal(
        api.load(resumed.name, home=home).model.parameters.data, api.load(straight.name, home=tmp_path / "a").model.parameters.data
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
