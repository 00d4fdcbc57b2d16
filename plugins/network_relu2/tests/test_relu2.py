"""relu2 through the kit (gradients in float64, cache, shapes, round trip, parameter count), and its math."""

import numpy as np
import pytest

from littlebaby.testing import block_suite, tiny_model

relu2 = pytest.importorskip("littlebaby_network_relu2", reason="littlebaby-network-relu2 is not installed")

TestReLU2 = block_suite("network", "relu2", plugin=relu2)


def test_it_squares_the_positive_part():
    model = tiny_model(None, c_network="relu2")
    block = model.layers[0].network
    x = np.random.default_rng(0).standard_normal((1, 3, model.config.n_emb))
    up = block.up.forward(x)
    expected = block.down.forward(np.where(up > 0, up * up, 0.0))
    np.testing.assert_allclose(block.forward(x), expected)
