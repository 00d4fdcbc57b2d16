"""Importing the original notebook's JSON files: logits equal to the original forward's."""

import json
from pathlib import Path

import numpy as np
import pytest

from littlebaby import api
from littlebaby.errors import UserError

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "original"
NAMES = ["pre_mha_mlp", "post_mha_moe", "pre_moh_moe", "post_moh_mlp"]


def files_of(name):
    return FIXTURE / f"config_{name}.json", FIXTURE / "tokenizer.json", FIXTURE / f"model_{name}.json"


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype,tolerance", [("float64", 1e-10), ("float32", 1e-4)])
def test_logits_match_the_original(tmp_path, name, dtype, tolerance):
    result = api.import_original(*files_of(name), home=tmp_path, overrides=[f"dtype={dtype}"])
    config, tokenizer, model = api.load(result.name, home=tmp_path)
    expected = json.loads((FIXTURE / f"expected_{name}.json").read_text())
    np.testing.assert_allclose(model.logits(np.array(expected["ids"])), expected["logits"], atol=tolerance, rtol=0)
    assert tokenizer.vocab_size == 9 and config.c_sequence == name.split("_")[0]


def test_missing_weight_names_the_key(tmp_path):
    config, tokenizer, model = files_of("pre_mha_mlp")
    weights = json.loads(model.read_text())
    del weights["block_1_mha_k_weight"]
    broken = tmp_path / "model.json"
    broken.write_text(json.dumps(weights))
    with pytest.raises(UserError, match="block_1_mha_k_weight"):
        api.import_original(config, tokenizer, broken, home=tmp_path / "home")
    assert not (tmp_path / "home").exists()


def test_config_and_model_that_do_not_match(tmp_path):
    config, tokenizer, _ = files_of("pre_mha_mlp")
    with pytest.raises(UserError, match="block_0_mha_q_weight"):
        api.import_original(config, tokenizer, files_of("pre_moh_moe")[2], home=tmp_path)


def test_tokenizer_of_another_size(tmp_path):
    config, _, model = files_of("pre_mha_mlp")
    tokenizer = tmp_path / "tokenizer.json"
    tokenizer.write_text(json.dumps({"vocab": ["a", "b"], "vocab_size": 2}))
    with pytest.raises(UserError, match="tokenizer has 2 characters"):
        api.import_original(config, tokenizer, model, home=tmp_path)


@pytest.mark.parametrize("override, name", [("c_attention=gqa", "gqa"), ("c_attention=mla", "mla")])
def test_a_block_without_a_mapping_is_one_line_naming_it(tmp_path, override, name):
    pytest.importorskip(f"littlebaby_attention_{name}")  # installed by uv sync --all-packages
    with pytest.raises(UserError, match=f"^the original notebook has no {name} block") as error:
        api.import_original(*files_of("pre_mha_mlp"), home=tmp_path, overrides=[override])
    assert "\n" not in str(error.value)
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


def test_moe_with_another_expansion_is_refused_by_the_moe_block(tmp_path):
    config, tokenizer, model = files_of("pre_moh_moe")
    weights = json.loads(model.read_text())
    weights["block_0_moe_expansion"] = 2
    broken = tmp_path / "model.json"
    broken.write_text(json.dumps(weights))
    with pytest.raises(UserError, match="moe expansion 2"):
        api.import_original(config, tokenizer, broken, home=tmp_path / "home")


@pytest.mark.parametrize(
    "key,value,expected",
    [
        ("block_0_mha_q_weight", 0.5, "'block_0_mha_q_weight' is a single number, not an array"),
        ("block_0_mha_q_weight", [0.5, 0.5], "weights of layer 0 do not fit together"),  # a vector beside matrices
        ("block_0_mha_k_weight", [[0.5] * 3] * 5, "weights of layer 0 do not fit together"),  # another row count
        ("block_0_mha_c_weight", [[0.5] * 3] * 5, "blocks.0.attention.proj.weight has shape (5, 3)"),
        ("block_0_mha_q_weight", [[0.5, "x"]], "'block_0_mha_q_weight' is not a numeric array"),
        ("wte_weight", [[1e400]], "number 1e400 is too large for a float"),
        ("wte_weight", [[10**400]], "'wte_weight' is not a numeric array"),
        ("wte_weight", [[1e39]], "'wte_weight' holds a number too large for float32"),
    ],
)
def test_weights_of_the_wrong_shape_are_one_line(tmp_path, key, value, expected):
    config, tokenizer, model = files_of("pre_mha_mlp")
    weights = json.loads(model.read_text())
    weights[key] = value
    broken = tmp_path / "model.json"
    broken.write_text(json.dumps(weights).replace("Infinity", "1e400"))
    with pytest.raises(UserError) as error:
        api.import_original(config, tokenizer, broken, home=tmp_path / "home")
    assert expected in str(error.value) and "\n" not in str(error.value)
    assert not (tmp_path / "home").exists()


def test_a_model_file_too_large_to_parse_here_is_refused_before_reading(tmp_path, monkeypatch):
    # json.loads of '[0.5,0.5,...' builds a float and a list slot (32 bytes) per 4 bytes of text: a 240 MB
    # file took 2.9 GB, and the limit was a tenth of the memory (as for training text, 10 bytes a character)
    from littlebaby.system import memory

    config, tokenizer, model = files_of("pre_mha_mlp")
    size = model.stat().st_size
    monkeypatch.setattr(memory, "available", lambda *args: size * memory.JSON_BYTES_PER_BYTE - 1)
    with pytest.raises(UserError, match="more than the .* it may be; parsing JSON takes up to 24 times its size"):
        api.import_original(config, tokenizer, model, home=tmp_path / "home")
    assert not (tmp_path / "home").exists()
