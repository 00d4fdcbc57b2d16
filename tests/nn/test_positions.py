"""Positions as their own plugin kind: the built-in `learned` and `none`, the contract an attention honours,
and the migration of older runs (`pos_emb`, `c_attention: rope`) to the same parameters and logits."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

import littlebaby
from littlebaby.errors import UserError
from littlebaby.nn import Block, NoPositions
from littlebaby.plugins import resolve
from littlebaby.plugins.registry import Registry
from littlebaby.testing import block_suite, tiny_config, tiny_model

OLD = Path(__file__).parents[1] / "fixtures" / "old_runs"  # written by littlebaby before positions were plugins

TestLearnedPositions = block_suite("position", "learned")
TestNoPositions = block_suite("position", "none")


@pytest.mark.parametrize("label", ["rope", "rope_wpe", "no_positions"])
def test_older_runs_load_with_the_same_logits(label):
    """Runs saved with pos_emb and c_attention rope: migrated on load, the same logits. They were computed with
    OpenBLAS's Haswell kernel; its SkylakeX kernel (AVX-512 CPUs) rounds float32 GEMMs differently in the last
    place, so "the same" is within float32 rounding (equal to the bit under the same kernel)."""
    made = json.loads((OLD / "runs.json").read_text())
    loaded = littlebaby.load(made["runs"][label], home=OLD / "home")
    expected = load_file(OLD / "expected.safetensors")[label]
    np.testing.assert_allclose(loaded.model.logits(np.array(made["ids"])), expected, rtol=1e-5, atol=1e-6)
    position = {"rope": "rope", "rope_wpe": "rope", "no_positions": "none"}[label]
    assert loaded.config.c_attention == "mha" and loaded.config.c_position == position
    assert ("wpe.weight" in loaded.model.parameters.named()) == (label == "rope_wpe")


def test_an_older_run_generates_from_the_command_line(tmp_path):
    home = shutil.copytree(OLD / "home", tmp_path / "home")
    name = json.loads((OLD / "runs.json").read_text())["runs"]["rope"]
    command = [sys.executable, "-m", "littlebaby", "generate", name, "--home", str(home), "--max-tokens", "40"]
    done = subprocess.run(command + ["--seed", "1", "--prompt", "RO"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("RO") and len(done.stdout) > 30


@pytest.mark.parametrize(
    "old, new",
    [
        ({"pos_emb": True}, {"c_attention": "mha", "c_position": "learned"}),
        ({"pos_emb": False}, {"c_attention": "mha", "c_position": "none"}),
        ({"c_attention": "rope", "pos_emb": False}, {"c_attention": "mha", "c_position": "rope"}),
        ({"c_attention": "rope"}, {"c_attention": "mha", "c_position": "rope", "rope_with_wpe": True}),
        ({"pos_emb": False, "c_position": "rope"}, {"c_position": "rope"}),
    ],
)
def test_older_keys_become_a_position(old, new):
    config = resolve.config(old)
    for key, value in new.items():
        assert (config.options[key] if key in config.options else getattr(config, key)) == value
    assert "pos_emb" not in littlebaby.config.to_dict(config)


@pytest.mark.parametrize("keys", [{"pos_emb": False, "c_position": "learned"}, {"pos_emb": True, "c_position": "none"}])
def test_pos_emb_contradicting_c_position_is_refused_in_one_line(keys):
    with pytest.raises(UserError, match="pos_emb .* contradicts c_position") as error:
        resolve.config(keys)
    assert "\n" not in str(error.value)


def test_a_learned_table_refills_the_cache_and_none_slides_it():
    assert not tiny_model(c_position="learned").slides and tiny_model(c_position="none").slides
    assert "wpe.weight" in tiny_model().parameters.named()
    assert "wpe.weight" not in tiny_model(c_position="none").parameters.named()


class OldAttention(Block):
    """An attention written before positions existed: no `position` argument."""

    def forward(self, x, cache=None):
        return x

    def backward(self, dy):
        return dy


class Rotating(NoPositions):
    in_attention = True  # a position that acts inside attentions


class Plugin:
    @staticmethod
    @littlebaby.hookimpl
    def register_attentions(register):
        register("old", OldAttention)

    @staticmethod
    @littlebaby.hookimpl
    def register_positions(register):
        register("rotating", Rotating)


def test_an_attention_without_positions_takes_learned_or_none_but_refuses_one_acting_inside_it():
    registry = Registry(plugins=[Plugin])
    for position in ("learned", "none"):
        tiny_model(registry, c_attention="old", c_position=position)
    with pytest.raises(UserError, match="does not take a position encoding") as error:
        tiny_model(registry, c_attention="old", c_position="rotating")
    assert "c_position learned or none" in str(error.value) and "\n" not in str(error.value)


def test_an_unknown_position_names_what_is_installed():
    with pytest.raises(UserError, match=r"unknown position encoding 'absolute' \(installed: learned, none, rope"):
        tiny_config(c_position="absolute")


def test_qk_norm_is_refused_for_an_attention_whose_core_does_not_normalise():
    with pytest.raises(UserError, match="does not normalise q and k") as error:
        tiny_model(Registry(plugins=[Plugin]), c_attention="old", qk_norm=True)
    assert "CausalAttention.of(config)" in str(error.value) and "\n" not in str(error.value)
