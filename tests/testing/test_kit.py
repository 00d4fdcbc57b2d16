"""The testing kit rejects broken blocks: a check that cannot fail proves nothing.

Each broken block below is mha with one deliberate mistake; the kit's checks
(and so every plugin's three-line test file) must catch it, naming where.
"""

import types

import numpy as np
import pytest
from littlebaby_attention_mha import MultiHeadAttention

import littlebaby
from littlebaby.testing import (
    block_suite,
    check_cache,
    check_gradients,
    check_model_gradients,
    check_roundtrip,
    check_shapes,
    generation_chunks,
    registry_with,
    tiny_config,
    with_even_head_width,
)


class FlippedBias(MultiHeadAttention):
    """The output bias gradient has the wrong sign."""

    def backward(self, dy):
        dx = super().backward(dy)
        self.proj.grads["bias"] *= -1.0
        return dx


class FlippedInput(MultiHeadAttention):
    """The input gradient has the wrong sign."""

    def backward(self, dy):
        return -super().backward(dy)


class Assigns(MultiHeadAttention):
    """Overwrites the output bias gradient instead of adding to it."""

    def backward(self, dy):
        self.proj.grads["bias"][...] = 0.0  # what `=` instead of `+=` in the op would do
        return super().backward(dy)


class Forgetful(MultiHeadAttention):
    """Ignores the cache: each generated token sees only itself."""

    def forward(self, x, cache=None):
        return super().forward(x, None)


class OwnHistory(MultiHeadAttention):
    """Keeps its keys and values in itself instead of the LayerCache, so it misses the refill."""

    def forward(self, x, cache=None):
        if cache is None:
            return super().forward(x)
        history = self.__dict__.setdefault("history", [])
        history.append(x)
        return super().forward(np.concatenate(history, axis=1))[:, -x.shape[1] :]


class HiddenState(MultiHeadAttention):
    """Adds an array drawn in __init__ that is not a declared parameter."""

    def __init__(self, config, options=None):
        super().__init__(config, options)
        self.offset = np.random.default_rng().standard_normal(config.n_emb)

    def forward(self, x, cache=None):
        return super().forward(x, cache) + self.offset


class SqueezesTime(MultiHeadAttention):
    """Squeezes a length-1 axis: right at every size but one token."""

    def forward(self, x, cache=None):
        return super().forward(x, cache).squeeze()


class EvenHeads(MultiHeadAttention):
    """Correct, but (like rotary positions, which turn feature pairs) only for even head widths."""

    def __init__(self, config, options=None):
        if config.d_k % 2:
            raise ValueError(f"head width {config.d_k} is odd")
        super().__init__(config, options)


def plugin_of(name, cls):
    """A plugin module registering `cls` as the attention block `name`."""
    module = types.ModuleType(f"littlebaby_attention_{name}")

    @littlebaby.hookimpl
    def register_attentions(register):
        register(name, cls)

    module.register_attentions = register_attentions
    return module


def test_check_gradients_names_a_wrong_parameter_sign():
    with pytest.raises(AssertionError, match=r"FAILED.*in proj\.bias"):
        check_gradients(block_of(FlippedBias))


def test_check_gradients_names_a_wrong_input_sign():
    with pytest.raises(AssertionError, match=r"FAILED.*in input"):
        check_gradients(block_of(FlippedInput))


def test_check_gradients_names_a_gradient_assigned_instead_of_added():
    with pytest.raises(AssertionError, match=r"FAILED.*in proj\.bias"):
        check_gradients(block_of(Assigns))


def test_check_gradients_passes_the_real_block():
    assert check_gradients(block_of(MultiHeadAttention)).worst[1] < 1e-7


def test_check_model_gradients_rejects_a_wrong_sign_inside_a_model():
    registry = registry_with(plugin_of("flipped", FlippedBias))
    with pytest.raises(AssertionError, match=r"blocks\.\d\.attention\.proj\.bias"):
        check_model_gradients(registry, c_attention="flipped")


def test_check_cache_rejects_a_block_that_ignores_the_cache():
    with pytest.raises(AssertionError, match="cache check FAILED"):
        check_cache(Forgetful)


def test_check_cache_catches_a_missed_refill_past_n_ctx():
    # within the first window OwnHistory is right; only the policy past n_ctx exposes it
    assert check_cache(OwnHistory, steps=8, raise_on_failure=False).ok
    report = check_cache(OwnHistory, raise_on_failure=False)
    assert not report.ok and report.refills == 2
    first_bad = next(stop for stop, _, error in report.errors if error > report.tol)
    assert first_bad == 9  # the token that starts the second window


