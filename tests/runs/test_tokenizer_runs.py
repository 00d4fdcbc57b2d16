"""Runs with either tokenizer: a bpe run trains, generates any UTF-8 text, finetunes with a fixed
vocabulary and labels attention maps by token; runs from prepared directories resume; bits per byte."""

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from littlebaby import api
from littlebaby.errors import UserError
from littlebaby.look.figures import visible
from littlebaby.runs import prepare as preparing
from littlebaby.text.source import shipped_text

PROMPT = "Ἀντιγόνη ☃ 日本 ROMEO:"


@pytest.fixture(scope="module")
def bpe_run(tmp_path_factory):
    home = tmp_path_factory.mktemp("bpe")
    result = api.train("tiny", overrides={"max_steps": 3, "c_tokenizer": "bpe", "vocab_size": 300}, home=home)
    return home, result


def test_a_bpe_run_records_its_tokenizer(bpe_run):
    home, result = bpe_run
    saved = json.loads((home / "tokenizers" / f"tokenizer_{result.name}.json").read_text())
    assert saved["tokenizer"] == "bpe" and saved["vocab_size"] == 300 == result.report.data["vocab_size"]
    config, tokenizer, model = api.load("last", home=home)
    assert config.c_tokenizer == "bpe" and tokenizer.vocab_size == model.vocab_size == 300
    assert result.report.data["data"]["val_bytes_per_token"] > 1.3  # 44 merges already join frequent pairs


def test_generate_streams_any_utf8_prompt_as_the_saved_completion(bpe_run):
    home, _ = bpe_run
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "littlebaby.cli",
            "generate",
            "last",
            "--prompt",
            PROMPT,
            "--max-tokens",
            "60",
            "--seed",
            "3",
            "--home",
            str(home),
        ],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    completion = max((home / "outputs").glob("completion_*_*.txt"), key=lambda p: p.stat().st_mtime_ns)
    assert done.stdout == completion.read_text(encoding="utf-8") + "\n"
    assert done.stdout.startswith(PROMPT)


def test_finetuning_a_bpe_run_keeps_its_vocabulary(bpe_run, greek_file):
    home, result = bpe_run
    tuned = api.finetune(result.name, greek_file, overrides={"max_steps": 1}, home=home)
    assert tuned.report.data["vocab_size"] == 300 and tuned.report.data["new_characters"] == []


def test_attention_maps_label_bpe_tokens(bpe_run):
    home, _ = bpe_run
    figure, _ = api.attention("last", prompt="ROMEO: the king ☃", home=home)
    tokenizer = api.load("last", home=home).tokenizer
    labels = [visible(tokenizer.token_text(i)) for i in tokenizer.encode("ROMEO: the king ☃")]
    assert [t.get_text() for t in figure.axes[0].get_xticklabels()] == labels
    assert "\\xe2" in labels and any(len(label) > 1 and "\\" not in label for label in labels)


def test_char_bits_per_byte_on_ascii_are_the_loss_in_bits(tiny_run):
    home, name = tiny_run
    report = json.loads((home / "outputs" / f"report_{name}.json").read_text())
    last = report["val"][-1]
    assert report["data"]["val_bytes_per_token"] == 1.0  # tiny Shakespeare is ASCII
    assert last["bpb"] == pytest.approx(last["loss"] / math.log(2), abs=1e-4)


def test_a_run_from_a_prepared_directory_resumes_and_refuses_other_vocabularies(tmp_path, greek_file):
    (tmp_path / "text.txt").write_text("O Romeo, Romeo! wherefore art thou Romeo?\n" * 200, encoding="utf-8")
    preparing.prepare([tmp_path / "text.txt"], tmp_path / "prepared")
    home = tmp_path / "home"
    first = api.train("tiny", data=tmp_path / "prepared", overrides={"max_steps": 2}, home=home)
    resumed = api.train(resume=first.name, overrides={"max_steps": 4}, home=home)
    assert resumed.report.data["steps_done"] == 4 and resumed.report.data["data"]["source"] == str(
        (tmp_path / "prepared").resolve()
    )
    preparing.prepare([greek_file], tmp_path / "greek")
    with pytest.raises(UserError, match="another vocabulary"):
        api.finetune(first.name, tmp_path / "greek", home=home)


def test_train_from_a_directory_sees_the_same_ids_as_from_the_file(tmp_path):
    (tmp_path / "text.txt").write_text("Now is the winter of our discontent\n" * 300, encoding="utf-8")
    preparing.prepare([tmp_path / "text.txt"], tmp_path / "prepared")
    options = dict(overrides={"max_steps": 3, "dtype": "float64"})
    from_file = api.train("tiny", data=tmp_path / "text.txt", home=tmp_path / "a", **options)
    from_dir = api.train("tiny", data=tmp_path / "prepared", home=tmp_path / "b", **options)
    assert [s["loss"] for s in from_file.report.data["steps"]] == [s["loss"] for s in from_dir.report.data["steps"]]
    np.testing.assert_array_equal(
        api.load("last", home=tmp_path / "a").model.parameters.data,
        api.load("last", home=tmp_path / "b").model.parameters.data,
    )


def test_resume_refuses_a_text_that_gained_characters(tmp_path):
    data = tmp_path / "text.txt"
    data.write_text("to be or not to be\n" * 100, encoding="utf-8")
    first = api.train("tiny", data=data, overrides={"max_steps": 1}, home=tmp_path)
    data.write_text("to be or not to bé\n" * 100, encoding="utf-8")
    with pytest.raises(UserError, match="sha256 differs"):
        api.train(resume=first.name, overrides={"max_steps": 2}, home=tmp_path)
    report_path = tmp_path / "outputs" / f"report_{first.name}.json"
    report = json.loads(report_path.read_text())
    del report["data"]["sha256"]  # a report written before texts were hashed
    report_path.write_text(json.dumps(report))
    with pytest.raises(UserError, match="characters the run's vocabulary lacks"):
        api.train(resume=first.name, overrides={"max_steps": 2}, home=tmp_path)


