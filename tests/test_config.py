"""Config validation: every mistake is one readable line."""

import json
import math
import types

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import littlebaby
from littlebaby.config import Config, architecture_keys, to_dict
from littlebaby.configs import find, parse_override, shipped, with_overrides
from littlebaby.errors import UserError
from littlebaby.plugins import resolve
from littlebaby.plugins.registry import Registry

ORIGINAL = {  # a config as the original notebook wrote it
    "c_sequence": "post",
    "c_attention": "moh",
    "c_network": "moe",
    "n_ctx": 64,
    "n_emb": 128,
    "dropout": 0.1,
    "head_size": 128,
    "n_heads": 4,
    "n_layers": 4,
    "num_epochs": 1,
    "batch_size": 32,
    "lr": 0.001,
}


def message(data):
    with pytest.raises(UserError) as error:
        resolve.config(data)
    text = str(error.value)
    assert "\n" not in text
    return text


def test_original_config_loads_as_is_and_round_trips():
    config = resolve.config(ORIGINAL)
    assert (config.c_sequence, config.n_heads, config.lr, config.dropout) == ("post", 4, 0.001, 0.1)
    assert config.options == {"n_experts": 4}  # moe's option, filled with its default
    assert config.dtype == "float32"
    data = to_dict(config)
    assert json.loads(json.dumps(data)) == data
    assert resolve.config(data) == config


def test_head_size_must_be_divisible_by_n_heads():
    text = message({"head_size": 128, "n_heads": 3})
    assert "n_heads must divide head_size" in text and "128 % 3" in text


@pytest.mark.parametrize("key", ["n_ctx", "n_emb", "n_layers", "batch_size", "head_size"])
def test_non_positive_sizes(key):
    assert f"{key} must be positive" in message({key: 0})


@pytest.mark.parametrize("value", [-0.1, 1.0, 1.5])
def test_dropout_range(value):
    assert "dropout must be in [0, 1)" in message({"dropout": value})


def test_unknown_key_suggests_closest_name():
    text = message({"n_head": 4})
    assert "unknown config key 'n_head'" in text and "did you mean 'n_heads'" in text


def test_unknown_key_close_to_a_plugin_option():
    assert "did you mean 'n_experts'" in message({"c_network": "moe", "n_expert": 2})


@pytest.mark.parametrize(
    "data,expected",
    [
        ({"n_layers": "4"}, "n_layers: expected an integer, got '4'"),
        ({"n_layers": 2.5}, "n_layers: expected an integer"),
        ({"n_layers": True}, "n_layers: expected an integer"),
        ({"lr": "fast"}, "lr: expected a number"),
        ({"c_attention": 3}, "c_attention: expected a string"),
    ],
)
def test_wrong_types(data, expected):
    assert expected in message(data)


def test_plugin_option_is_validated_like_a_core_key():
    assert "n_experts must be positive" in message({"c_network": "moe", "n_experts": 0})
    assert "n_experts: expected an integer" in message({"c_network": "moe", "n_experts": "two"})


def test_option_of_an_unselected_installed_block_names_its_block():
    text = message({"c_network": "mlp", "n_experts": 8})
    assert "'n_experts' is an option of the network block 'moe'" in text
    assert "c_network is 'mlp'" in text and "c_network: 'moe'" in text
    assert "\n" not in text
    assert resolve.config({"c_network": "moe", "n_experts": 8}).options == {"n_experts": 8}


def test_unknown_block_names_installed_ones_and_the_package():
    text = message({"c_attention": "rwkv"})
    assert "unknown attention block 'rwkv'" in text
    assert "mha" in text and "moh" in text
    assert "pip install littlebaby-attention-rwkv" in text


def test_int_is_accepted_for_float():
    assert resolve.config({"lr": 1}).lr == 1.0


def test_parse_override():
    assert parse_override("n_layers=2") == ("n_layers", 2)
    assert parse_override("lr=3e-4") == ("lr", 3e-4)
    assert parse_override("c_network=moe") == ("c_network", "moe")
    with pytest.raises(UserError, match="key=value"):
        parse_override("n_layers")