def test_check_cache_rejects_a_model_whose_attention_ignores_the_cache():
    from littlebaby.testing import tiny_model

    model = tiny_model(registry_with(plugin_of("forgetful", Forgetful)), c_attention="forgetful")
    with pytest.raises(AssertionError, match="cache check FAILED"):
        check_cache(model)


def test_check_roundtrip_rejects_state_outside_the_parameters():
    with pytest.raises(AssertionError, match="outputs differ after save and load"):
        check_roundtrip(HiddenState)
    assert check_roundtrip(MultiHeadAttention) > 0


def test_check_shapes_names_the_odd_size_that_breaks():
    with pytest.raises(AssertionError, match="batch 1, one token"):
        check_shapes(SqueezesTime)
    assert "float32" in check_shapes(MultiHeadAttention)


def test_the_suite_fails_on_a_wrong_sign():
    suite = block_suite("attention", "flipped", plugin=plugin_of("flipped", FlippedBias))()
    with pytest.raises(AssertionError, match="proj.bias"):
        suite.test_gradients(0.0)
    with pytest.raises(AssertionError, match="proj.bias"):
        suite.test_model_gradients({"c_sequence": "pre", "c_network": "mlp"})
    suite.test_cache()  # the forward is right: only the gradient checks may fail


def test_the_suite_fails_on_a_forgotten_cache():
    suite = block_suite("attention", "forgetful", plugin=plugin_of("forgetful", Forgetful))()
    with pytest.raises(AssertionError, match="cache check FAILED"):
        suite.test_cache()


def test_generation_follows_the_context_policy():
    # n_ctx 4: prompt of 3, one token, then each full window restarts from its last 2 tokens
    chunks = list(generation_chunks(total=9, n_ctx=4, prompt=3))
    assert chunks == [
        (0, 0, 3, False),
        (0, 3, 4, False),
        (3, 3, 5, True),  # token 4 arrives at a full window: refill with tokens 3, 4
        (3, 5, 6, False),
        (3, 6, 7, False),
        (6, 6, 8, True),
        (6, 8, 9, False),
    ]


def test_fixtures_come_from_the_pytest_plugin(littlebaby_tiny_config, littlebaby_tiny_model):
    config = littlebaby_tiny_config(c_attention="moh")
    assert config.c_attention == "moh" and config.dtype == "float64"
    assert littlebaby_tiny_model(n_layers=1).parameters.dtype == np.float64


def block_of(cls):
    from littlebaby.testing import build_block

    return build_block("attention", cls, tiny_config())


def test_check_roundtrip_of_a_whole_model():
    from littlebaby.testing import tiny_model

    assert check_roundtrip(tiny_model(c_attention="moh", c_network="moe")) > 0


def test_a_block_states_the_sizes_it_needs():
    plugin = plugin_of("even", EvenHeads)
    every_check = ["test_registered_and_options_validated", "test_roundtrip", "test_shapes", "test_cache"]
    default = block_suite("attention", "even", plugin=plugin)()
    with pytest.raises(littlebaby.UserError, match="head width 3 is odd"):  # the kit's heads are 3 wide
        default.test_gradients(0.0)
    with pytest.raises(littlebaby.UserError, match="head width 3 is odd"):  # and so is "odd widths" (9 over 3 heads)
        block_suite("attention", "even", plugin=plugin, sizes={"head_size": 16})().test_shapes()
    sized = block_suite("attention", "even", plugin=plugin, sizes={"head_size": 16}, cases=with_even_head_width())()
    for name in every_check:
        getattr(sized, name)()
    sized.test_gradients(0.2)
    sized.test_model_gradients({"c_sequence": "post", "c_network": "moe"})
    assert [case[1].get("head_size") for case in with_even_head_width()] == [None, None, 4, 12, 2, None]


def test_sizes_are_only_the_tiny_sizes():
    with pytest.raises(ValueError, match="not dtype"):
        block_suite("attention", "mha", sizes={"dtype": "float32"})


class WrongFormula(MultiHeadAttention):
    """Forgets the projection's bias in its closed form."""

    @classmethod
    def parameter_formula(cls, config, options):
        text, count = super().parameter_formula(config, options)
        return text, count - config.n_emb


def test_the_suite_checks_a_stated_parameter_formula():
    with pytest.raises(AssertionError, match="allocated"):
        block_suite("attention", "wrong", plugin=plugin_of("wrong", WrongFormula))().test_parameter_formula()
    block_suite(
        "attention", "even", plugin=plugin_of("even", EvenHeads), sizes={"head_size": 16}
    )().test_parameter_formula()
