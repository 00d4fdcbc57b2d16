"""check_shapes: a block runs forward and backward at odd sizes and in both dtypes.

Off-by-one and broadcasting mistakes hide at the sizes tests usually pick;
they show at batch 1, one token, one head, an odd width, a full window, and
in float32 (training) as well as float64 (checks). At each size the output
and input gradient must have the input's shape and dtype, and the output and
every gradient must be finite.
"""

import numpy as np

from littlebaby.testing.build import build_block, set_training, tiny_config

# (name, config changes, batch, tokens); config changes apply on top of the tiny config
CASES = (
    ("batch 1, one token", {}, 1, 1),
    ("full window", {}, 3, None),
    ("one head", {"n_heads": 1, "head_size": 4}, 2, 5),
    ("odd widths", {"n_emb": 5, "head_size": 9, "n_heads": 3}, 2, 7),
    ("width 1", {"n_emb": 1, "head_size": 1, "n_heads": 1}, 1, 2),
    ("float32", {"dtype": "float32"}, 2, 5),
)


def with_even_head_width(cases=CASES):
    """The cases with every odd head width made even (head_size grows by n_heads), for a block
    that pairs a head's features (rotary positions); give it even base sizes too."""
    even = []
    for name, changes, batch, tokens in cases:
        if "head_size" in changes and (changes["head_size"] // changes["n_heads"]) % 2:
            changes = {**changes, "head_size": changes["head_size"] + changes["n_heads"]}
        even.append((name, changes, batch, tokens))
    return tuple(even)


def check_shapes(block, *, kind="attention", registry=None, options=None, cases=CASES, seed=0):
    """Forward and backward of `block` (a class or registered name) at every case; returns the case names.

    options: config keys (plugin options, block names) added to every case.
    Raises AssertionError naming the case and what is wrong.
    """
    rng = np.random.default_rng(seed)
    for name, changes, batch, tokens in cases:
        config = tiny_config(registry, **{**(options or {}), **changes})
        instance = set_training(build_block(kind, block, config, registry, seed), False)
        dtype = np.dtype(config.dtype)
        x = rng.standard_normal((batch, tokens or config.n_ctx, config.n_emb)).astype(dtype)
        y = instance.forward(x)
        problems = []
        if y.shape != x.shape or y.dtype != dtype:
            problems.append(f"output {y.dtype}{y.shape}, expected {dtype}{x.shape}")
        instance.grad[...] = 0.0
        dx = instance.backward(rng.standard_normal(x.shape).astype(dtype))
        if dx.shape != x.shape or dx.dtype != dtype:
            problems.append(f"input gradient {dx.dtype}{dx.shape}, expected {dtype}{x.shape}")
        if not (np.all(np.isfinite(y)) and np.all(np.isfinite(dx)) and np.all(np.isfinite(instance.grad))):
            problems.append("non-finite values")
        if problems:
            raise AssertionError(
                f"{kind} block {block if isinstance(block, str) else block.__name__} at {name} "
                f"({changes or 'tiny config'}, batch {batch}): {'; '.join(problems)}"
            )
    return [case[0] for case in cases]
