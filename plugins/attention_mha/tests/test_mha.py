"""mha through the kit: gradients, cache past n_ctx, shapes, round trip; with QK-norm too, and what it changes."""

import numpy as np

from littlebaby.testing import block_suite, build_block, tiny_config

TestMultiHeadAttention = block_suite("attention", "mha")
TestMultiHeadAttentionQKNorm = block_suite("attention", "mha", options={"qk_norm": True})


def test_qk_norm_makes_the_scores_blind_to_the_scale_of_q_and_k():
    """With q and k normalised, scaling the q and k columns of the projection changes nothing but eps's share."""
    x = np.random.default_rng(0).standard_normal((2, 6, 12))
    moved = []
    for qk_norm in (False, True):
        block = build_block("attention", "mha", tiny_config(qk_norm=qk_norm, norm_eps=1e-12))
        plain = block.forward(x)
        block.qkv.params["weight"][:, :24] *= 7.0  # q and k's columns, not v's
        moved.append(np.abs(block.forward(x) - plain).max())
    assert moved[0] > 0.1 and moved[1] < 1e-9, moved
