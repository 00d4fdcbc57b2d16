"""swiglu through the kit (default and a chosen hidden width), and its own behaviour."""

import numpy as np

from littlebaby.plugins import resolve
from littlebaby.plugins.resolve import build_model
from littlebaby.testing import block_suite, build_block, tiny_config

TestSwiGLU = block_suite("network", "swiglu")
TestSwiGLUHidden = block_suite("network", "swiglu", options={"swiglu_hidden": 5})


def test_default_width_keeps_the_parameter_count_of_mlp():
    sizes = {}
    for network in ("mlp", "swiglu"):
        model = build_model(resolve.config({"c_network": network}), vocab_size=65)  # the baby sizes
        sizes[network] = model.parameters.data.size
    assert abs(sizes["swiglu"] - sizes["mlp"]) / sizes["mlp"] < 0.01
    block = build_block("network", "swiglu", tiny_config(c_network="swiglu"))
    assert block.hidden == 32 and block.hidden % 8 == 0  # 8/3 * 12 = 32


def test_formula_matches_the_definition():
    """down(silu(x W1) * (x W3)) written out, with W1 | W3 the halves of the fused weight."""
    block = build_block("network", "swiglu", tiny_config(c_network="swiglu", swiglu_hidden=7))
    x = np.random.default_rng(0).standard_normal((2, 3, 12))
    w1, w3 = np.split(block.up.params["weight"], 2, axis=1)
    a = x @ w1
    expected = (a / (1 + np.exp(-a)) * (x @ w3)) @ block.down.params["weight"]
    np.testing.assert_allclose(block.forward(x), expected, rtol=1e-12)
