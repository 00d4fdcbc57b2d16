"""GPT-2 folders in and out, against transformers' own numbers (tests/fixtures/hf, written by make_fixtures.py):
the same ids, logits within 1e-4, the same greedy tokens; every command on the imported run; an export that
is the folder transformers writes, and loads there with the same logits when transformers is installed."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

import littlebaby
from littlebaby.hf import importing
from littlebaby.testing import check_cache, check_model_gradients

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "hf" / "gpt2"
EXPECTED = load_file(str(FIXTURE / "expected.safetensors"))
TEXT = json.loads((FIXTURE / "expected.json").read_text())["text"]

pytest.importorskip("littlebaby_tokenizer_bpe", reason="the bpe tokenizer plugin is not installed")


@pytest.fixture(scope="module")
def imported():
    config, tokenizer, model, converted = importing.convert(FIXTURE)
    return config, tokenizer, model.eval(), converted


def test_ids_logits_and_greedy_tokens_are_transformers_own(imported, same_as_transformers):
    config, tokenizer, model, converted = imported
    assert converted == set() and config.tie_embeddings and config.qkv_bias and config.norm_eps == 1e-4
    same_as_transformers(FIXTURE, tokenizer, model)


def test_the_imported_model_caches_and_trains_like_any_other(imported):
    check_cache(imported[2])
    check_model_gradients(None, tie_embeddings=True, qkv_bias=True, norm_eps=1e-4, c_tokenizer="char")


def test_every_command_takes_the_imported_run(tmp_path, cli):
    done = cli("import-hf", FIXTURE, home=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "imported as run" in done.stdout
    for args in (
        ("generate", "last", "--prompt", "ROMEO:", "--max-tokens", "10", "--seed", "1"),
        ("inspect", "last"),
        ("attention", "last", "--prompt", "ROMEO: soft"),
        ("surprise", "last", "--text", TEXT),
        ("runs",),
    ):
        ran = cli(*args, home=tmp_path)
        assert ran.returncode == 0, (args, ran.stderr)
    assert "37,760: matches" in cli("inspect", "last", home=tmp_path).stdout  # GPT-2's count in closed form
    data = tmp_path / "more.txt"
    data.write_text("But soft, what light through yonder window breaks? It is the east.\n" * 30)
    tuned = cli(
        "finetune", "last", "--data", data, "--quiet", "--set", "max_steps=3", "--set", "batch_size=2", home=tmp_path
    )
    assert tuned.returncode == 0, tuned.stderr
    model = littlebaby.load("last", home=tmp_path).model
    assert model.config.c_tokenizer == "bpe" and model.config.tie_embeddings


def test_an_export_is_the_folder_transformers_writes_and_imports_back_the_same(tmp_path, imported, cli):
    assert cli("import-hf", FIXTURE, home=tmp_path).returncode == 0
    done = cli("export-hf", "last", "--out", tmp_path / "out", home=tmp_path)
    assert done.returncode == 0, done.stderr
    ours, theirs = load_file(str(tmp_path / "out" / "model.safetensors")), load_file(str(FIXTURE / "model.safetensors"))
    assert {k: v.shape for k, v in ours.items()} == {k: v.shape for k, v in theirs.items()}
    for name, value in theirs.items():
        np.testing.assert_array_equal(ours[name], value, err_msg=name)
    config, fixture_config = (json.loads((f / "config.json").read_text()) for f in (tmp_path / "out", FIXTURE))
    for key in ("model_type", "n_embd", "n_head", "n_layer", "n_positions", "vocab_size", "layer_norm_epsilon"):
        assert config[key] == fixture_config[key], key
    again = importing.convert(tmp_path / "out")[2].eval()
    np.testing.assert_array_equal(again.logits(EXPECTED["ids"]), imported[2].logits(EXPECTED["ids"]))


def copy(tmp_path) -> Path:
    folder = tmp_path / "model"
    shutil.copytree(FIXTURE, folder)
    return folder


def as_bf16(path: Path):
    """Rewrite a safetensors file with every tensor in BF16 (numpy has no bfloat16: the bytes by hand)."""
    tensors = load_file(str(path))
    header, blobs, offset = {}, [], 0
    for name, value in tensors.items():
        bits = (np.ascontiguousarray(value, np.float32).view(np.uint32) >> 16).astype("<u2").tobytes()
        header[name] = {"dtype": "BF16", "shape": list(value.shape), "data_offsets": [offset, offset + len(bits)]}
        blobs.append(bits)
        offset += len(bits)
    text = json.dumps(header).encode()
    path.write_bytes(len(text).to_bytes(8, "little") + text + b"".join(blobs))


def test_bf16_weights_become_float32_and_say_so(tmp_path, imported, cli):
    folder = copy(tmp_path)
    as_bf16(folder / "model.safetensors")
    done = cli("import-hf", folder, home=tmp_path / "home")
    assert done.returncode == 0 and "BF16 weights converted to float32" in done.stdout, done.stderr
    model = littlebaby.load("last", home=tmp_path / "home").model
    np.testing.assert_allclose(model.logits(EXPECTED["ids"]), EXPECTED["logits"], atol=0.05)  # bf16's 8 bits


def test_sharded_weights_import_the_same(tmp_path, imported):
    folder = copy(tmp_path)
    tensors = load_file(str(folder / "model.safetensors"))
    (folder / "model.safetensors").unlink()
    names = sorted(tensors)
    halves = {"model-00001-of-00002.safetensors": names[::2], "model-00002-of-00002.safetensors": names[1::2]}
    for file, part in halves.items():
        save_file({name: tensors[name] for name in part}, str(folder / file), metadata={"format": "pt"})
    index = {"weight_map": {name: file for file, part in halves.items() for name in part}}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    model = importing.convert(folder)[2].eval()
    np.testing.assert_array_equal(model.logits(EXPECTED["ids"]), imported[2].logits(EXPECTED["ids"]))


@pytest.mark.parametrize(
    "change, said",
    [
        (dict(model_type="bert"), "'bert' model"),
        (dict(n_embd=48), "tensor"),
        (dict(n_layer=3), "has no tensor 'transformer.h.2"),
        (dict(vocab_size=321), "vocab_size 321 but tokenizer.json 320"),
        (dict(activation_function="relu"), "activation 'relu'"),
        (dict(n_head=None), "n_head as None"),
        (lambda f: (f / "tokenizer.json").unlink(), "tokenizer.json"),
        (lambda f: (f / "config.json").write_text("{"), "config"),
        (lambda f: (f / "model.safetensors").rename(f / "pytorch_model.bin"), "pickle"),
        (lambda f: (f / "model.safetensors").unlink(), "has no model.safetensors"),
        (lambda f: (f / "model.safetensors").write_bytes(b"\x10\x00"), "not a safetensors file"),
        (lambda f: (f / "model.safetensors").write_bytes((f / "model.safetensors").read_bytes()[:-100]), "outside"),
        (lambda f: (f / "model.safetensors.index.json").write_text('{"weight_map": {"x": "../y"}}'), "outside"),
    ],
)
def test_a_bad_folder_is_one_line_and_leaves_nothing(tmp_path, change, said, refused_import):
    assert said in refused_import(FIXTURE, change)


def test_a_dtype_littlebaby_cannot_hold_is_refused(tmp_path, refused_import):
    def to_int(folder):
        tensors = load_file(str(folder / "model.safetensors"))
        tensors["transformer.wpe.weight"] = tensors["transformer.wpe.weight"].astype(np.int64)
        save_file(tensors, str(folder / "model.safetensors"))

    assert "I64, which littlebaby cannot hold" in refused_import(FIXTURE, to_int)


def test_export_refuses_a_run_without_a_gpt2_counterpart(tmp_path, cli):
    done = cli("train", "--config", "tiny", "--quiet", "--set", "max_steps=2", home=tmp_path)
    assert done.returncode == 0, done.stderr
    refused = cli("export-hf", "last", "--out", tmp_path / "out", home=tmp_path)
    assert refused.returncode == 2 and "c_tokenizer" in refused.stderr and not (tmp_path / "out").exists()
