"""How much memory a model and its training need, counted before anything is allocated.

A block declares its tensors' shapes in `__init__` and allocates nothing, so GPT builds one layer,
counts it (`count`) and checks `model_needs` before building the rest; a training run adds the
optimizer's buffers, a gradient buffer per thread and the activations of a batch (`training_needs`).
Parameters are counted exactly; activations roughly, per token and layer, from the config's sizes. A
block whose activations grow with its own options (moe's experts) states its part with the classmethod
`activation_floats(config, options)` of the block contract.
"""

import math

import attrs
import numpy as np

from littlebaby.config import block_options


# What forward keeps for backward in the built-in blocks, in floats per token of one layer;
# tests/nn/test_sizes.py holds these to within a factor of two of a traced training step.
def _sequence_floats(config) -> int:
    return 4 * config.n_emb  # two LayerNorms' normalised inputs and the two residual sums


def _attention_floats(config) -> int:
    # q, k, v and the merged heads; per head one softmax weight per key in the window,
    # kept twice (weights and what backward reuses), three times with a dropout mask
    per_key = 3 if config.dropout else 2
    return 6 * config.head_size + per_key * config.n_heads * config.n_ctx + config.n_emb


def _network_floats(config) -> int:
    return 10 * config.n_emb  # input, the 4x hidden layer after GELU and GELU's derivative, output


DEFAULT_FLOATS = {"sequence": _sequence_floats, "attention": _attention_floats, "network": _network_floats}


def floats_per_token(config) -> int:
    """Activation floats one layer keeps per token."""
    total = 0
    for kind in DEFAULT_FLOATS:
        cls = config.chosen(kind)
        stated = cls.activation_floats(config, block_options(config, cls))
        total += DEFAULT_FLOATS[kind](config) if stated is None else stated
    return total


def _activations(config, vocab_size: int, tokens: int) -> int:
    """Bytes of the activations of `tokens` tokens through every layer, plus the logits
    with their softmax and gradient."""
    floats = tokens * (config.n_layers * floats_per_token(config) + 3 * vocab_size)
    return floats * np.dtype(config.dtype).itemsize


# -- what a model and a training run need -------------------------------------------------
# each part: (what it is, bytes, the keys that shrink it)
SIZE_KEYS = ("n_emb", "head_size", "n_layers", "n_ctx")  # or a block option such as n_experts


def model_needs(config, parameters: int, vocab_size: int) -> list:
    """A model in memory: its weights and gradients (every model has both buffers). What a forward pass adds
    depends on how many tokens it takes (`window_needs`): a model whose window is 8,192 tokens long still loads
    and generates a token at a time where one full window's attention weights would not fit."""
    size = np.dtype(config.dtype).itemsize
    return [(f"{parameters:,} parameters (weights and gradients)", 2 * parameters * size, SIZE_KEYS)]


def window_needs(config, vocab_size: int, tokens: int) -> list:
    """A forward pass over `tokens` tokens at once (a prompt, a text to look at), by part: each sees at most
    min(tokens, n_ctx) keys."""
    window = attrs.evolve(config, n_ctx=min(tokens, config.n_ctx))
    return [(f"activations of {tokens:,} tokens at once", _activations(window, vocab_size, tokens), ())]


def training_needs(model, batch: int, workers: int) -> list:
    """A training run of `model` on batches of `batch` windows split over `workers` threads, by part."""
    config, size = model.config, model.parameters.dtype.itemsize
    P = model.parameters.size
    buffers = f"weights, {workers} gradient buffer{'s' * (workers > 1)}, AdamW's 3 buffers"
    return [
        # + the float64 squares of the report's per-group statistics
        (f"{P:,} parameters ({buffers})", P * size * (1 + workers + 3) + P * 8, SIZE_KEYS),
        (
            f"activations of a batch of {batch} x {config.n_ctx} tokens",
            _activations(config, model.vocab_size, batch * config.n_ctx),
            ("batch_size", "n_ctx"),
        ),
    ]


def count(block) -> int:
    """Parameters a (not yet allocated) block declares, sub-blocks included."""
    return sum(math.prod(spec.shape) for _, _, _, spec in block.named_specs())
