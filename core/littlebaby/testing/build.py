"""Tiny configs, blocks and models to check: what every other check in the kit is built from.

A check runs on a float64 model small enough that finite differences take
milliseconds: n_ctx 8, n_emb 12, four heads of width 3, two layers, 11 tokens
(TINY; a block that needs other sizes passes its own, see SIZES). Blocks are
looked up by name in a registry (the installed plugins, plus the plugin module
under test when it is not installed) and given random parameters, so that no
term can hide behind a weight of exactly 1 or a bias of 0.
"""

import numpy as np

from littlebaby.nn import gpt as model
from littlebaby.nn.gpt import GPT
from littlebaby.nn.params import Parameters
from littlebaby.plugins import resolve
from littlebaby.plugins.registry import Registry, default_registry

TINY = {
    "n_ctx": 8,
    "n_emb": 12,
    "head_size": 12,
    "n_heads": 4,
    "n_layers": 2,
    "dropout": 0.0,
    "dtype": "float64",
}
VOCAB_SIZE = 11
SIZES = ("n_ctx", "n_emb", "head_size", "n_heads", "n_layers")  # the TINY keys a block's tests may change


def check_sizes(sizes: dict | None) -> dict:
    """sizes as given (empty if None), or a ValueError naming a key that is not one of SIZES."""
    unknown = sorted(set(sizes or {}) - set(SIZES))
    if unknown:
        raise ValueError(f"sizes may set {', '.join(SIZES)}; not {', '.join(unknown)}")
    return dict(sizes or {})


def registry_with(plugin=None) -> Registry:
    """The installed plugins, plus `plugin` (a module) when it is not installed itself."""
    if plugin is None:
        return default_registry()
    registry = Registry()
    if not registry.manager.is_registered(plugin):
        registry.add(plugin)
    return registry


def tiny_config(registry=None, **overrides):
    """A validated float64 Config of TINY sizes; overrides may name blocks and plugin options."""
    return resolve.config({**TINY, **overrides}, registry)


def block_class(kind: str, block, registry=None) -> type:
    """A block class from a class or a registered name."""
    if isinstance(block, type):
        return block
    return (registry or default_registry()).resolve(kind, block).cls


def build_block(kind: str, block, config, registry=None, seed=0):
    """A standalone block with random float64 (or config.dtype) parameters bound.

    Built by the model's own builder (`littlebaby.nn.gpt.build_block`), so a
    block is made here exactly as in a GPT: a sequence block gets the config's
    attention and network blocks inside it.
    """
    instance = model.build_block(kind, config, block_class(kind, block, registry))
    bind_parameters(instance, dtype=config.dtype, seed=seed)
    return instance


def tiny_model(registry=None, seed=0, vocab_size=VOCAB_SIZE, **overrides) -> GPT:
    """A GPT of TINY sizes (overrides as in tiny_config) with random parameters, in eval mode."""
    gpt = GPT(tiny_config(registry, **overrides), vocab_size)
    randomize(gpt.parameters, seed)
    return gpt.eval()


def set_training(block, mode=True):
    """Training mode (dropout active) for a standalone block and its sub-blocks."""
    for part in block.walk():
        part.training = mode
    return block


def bind_parameters(block, dtype="float64", seed=0, scale=0.3) -> Parameters:
    """Give a standalone block its flat parameter and gradient buffers, filled at random.

    All values are random (norm weights around 1, everything else around 0) so
    that no term can hide behind a weight of exactly 1 or a bias of 0.
    """
    parameters = Parameters(block, dtype)
    randomize(parameters, seed, scale)
    block.parameters = parameters
    return parameters


def randomize(parameters: Parameters, seed=0, scale=0.3):
    """Fill every parameter at random: N(1, scale) for norm weights, N(0, scale) for the rest.

    Checks run on random values so that no term hides behind a weight of exactly
    1 or a bias of 0, and gradients are large enough to rise above rounding.
    """
    rng = np.random.default_rng(seed)
    for name, spec in parameters.specs.items():
        tensor = parameters.view(parameters.data, name)
        tensor[...] = rng.standard_normal(spec.shape) * scale + (1.0 if spec.init == "ones" else 0.0)