def test_defaults_are_valid():
    assert resolve.config({}) == Config(options={})


def test_architecture_keys_are_the_keys_that_shape_the_parameters():
    from littlebaby.plugins.resolve import build_model

    # c_tokenizer fixes the vocabulary, so the embedding and head rows
    assert set(architecture_keys()) == {
        "c_sequence",
        "c_attention",
        "c_network",
        "c_position",
        "c_tokenizer",
        "n_ctx",
        "n_emb",
        "head_size",
        "n_heads",
        "n_layers",
        "bias",
        "qkv_bias",
        "tie_embeddings",
        "norm_eps",
        "qk_norm",
        "logit_softcap",
        "dtype",
    }
    assert "wpe.weight" not in build_model({"c_position": "none"}, vocab_size=5).parameters.named()
    small = dict(n_ctx=8, n_emb=8, head_size=8, n_heads=2, n_layers=1)
    base = build_model(small, vocab_size=5).parameters.named()
    # every other core key leaves every tensor's shape and dtype alone
    for key, value in [("dropout", 0.1), ("batch_size", 3), ("lr", 0.1), ("seed", 5), ("threads", 1), ("max_steps", 9)]:
        other = build_model(small | {key: value}, vocab_size=5).parameters.named()
        assert {k: (v.shape, v.dtype) for k, v in other.items()} == {k: (v.shape, v.dtype) for k, v in base.items()}


def test_shipped_configs_and_overrides(tmp_path):
    assert {"tiny", "baby", "baby-large", "baby-rope", "baby-fast"} <= set(shipped())
    for name in shipped():  # each one names installed blocks and valid keys
        data = find(name)[0]
        resolve.config(data)
        # and holds no plugin's keys beyond the core's: a user compares it with another block or optimizer by
        # one --set (a key of a plugin no longer selected would be refused)
        for key, other in {"c_optimizer": "adamw", "c_network": "mlp", "c_attention": "mha"}.items():
            resolve.config(data | {key: other})
    data, name = find("tiny")
    assert name == "tiny" and resolve.config(data).n_ctx == data["n_ctx"]
    (tmp_path / "mine.json").write_text(json.dumps({"n_layers": 3}))
    assert find(str(tmp_path / "mine.json")) == ({"n_layers": 3}, "mine")
    with pytest.raises(UserError, match="no shipped config 'tinyy'"):
        find("tinyy")
    assert with_overrides({"n_layers": 1, "lr": 0.1}, ["n_layers=2"]) == {"n_layers": 2, "lr": 0.1}
    assert with_overrides({"n_layers": 1}, {"lr": 0.5}) == {"n_layers": 1, "lr": 0.5}


# -- non-finite floats, any int, any type: never a traceback ------------------------------
FLOAT_KEYS = [f.name for f in attrs.fields(Config) if f.type is float]


@pytest.mark.parametrize("key", FLOAT_KEYS)
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 10**400])
def test_non_finite_floats_are_refused_for_every_float_key(key, value):
    assert f"{key}: expected a finite number" in message({key: value})


@pytest.mark.parametrize("text", ["lr=NaN", "lr=Infinity", "lr=-Infinity", "lr=1e999", "init_std=nan", "grad_clip=inf"])
def test_non_finite_overrides_are_refused(text):
    key, value = parse_override(text)
    assert key in message({key: value})


@pytest.mark.parametrize("key", FLOAT_KEYS)
def test_validators_refuse_nan_when_a_config_is_built_in_python(key):
    with pytest.raises(ValueError, match=key):
        Config(**{key: math.nan})


class Tempered(littlebaby.Block):
    """A block whose own option is a float: plugins' floats go through the same hook."""

    @attrs.frozen(kw_only=True)
    class Options:
        temperature: float = 1.0


