"""mha through the kit: gradients, cache past n_ctx, shapes, round trip."""

from littlebaby.testing import block_suite

TestMultiHeadAttention = block_suite("attention", "mha")
