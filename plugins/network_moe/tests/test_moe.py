"""moe through the kit; one expert is exactly mlp; the gate is a distribution over experts."""

import numpy as np

from littlebaby.testing import block_suite, build_block, tiny_config

TestMixtureOfExperts = block_suite("network", "moe", options={"n_experts": 3})


def test_one_expert_equals_mlp_with_the_same_weights():
    config = tiny_config(c_network="moe", n_experts=1)
    moe, mlp = build_block("network", "moe", config), build_block("network", "mlp", config, seed=1)
    for name, value in mlp.parameters.named().items():  # up.weight (C, F) is moe's (C, 1, F), and so on
        moe.parameters.named()[name][...] = value.reshape(moe.parameters.named()[name].shape)
    x = np.random.default_rng(0).standard_normal((2, 5, config.n_emb))
    np.testing.assert_allclose(moe.forward(x), mlp.forward(x), rtol=1e-12, atol=1e-12)
    dy = np.random.default_rng(1).standard_normal(x.shape)
    np.testing.assert_allclose(moe.backward(dy), mlp.backward(dy), rtol=1e-12, atol=1e-12)


def test_gate_is_observed_and_sums_to_one_over_experts():
    config = tiny_config(c_network="moe", n_experts=3)
    block = build_block("network", "moe", config)
    block.observations = {}
    block.forward(np.random.default_rng(0).standard_normal((2, 5, config.n_emb)))
    gate = block.observations["gate"]
    assert gate.shape == (2, 5, 3) and np.allclose(gate.sum(axis=-1), 1.0)
