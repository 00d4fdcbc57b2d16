"""post through the kit, and its output: layer-normed, whatever the input's scale."""

import numpy as np

from littlebaby.testing import block_suite, build_block, tiny_config

TestPostNorm = block_suite("sequence", "post")


def test_output_is_normalised():
    config = tiny_config()
    block = build_block("sequence", "post", config)
    named = block.parameters.named()
    named["ln2.weight"][...], named["ln2.bias"][...] = 1.0, 0.0
    y = block.forward(100.0 * np.random.default_rng(0).standard_normal((2, 5, config.n_emb)))
    np.testing.assert_allclose(y.mean(axis=-1), 0.0, atol=1e-9)
    np.testing.assert_allclose(y.var(axis=-1), 1.0, rtol=1e-3)
