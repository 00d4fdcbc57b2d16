"""mlp through the kit, and that it acts on each token alone."""

import numpy as np

from littlebaby.testing import block_suite, build_block, set_training, tiny_config

TestMLP = block_suite("network", "mlp")


def test_each_token_is_transformed_alone():
    config = tiny_config()
    block = build_block("network", "mlp", config)
    x = np.random.default_rng(0).standard_normal((1, 6, config.n_emb))
    together = block.forward(x)
    one_by_one = np.concatenate([block.forward(x[:, t : t + 1]) for t in range(6)], axis=1)
    np.testing.assert_allclose(together, one_by_one, rtol=1e-12)


def test_eval_mode_gives_the_training_forward_and_backward():
    # eval mode computes GELU's value alone and its derivative only if a backward comes
    config = tiny_config(dropout=0.0)
    rng = np.random.default_rng(1)
    x, dy = rng.standard_normal((2, 5, config.n_emb)), rng.standard_normal((2, 5, config.n_emb))
    results = []
    for training in (True, False):
        block = build_block("network", "mlp", config)
        set_training(block, training)
        y = block.forward(x)
        results.append((y, block.backward(dy), block.grad.copy()))
    for trained, evaluated in zip(*results):
        np.testing.assert_allclose(evaluated, trained, rtol=1e-12, atol=1e-14)
