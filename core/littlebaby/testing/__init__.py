"""littlebaby.testing: the checks our own blocks pass, for anyone's blocks.

    check_gradients(block_or_model, ...)    float64 finite differences, names the worst tensor
    check_model_gradients(c_attention=...)  the same for a tiny GPT built from block names
    check_cache(block_or_model, ...)        cached generation equals full forwards, past n_ctx
    check_roundtrip(block_or_model, ...)    safetensors save and load give identical outputs
    check_shapes(block, ...)                batch 1, one token, one head, odd widths, float32
    block_suite(kind, name, sizes=...)      all of the above as a pytest test class
    optimizer_suite(name)                   an optimizer's contract (a quadratic, a tiny model, resume
                                            bit for bit from its file, threads, options)
    tokenizer_suite(name)                   a tokenizer's contract (round trip with hypothesis,
                                            save/load, vocabulary, determinism, extend, streaming)
    tiny_config / tiny_model / build_block  the float64 test-sized pieces they run on
    TINY, SIZES, CASES, with_even_head_width  the sizes and odd-shape cases, and how to change them

The pytest plugin (`littlebaby.testing.pytest_plugin`, loaded by pytest
through the `pytest11` entry point) adds fixtures; see docs/plugins.md.
"""

from littlebaby.testing.build import (
    SIZES,
    TINY,
    bind_parameters,
    build_block,
    randomize,
    registry_with,
    set_training,
    tiny_config,
    tiny_model,
)
from littlebaby.testing.cache import CacheReport, check_cache, generation_chunks
from littlebaby.testing.gradients import GradientReport, check_gradients, check_model_gradients, numerical_gradient
from littlebaby.testing.optimizers import optimizer_suite
from littlebaby.testing.roundtrip import check_roundtrip
from littlebaby.testing.shapes import CASES, check_shapes, with_even_head_width
from littlebaby.testing.suite import block_suite
from littlebaby.testing.tokenizers import tokenizer_suite

__all__ = [
    "CASES",
    "SIZES",
    "TINY",
    "CacheReport",
    "GradientReport",
    "bind_parameters",
    "block_suite",
    "build_block",
    "check_cache",
    "check_gradients",
    "check_model_gradients",
    "check_roundtrip",
    "check_shapes",
    "generation_chunks",
    "numerical_gradient",
    "randomize",
    "registry_with",
    "set_training",
    "tiny_config",
    "tiny_model",
    "optimizer_suite",
    "tokenizer_suite",
    "with_even_head_width",
]