def test_plugin_float_options_refuse_non_finite_values():
    plugin = types.ModuleType("tempered")
    plugin.register_attentions = littlebaby.hookimpl(lambda register: register("tempered", Tempered))
    registry = Registry(plugins=[plugin])
    assert resolve.config({"c_attention": "tempered", "temperature": 0.5}, registry).options == {"temperature": 0.5}
    for value in (math.nan, math.inf):
        with pytest.raises(UserError, match="temperature: expected a finite number"):
            resolve.config({"c_attention": "tempered", "temperature": value}, registry)


def test_an_option_of_an_unselected_tokenizer_names_it():  # found by the property test below
    assert "option of the tokenizer 'bpe', which this config does not select (c_tokenizer is 'char')" in message(
        {"vocab_size": 0}
    )


def test_seeds_are_whole_numbers_in_numpys_range():
    assert resolve.config({"seed": 2**63 - 1}).seed == 2**63 - 1
    assert "seed must be >= 0, got -1" in message({"seed": -1})
    assert "seed: expected an integer below 2**63" in message({"seed": 2**63})


@pytest.mark.parametrize("key", [f.name for f in attrs.fields(Config) if f.type is int])
def test_integers_beyond_int64_are_refused(key):
    assert f"{key}: expected an integer below 2**63, got 1000000" in message({key: 10**400})


def _values():
    scalars = (
        st.floats()
        | st.integers()
        | st.integers(min_value=-(10**400), max_value=10**400)
        | st.text(max_size=5)
        | st.booleans()
        | st.none()
    )
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
        max_leaves=5,
    )


def _installed():
    """(block key -> installed names, every plugin option key) of this environment."""
    from littlebaby.plugins.registry import default_registry

    entries = list(default_registry().entries())
    names = {f"c_{e.kind}": sorted(x.name for x in entries if x.kind == e.kind) for e in entries}
    options = sorted({f.name for e in entries if e.cls.Options is not None for f in attrs.fields(e.cls.Options)})
    return names, options


BLOCK_NAMES, OPTION_KEYS = _installed()
KEYS = [f.name for f in attrs.fields(Config) if f.name != "options"] + OPTION_KEYS + ["options", "n_head"]


def _configs():
    """Real block selections (so the options are reached) plus any values under any keys."""
    blocks = st.fixed_dictionaries({}, optional={key: st.sampled_from(names) for key, names in BLOCK_NAMES.items()})
    others = st.dictionaries(st.sampled_from(KEYS), _values(), max_size=4)
    return st.builds(lambda a, b: {**a, **b}, blocks, others)


@settings(max_examples=100, deadline=None)
@given(_configs())
def test_any_values_give_a_valid_config_or_one_user_error(data):
    try:
        config = resolve.config(data)
    except UserError as error:
        assert "\n" not in str(error)
        return
    for key in FLOAT_KEYS:
        assert math.isfinite(getattr(config, key))
    assert resolve.config(to_dict(config)) == config  # what is written reads back


@pytest.mark.parametrize("name", ["", "  "])
def test_an_empty_config_name_is_named_as_such(
    name,
):  # Path("") is the current folder: the API trained baby on config=""
    with pytest.raises(UserError, match="the config name is empty"):
        find(name)


@pytest.mark.parametrize("value", [1.5, 1e308])
def test_init_std_has_a_ceiling(value):  # 1e308 overflowed float32 and was reported as divergence, blaming lr
    with pytest.raises(UserError, match="'init_std' must be <= 1.0"):
        resolve.config({"init_std": value})


def test_a_config_file_giving_a_key_twice_is_refused_naming_it(tmp_path):
    # json.loads takes the last of two "lr" without a word: a hand-written config's slip went unseen
    path = tmp_path / "mine.json"
    path.write_text('{"n_layers": 2, "lr": 0.1, "n_emb": 32, "lr": 0.01}')
    with pytest.raises(UserError, match=r"config file .*mine.json is not valid JSON \(key 'lr' is given twice\)"):
        find(str(path))
    path.write_text('{"n_layers": 2, "lr": 0.01}')
    assert find(str(path))[0]["lr"] == 0.01
