"""check_roundtrip: a block's (or model's) named parameters saved and loaded give identical outputs.

The parameters go through safetensors (numpy flavour) under their full
names, into a fresh instance whose own parameters start different. The
outputs must then be bit-identical: a block that keeps state outside its
declared parameters (an array drawn in `__init__`, a cached constant) fails,
and so does one whose names do not cover all of its parameters. This is a
check of the block contract, independent of the checkpoint format of runs.
"""

import numpy as np
from safetensors.numpy import load, save

from littlebaby.nn.block import Block
from littlebaby.nn.gpt import GPT
from littlebaby.testing.build import build_block, randomize, set_training, tiny_config


def load_named(parameters, tensors: dict):
    """Copy saved tensors into a Parameters' buffer by name; the names must match exactly."""
    missing = sorted(set(parameters.specs) - set(tensors))
    extra = sorted(set(tensors) - set(parameters.specs))
    if missing or extra:
        raise AssertionError(f"saved and declared parameters differ: missing {missing}, unexpected {extra}")
    for name, value in parameters.named().items():
        if tensors[name].shape != value.shape or tensors[name].dtype != value.dtype:
            raise AssertionError(
                f"{name}: saved {tensors[name].dtype}{tensors[name].shape}, declared {value.dtype}{value.shape}"
            )
        value[...] = tensors[name]


def check_roundtrip(target, config=None, *, kind="attention", registry=None, seed=0):
    """Save the parameters of `target`, load them into a fresh instance, compare outputs exactly.

    target: a GPT, or a block class / registered name of `kind` (built twice
            from `config`, tiny by default). Returns the saved bytes' length.
    """
    rng = np.random.default_rng(seed)
    if isinstance(target, GPT):
        first = target.eval()
        second = GPT(first.config, first.vocab_size)
        x = rng.integers(0, first.vocab_size, (2, first.config.n_ctx))

        def run(model):
            return model.logits(x)

    else:
        if isinstance(target, Block):
            raise TypeError("check_roundtrip needs a block class or name (it builds a fresh instance), or a GPT")
        config = config or tiny_config(registry)
        first, second = (build_block(kind, target, config, registry, seed=s) for s in (seed, seed + 1))
        x = rng.standard_normal((2, config.n_ctx, config.n_emb)).astype(first.parameters.dtype)

        def run(block):
            return set_training(block, False).forward(x)

    randomize(second.parameters, seed + 1)  # so a parameter that is not loaded shows
    if second.parameters.size and np.array_equal(run(first), run(second)):
        raise AssertionError("outputs do not depend on the parameters: the round trip proves nothing")
    blob = save(first.parameters.named())
    load_named(second.parameters, load(blob))
    expected, got = run(first), run(second)
    if not np.array_equal(expected, got):
        raise AssertionError(
            f"outputs differ after save and load: max |difference| {np.max(np.abs(expected - got)):.3e}"
        )
    return len(blob)
