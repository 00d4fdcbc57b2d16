"""Model and optimizer files: safetensors round trips and one-line errors for bad files."""

import json

import numpy as np
import pytest
import safetensors
import safetensors.numpy

import littlebaby
from littlebaby import checkpoint
from littlebaby.config import from_dict
from littlebaby.errors import UserError
from littlebaby.model import build_model
from littlebaby.optim import AdamW
from littlebaby.testing import randomize


@pytest.fixture
def saved(tmp_path):
    config = from_dict(dict(c_attention="moh", c_network="moe", n_ctx=8, n_emb=8, head_size=8, n_heads=2, n_layers=2, n_experts=3))
    model = build_model(config, vocab_size=7)
    randomize(model.parameters)
    path = tmp_path / "model.safetensors"
    checkpoint.save_model(path, model)
    return model, path


def test_save_then_load_gives_identical_logits(saved):
    model, path = saved
    loaded = checkpoint.load_model(path, vocab_size=7)
    ids = np.arange(14).reshape(2, 7) % 7
    np.testing.assert_array_equal(loaded.logits(ids), model.logits(ids))
    assert loaded.config == model.config


def test_file_has_readable_names_and_metadata(saved):
    model, path = saved
    with safetensors.safe_open(str(path), framework="np") as f:
        metadata, names = f.metadata(), set(f.keys())
    assert names == set(model.parameters.named())
    assert "blocks.1.attention.qkv.weight" in names
    assert metadata["littlebaby_version"] == littlebaby.__version__
    assert json.loads(metadata["config"])["n_experts"] == 3
    assert json.loads(metadata["plugins"])["network"]["distribution"] == "littlebaby-network-moe"
    assert metadata["vocab_size"] == "7"


@pytest.mark.parametrize("damage", ["truncate", "garbage", "missing"])
def test_corrupt_files(saved, damage):
    _, path = saved
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:-100])
    elif damage == "garbage":
        path.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all")
    else:
        path.unlink()
    with pytest.raises(UserError, match="corrupt or truncated|not found"):
        checkpoint.load_model(path)


def rewrite(path, change):
    with safetensors.safe_open(str(path), framework="np") as f:
        metadata = f.metadata()
        tensors = {name: f.get_tensor(name) for name in f.keys()}
    change(tensors)
    path.write_bytes(safetensors.numpy.save(tensors, metadata=metadata))


def test_missing_extra_and_misshapen_tensors(saved):
    _, path = saved
    rewrite(path, lambda t: t.pop("head.bias"))
    with pytest.raises(UserError, match="missing head.bias"):
        checkpoint.load_model(path)
    rewrite(path, lambda t: t.update({"head.bias": np.zeros(7, np.float32), "surprise": np.zeros(1)}))
    with pytest.raises(UserError, match="unexpected surprise"):
        checkpoint.load_model(path)
    rewrite(path, lambda t: (t.pop("surprise"), t.update({"head.bias": np.zeros(6, np.float32)})))
    with pytest.raises(UserError, match=r"head.bias has shape \(6,\)"):
        checkpoint.load_model(path)


def test_tokenizer_and_model_must_agree_on_vocabulary(saved):
    with pytest.raises(UserError, match="tokenizer has 9 characters"):
        checkpoint.load_model(saved[1], vocab_size=9)


def test_optimizer_state_round_trips(saved, tmp_path):
    model, _ = saved
    optimizer = AdamW(model.parameters)
    model.grad[...] = 0.5
    optimizer.step(model.grad, 1e-3)
    path = tmp_path / "optimizer.safetensors"
    checkpoint.save_optimizer(path, optimizer, {"step": 1})
    fresh = AdamW(model.parameters)
    assert checkpoint.load_optimizer(path, fresh) == {"step": 1}
    np.testing.assert_array_equal(fresh.m, optimizer.m)
    assert fresh.t == 1