@pytest.mark.parametrize("overrides", [["c_tokenizer=char"], ["c_tokenizer=bpe", "vocab_size=400"]])
def test_a_tokenizer_override_a_prepared_corpus_cannot_honour_is_refused(tmp_path, greek_file, overrides):
    # the corpus's bpe of 300 tokens replaced them without a word: the run said bpe 300, not what was asked
    api.prepare([greek_file], tmp_path / "p", overrides=["c_tokenizer=bpe", "vocab_size=300"])
    key = overrides[-1].split("=")[0]
    with pytest.raises(UserError, match=f"prepared data .* was tokenized with bpe .*, not {key}="):
        api.train("tiny", tmp_path / "p", overrides + ["max_steps=1"], home=tmp_path / "h")
    assert not (tmp_path / "h").exists()


def test_every_tokenizer_is_scored_on_the_same_val_bytes(bpe_run, tmp_path):
    _, bpe = bpe_run
    char = api.train("tiny", overrides={"max_steps": 1}, home=tmp_path)
    greek = tmp_path / "greek.txt"
    greek.write_text("Ἀντιγόνη, ὦ κοινὸν αὐτάδελφον Ἰσμήνης κάρα.\n" * 300, encoding="utf-8")
    runs = [
        api.train("tiny", data=greek, overrides={"max_steps": 1, **more}, home=tmp_path)
        for more in ({}, {"c_tokenizer": "bpe", "vocab_size": 300})
    ]
    for pair in ((char, bpe), runs):
        data = [run.report.data["data"] for run in pair]
        assert data[0]["val_bytes"] == data[1]["val_bytes"] and data[0]["split"] == data[1]["split"] == "bytes"
        assert data[0]["val_tokens"] != data[1]["val_tokens"]  # the same bytes in other tokens
    assert runs[0].report.data["data"]["val_bytes"] == len(greek.read_bytes()) - int(0.9 * len(greek.read_bytes()))


def test_a_run_made_before_the_split_by_bytes_resumes_on_its_own_windows_and_says_its_bpb_differs(tmp_path):
    first = api.train("tiny", overrides={"max_steps": 2, "c_tokenizer": "bpe", "vocab_size": 300}, home=tmp_path)
    path = tmp_path / "outputs" / f"report_{first.name}.json"
    old = json.loads(path.read_text())
    del old["data"]["split"]  # as a report written before it had the key
    path.write_text(json.dumps(old))
    resumed = api.train(resume=first.name, overrides={"max_steps": 3}, home=tmp_path)
    tokens = resumed.report.data["data"]["val_tokens"]
    assert resumed.report.data["data"]["split"] == "tokens" and tokens != first.report.data["data"]["val_tokens"]
    ids = len(api.load(first.name, tmp_path).tokenizer.encode(shipped_text()))
    assert tokens == ids - int(0.9 * ids)  # the last 10% of the tokens, as it was cut then
    listed = subprocess.run(
        [sys.executable, "-m", "littlebaby.cli", "runs", "--home", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    assert "*" in listed and "compare only with runs of the same tokenizer" in listed


def test_resume_refuses_a_prepared_corpus_rewritten_or_put_in_a_texts_place(tmp_path, greek_file):
    import shutil

    text = tmp_path / "text.txt"
    text.write_text(shipped_text()[:200_000], encoding="utf-8")
    preparing.prepare([text], tmp_path / "prepared")
    home = tmp_path / "home"
    first = api.train(
        "tiny", data=tmp_path / "prepared", overrides={"max_steps": 2, "checkpoint_interval": 1}, home=home
    )
    train_bin = tmp_path / "prepared" / "train.bin"
    saved = train_bin.read_bytes()
    train_bin.write_bytes(np.frombuffer(saved, dtype=np.uint16)[::-1].tobytes())  # the same size, the ids reversed
    with pytest.raises(UserError, match="changed since"):
        api.train(resume=first.name, overrides={"max_steps": 3}, home=home)
    train_bin.write_bytes(saved)
    assert api.train(resume=first.name, overrides={"max_steps": 3}, home=home).status == "finished"

    second = api.train("tiny", data=text, overrides={"max_steps": 2}, home=home)
    text.unlink()
    shutil.copytree(tmp_path / "prepared", text)  # a prepared folder where the text was
    with pytest.raises(UserError, match="trained on a text file, .* which is now a folder"):
        api.train(resume=second.name, overrides={"max_steps": 3}, home=home)


@pytest.mark.parametrize(
    "command", [["generate", "last", "--prompt"], ["surprise", "last", "--text"], ["attention", "last", "--prompt"]]
)
def test_a_byte_that_is_not_utf8_in_a_prompt_is_one_line(bpe_run, command):
    home, _ = bpe_run
    done = subprocess.run(
        [
            sys.executable.encode(),
            b"-m",
            b"littlebaby.cli",
            *map(str.encode, command),
            b"RO\xffME",
            b"--home",
            str(home).encode(),
        ],
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 2 and done.stderr.count(b"\n") == 1 and b"not UTF-8 text" in done.stderr, done.stderr
    with pytest.raises(UserError, match="not UTF-8 text"):
        api.generate("last", prompt="RO\udcffME", home=home, max_tokens=2, write=False)
