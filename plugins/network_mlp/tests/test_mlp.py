"""mlp through the kit, and that it acts on each token alone."""

import numpy as np

from littlebaby.testing import block_suite, build_block, tiny_config

TestMLP = block_suite("network", "mlp")


def test_each_token_is_transformed_alone():
    config = tiny_config()
    block = build_block("network", "mlp", config)
    x = np.random.default_rng(0).standard_normal((1, 6, config.n_emb))
    together = block.forward(x)
    one_by_one = np.concatenate([block.forward(x[:, t : t + 1]) for t in range(6)], axis=1)
    np.testing.assert_allclose(together, one_by_one, rtol=1e-12)
