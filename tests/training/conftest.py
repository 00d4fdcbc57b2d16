"""Shared pieces of the training tests: a tiny float64 model and a batch of its tokens."""

import numpy as np
import pytest

from littlebaby.plugins import resolve
from littlebaby.plugins.resolve import build_model


@pytest.fixture
def tiny_model():
    """tiny_model(**keys): a new float64 model of 2 layers and 11 tokens, in training mode; keys change its config."""

    def build(**keys):
        config = dict(n_ctx=8, n_emb=16, head_size=16, n_heads=2, n_layers=2, batch_size=6, dtype="float64", threads=1)
        return build_model(resolve.config(config | keys), vocab_size=11).train()

    return build


@pytest.fixture
def tiny_batch():
    """tiny_batch(rows, seed): (inputs, targets) of `rows` windows of 8 tokens for tiny_model."""

    def draw(rows=6, seed=3):
        ids = np.random.default_rng(seed).integers(0, 11, size=(rows, 9))
        return ids[:, :-1], ids[:, 1:]

    return draw
