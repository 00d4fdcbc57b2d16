"""A tokenizer with `<unk>` passes the kit when it says it is lossy, and fails it when it claims to round-trip."""

import collections
import re
import types

import attrs
import numpy as np
import pytest

import littlebaby
from littlebaby.nn import positive
from littlebaby.testing import tokenizer_suite
from littlebaby.text import Tokenizer

UNK = "<unk>"
PIECES = re.compile(r"<unk>|\w+|\s|[^\w\s]")  # the placeholder itself reads back as the unknown token


@attrs.frozen
class WordOptions:
    word_vocab: int = attrs.field(default=300, validator=positive)  # the most frequent pieces kept, <unk> for the rest


class Words(Tokenizer):
    """Words, spaces and punctuation, the `word_vocab` most frequent: what a capped word tokenizer loses."""

    Options = WordOptions
    encodes_any_text = True
    lossless = False

    def __init__(self, vocab):
        self.vocab = list(vocab)
        self.index = {piece: i for i, piece in enumerate(self.vocab)}

    @classmethod
    def train(cls, chunks, options=None):
        counts = collections.Counter(piece for chunk in chunks for piece in PIECES.findall(chunk) if piece != UNK)
        keep = sorted(counts, key=lambda piece: (-counts[piece], piece))[: (options or WordOptions()).word_vocab]
        return cls([UNK, *keep])

    def encode(self, text):
        return np.array([self.index.get(piece, 0) for piece in PIECES.findall(text)], dtype=np.int64)

    def token_bytes(self, token):
        return self.vocab[token].encode("utf-8")

    @property
    def vocab_size(self):
        return len(self.vocab)

    def to_dict(self):
        return {"vocab": self.vocab}

    @classmethod
    def from_dict(cls, data, source="tokenizer"):
        return cls(data["vocab"])

    def extend(self, text):
        return self  # a capped vocabulary stays as it is


class Claims(Words):
    lossless = True  # but drops what it does not know: the kit must catch it


def plugin(name, cls):
    module = types.ModuleType(f"littlebaby_tokenizer_{name}")

    @littlebaby.hookimpl
    def register_tokenizers(register):
        register(name, cls)

    module.register_tokenizers = register_tokenizers
    return module


TestWords = tokenizer_suite("words", plugin=plugin("words", Words), options={"word_vocab": 200})


def test_a_lossy_tokenizer_that_claims_to_round_trip_fails_the_kit():
    suite = tokenizer_suite("claims", plugin=plugin("claims", Claims), options={"word_vocab": 200})()
    with pytest.raises(AssertionError, match="decode"):
        suite.test_roundtrip_on_varied_text()
