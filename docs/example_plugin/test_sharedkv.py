"""sharedkv through the littlebaby testing kit: gradients, cache past n_ctx, shapes, round trip, options."""

from littlebaby.testing import block_suite

TestSharedKV = block_suite("attention", "sharedkv", options={"temperature": 2.0})
