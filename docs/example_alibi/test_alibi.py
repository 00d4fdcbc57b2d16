"""alibi through the littlebaby testing kit: gradients, cache past n_ctx, shapes, round trip; and its bias."""

import numpy as np
from littlebaby_attention_alibi import alibi_bias

from littlebaby.testing import block_suite

TestALiBi = block_suite("attention", "alibi")
TestALiBiWithoutPositions = block_suite("attention", "alibi", options={"c_position": "none"})  # ALiBi alone positions


def test_the_bias_falls_with_distance_and_is_the_same_from_a_cache():
    slopes = np.array([0.5, 0.25])
    whole = alibi_bias(slopes, 4, 4, np.float64)
    assert whole[0, 3].tolist() == [-1.5, -1.0, -0.5, 0.0]  # query 3 on keys 0..3, head 0
    np.testing.assert_array_equal(alibi_bias(slopes, 1, 4, np.float64), whole[:, 3:])  # the newest query alone
