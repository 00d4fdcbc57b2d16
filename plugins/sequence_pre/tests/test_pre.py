"""pre through the kit, and its residual path: with silent attention and network it is the identity."""

import numpy as np

from littlebaby.testing import block_suite, build_block, tiny_config

TestPreNorm = block_suite("sequence", "pre")


def test_residual_stream_passes_through_untouched():
    config = tiny_config()
    block = build_block("sequence", "pre", config)
    for name, value in block.parameters.named().items():
        if name.startswith(("attention.proj", "network.down")):
            value[...] = 0.0  # both branches now add exactly zero
    x = np.random.default_rng(0).standard_normal((2, 5, config.n_emb))
    np.testing.assert_array_equal(block.forward(x), x)
