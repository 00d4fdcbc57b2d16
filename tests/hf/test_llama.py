"""Llama folders in and out, against transformers' own numbers (tests/fixtures/hf/llama, by make_fixtures.py):
grouped-query attention with RoPE, RMSNorm, SwiGLU, no biases, an untied head. The same ids, logits within
1e-4, the same greedy tokens cached and not; every command on the imported run; an export equal to the folder
transformers wrote, tensor for tensor; a run trained here in Llama's shape exports and comes back the same."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

import littlebaby
from littlebaby.hf import importing
from littlebaby.testing import check_cache, check_model_gradients

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "hf" / "llama"
EXPECTED = load_file(str(FIXTURE / "expected.safetensors"))
TEXT = json.loads((FIXTURE / "expected.json").read_text())["text"]

pytest.importorskip("littlebaby_tokenizer_bpe", reason="the bpe tokenizer plugin is not installed")
pytest.importorskip("littlebaby_attention_gqa", reason="the gqa attention plugin is not installed")
pytest.importorskip("littlebaby_position_rope", reason="the rope position plugin is not installed")


@pytest.fixture(scope="module")
def imported():
    config, tokenizer, model, converted = importing.convert(FIXTURE)
    return config, tokenizer, model.eval(), converted


def test_the_config_is_llamas_shape(imported):
    config = imported[0]
    assert (config.c_sequence, config.c_attention, config.c_network, config.c_position) == (
        "rms",
        "gqa",
        "swiglu",
        "rope",
    )
    assert config.options["n_kv_heads"] == 2 and config.options["swiglu_hidden"] == 48
    assert not (config.bias or config.qkv_bias or config.tie_embeddings) and config.norm_eps == 1e-5
    assert (config.n_emb, config.head_size, config.n_heads, config.n_ctx) == (32, 32, 4, 64)


def test_ids_logits_and_greedy_tokens_are_transformers_own(imported, same_as_transformers):
    config, tokenizer, model, converted = imported
    same_as_transformers(FIXTURE, tokenizer, model)


def test_the_imported_shape_caches_and_trains_like_any_other(imported):
    check_cache(imported[2])
    llama = dict(c_sequence="rms", c_attention="gqa", n_kv_heads=2, c_network="swiglu", c_position="rope")
    check_model_gradients(None, **llama, bias=False, tie_embeddings=False, norm_eps=1e-5, c_tokenizer="char")


def test_every_command_takes_the_imported_run(tmp_path, cli):
    done = cli("import-hf", FIXTURE, home=tmp_path)
    assert done.returncode == 0 and "imported as run" in done.stdout, done.stderr
    for args in (
        ("generate", "last", "--prompt", "ROMEO:", "--max-tokens", "10", "--seed", "1"),
        ("attention", "last", "--prompt", "ROMEO: soft"),
        ("surprise", "last", "--text", TEXT),
        ("runs",),
    ):
        ran = cli(*args, home=tmp_path)
        assert ran.returncode == 0, (args, ran.stderr)
    count = sum(v.size for v in load_file(str(FIXTURE / "model.safetensors")).values())
    assert f"{count:,}: matches" in cli("inspect", "last", home=tmp_path).stdout  # the count in closed form
    data = tmp_path / "more.txt"
    data.write_text("But soft, what light through yonder window breaks? It is the east.\n" * 30)
    tuned = cli(
        "finetune", "last", "--data", data, "--quiet", "--set", "max_steps=3", "--set", "batch_size=2", home=tmp_path
    )
    assert tuned.returncode == 0, tuned.stderr
    assert littlebaby.load("last", home=tmp_path).config.c_position == "rope"


def test_an_export_is_the_folder_transformers_writes(tmp_path, imported, cli):
    assert cli("import-hf", FIXTURE, home=tmp_path).returncode == 0
    done = cli("export-hf", "last", "--out", tmp_path / "out", home=tmp_path)
    assert done.returncode == 0, done.stderr
    ours, theirs = load_file(str(tmp_path / "out" / "model.safetensors")), load_file(str(FIXTURE / "model.safetensors"))
    assert sorted(ours) == sorted(theirs)
    for name, value in theirs.items():
        np.testing.assert_array_equal(ours[name], value, err_msg=name)
    config, fixture_config = (json.loads((f / "config.json").read_text()) for f in (tmp_path / "out", FIXTURE))
    for key in ("model_type", "hidden_size", "intermediate_size", "num_attention_heads", "num_key_value_heads"):
        assert config[key] == fixture_config[key], key
    assert config["rope_parameters"] == fixture_config["rope_parameters"]
    again = importing.convert(tmp_path / "out")[2].eval()
    np.testing.assert_array_equal(again.logits(EXPECTED["ids"]), imported[2].logits(EXPECTED["ids"]))


def test_a_run_trained_here_in_llamas_shape_exports_and_comes_back(tmp_path, cli):
    data = tmp_path / "text.txt"
    data.write_text("ROMEO: But soft, what light through yonder window breaks?\n" * 200)
    llama = ["c_sequence=rms", "c_attention=gqa", "n_kv_heads=2", "c_network=swiglu", "c_position=rope"]
    keys = llama + ["bias=false", "c_tokenizer=bpe", "vocab_size=300", "max_steps=3", "tie_embeddings=true"]
    sets = [part for key in keys for part in ("--set", key)]
    done = cli("train", "--config", "tiny", "--data", data, "--quiet", *sets, home=tmp_path)
    assert done.returncode == 0, done.stderr
    assert cli("export-hf", "last", "--out", tmp_path / "out", home=tmp_path).returncode == 0
    assert "lm_head.weight" not in load_file(str(tmp_path / "out" / "model.safetensors"))  # tied
    ids = np.arange(12) * 7 % 300
    trained = littlebaby.load("last", home=tmp_path).model
    again = importing.convert(tmp_path / "out")[2]
    # the tiny config trains in float64; the folder holds float32, as transformers' do
    np.testing.assert_allclose(again.logits(ids), trained.logits(ids), atol=1e-5, rtol=0)


def drop_tensor(name):
    def change(folder):
        tensors = load_file(str(folder / "model.safetensors"))
        del tensors[name]
        save_file(tensors, str(folder / "model.safetensors"))

    return change


@pytest.mark.parametrize(
    "change, said",
    [
        (dict(rope_parameters={"rope_theta": 1e4, "rope_type": "llama3"}), "scales its rotary positions"),
        (dict(rope_parameters=None, rope_scaling={"type": "linear", "factor": 2.0}), "'linear'"),
        (dict(partial_rotary_factor=0.5), "rotates only part"),
        (dict(attention_bias=True), "biases"),
        (dict(hidden_act="gelu"), "activation 'gelu'"),
        (dict(num_key_value_heads=3), "4 query heads for 3 key/value heads"),
        (dict(intermediate_size=40), "mlp.gate_proj.weight"),
        (dict(num_hidden_layers=3), "has no tensor 'model.layers.2"),
        (dict(tie_word_embeddings=True), "no place for: 'lm_head.weight'"),
        (drop_tensor("model.layers.1.self_attn.k_proj.weight"), "has no tensor 'model.layers.1.self_attn.k_proj"),
    ],
)
def test_a_bad_llama_folder_is_one_line_and_leaves_nothing(tmp_path, change, said, refused_import):
    assert said in refused_import(FIXTURE, change)


@pytest.mark.parametrize(
    "keys, said",
    [
        (["c_sequence=post"], "c_sequence 'post' has no counterpart"),
        (["c_sequence=rms", "c_network=swiglu", "c_position=rope", "c_attention=moh"], "c_attention"),
        (["c_sequence=rms", "c_network=swiglu", "c_position=rope"], "Llama has no biases"),
        (["c_sequence=rms", "c_network=mlp", "c_position=rope"], "c_network 'swiglu'"),
    ],
)
def test_export_names_what_has_no_counterpart(tmp_path, keys, said, cli):
    sets = [part for key in keys + ["c_tokenizer=bpe", "vocab_size=300", "max_steps=1"] for part in ("--set", key)]
    data = tmp_path / "text.txt"
    data.write_text("ROMEO: But soft, what light through yonder window breaks?\n" * 100)
    assert cli("train", "--config", "tiny", "--data", data, "--quiet", *sets, home=tmp_path).returncode == 0
    refused = cli("export-hf", "last", "--out", tmp_path / "out", home=tmp_path)
    assert refused.returncode == 2 and said in refused.stderr and not (tmp_path / "out").exists(), refused.stderr


def test_the_models_own_end_token_is_kept_for_generation_to_stop_at(tmp_path, cli):
    """eos_token_id names the end token (Llama 2's </s>, not GPT-2's <|endoftext|>): kept in the run's tokenizer."""
    folder = tmp_path / "model"
    shutil.copytree(FIXTURE, folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "eos_token_id": [7, 0]}))
    assert importing.convert(folder)[1].end_id == 7
    assert cli("import-hf", folder, home=tmp_path / "home").returncode == 0
    loaded = littlebaby.load("last", home=tmp_path / "home")
    assert loaded.tokenizer.end_id == 7
