"""moh through the kit, and its gate: a per-token distribution over heads, published for inspection."""

import numpy as np

from littlebaby.testing import block_suite, build_block, tiny_config

TestMixtureOfHeads = block_suite("attention", "moh")
TestMixtureOfHeadsQKNorm = block_suite("attention", "moh", options={"qk_norm": True})


def test_gate_is_observed_and_sums_to_one_over_heads():
    config = tiny_config(c_attention="moh")
    block = build_block("attention", "moh", config)
    block.observations = {}
    block.forward(np.random.default_rng(0).standard_normal((2, 5, config.n_emb)))
    gate = block.observations["gate"]
    assert gate.shape == (2, 5, config.n_heads)
    assert np.all(gate > 0) and np.allclose(gate.sum(axis=-1), 1.0)
