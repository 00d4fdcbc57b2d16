"""prepare's encoding on worker processes: the ids of blocks in order, as one process gives them; a worker
that fails or dies ends it in one line."""

import os
import signal
import time

import littlebaby_tokenizer_bpe as bpe
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from littlebaby.errors import UserError
from littlebaby.runs import encoding
from littlebaby.testing.tokenizers import PIECES, VARIED, in_blocks

SPACED = "".join(np.random.default_rng(0).choice(PIECES, 20000)) + VARIED.replace("\x00", "")


@pytest.fixture(scope="module")
def tokenizer():
    return bpe.ByteBPE.train([SPACED], bpe.Options(vocab_size=400))


@pytest.fixture(scope="module")
def workers(tokenizer):
    with encoding.Encoder(tokenizer, "uint16", 2) as encoder:
        yield encoder


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=300).map("".join), st.integers(1, 64), st.integers(1, 5))
def test_blocks_encoded_on_workers_are_the_whole_texts_ids(tokenizer, workers, text, block, per_batch):
    blocks = in_blocks(text, block, tokenizer.cut)
    done = []
    for start in range(0, len(blocks), per_batch):
        done += workers.send(blocks[start : start + per_batch], tokenizer)
    done += workers.rest()
    ids = [ids for batch in done for ids in batch]
    assert all(a.dtype == np.uint16 for a in ids)
    assert np.array_equal(np.concatenate([np.zeros(0, np.uint16), *ids]), tokenizer.encode(text))


def test_one_process_gives_the_same_ids(tokenizer, workers):
    blocks = in_blocks(SPACED, 500, tokenizer.cut)
    alone = encoding.Encoder(tokenizer, "uint16", 1)
    here = alone.send(blocks, tokenizer) + alone.rest()
    there = workers.send(blocks[:30], tokenizer) + workers.send(blocks[30:], tokenizer) + workers.rest()
    assert np.array_equal(np.concatenate(here[0]), np.concatenate([ids for batch in there for ids in batch]))


def test_a_worker_that_cannot_read_the_tokenizer_says_why(tokenizer, monkeypatch):
    monkeypatch.setattr(encoding.tokenizers, "to_file", lambda _: {"tokenizer": "bpe", "library": "{"})
    with encoding.Encoder(tokenizer, "uint16", 2) as encoder:
        with pytest.raises(UserError, match="prepare's tokenizer holds no valid BPE"):
            encoder.send(["ROMEO: soft"], tokenizer) + encoder.rest()


def test_a_worker_killed_ends_the_encoding_in_one_line(tokenizer):
    with encoding.Encoder(tokenizer, "uint16", 2) as encoder:
        encoder.send(["ROMEO: soft"], tokenizer)
        encoder.rest()  # the workers are up
        for pid in encoder.pids:
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)
        with pytest.raises(UserError, match="ended abruptly .* with threads=1 to encode in one process"):
            encoder.send(["ROMEO: soft"], tokenizer) + encoder.rest()
