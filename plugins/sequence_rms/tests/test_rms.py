"""rms through the kit, and its own behaviour: the model's final norm follows, no bias anywhere."""

import numpy as np

from littlebaby.nn.layers import LayerNorm, RMSNorm
from littlebaby.testing import block_suite, build_block, tiny_config, tiny_model

TestRMSPreNorm = block_suite("sequence", "rms")


def test_model_ends_with_an_rms_norm_and_has_no_norm_bias():
    model = tiny_model(c_sequence="rms")
    assert isinstance(model.ln_f, RMSNorm)
    names = model.parameters.named()
    assert "ln_f.weight" in names and not any("norm" in n and n.endswith("bias") for n in names)
    assert isinstance(tiny_model(c_sequence="pre").ln_f, LayerNorm)  # the default stays


def test_rescaling_the_input_changes_nothing_inside_the_branches():
    """RMSNorm is scale invariant (while eps is negligible): the attention branch sees the same input for x and 10 x."""
    config = tiny_config(c_sequence="rms")
    block = build_block("sequence", "rms", config)
    for name, value in block.parameters.named().items():
        if name.startswith("network.down"):
            value[...] = 0.0  # only attention writes into the residual stream
    x = np.random.default_rng(0).standard_normal((2, 5, config.n_emb)) * 100  # eps negligible beside mean(x^2)
    # attention sees rms1(x) = rms1(10 x): its contribution is the same for both
    np.testing.assert_allclose(block.forward(10 * x) - 10 * x, block.forward(x) - x, rtol=1e-7, atol=1e-9)
