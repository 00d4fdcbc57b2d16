"""GPT-2's pieces: where byte-level BPE may cut a text (before_space), and encoding a corpus piece by piece.

GPT-2's pre-tokenizer never puts a character that is not whitespace and the ASCII whitespace after it in one
piece, and BPE never merges across pieces, so a text cut there encodes (and trains) as the whole text does.
Text repeats its pieces (" the", " king,\\n"): a corpus encodes a small part of its length once each piece's
ids are remembered.
"""

import itertools
import re

import numpy as np

_TEXT_THEN_SPACE = re.compile(r"\S[\t\n\x0b\x0c\r ]")
_BEFORE_SPACE = re.compile(r"(?<=\S)(?=[\t\n\x0b\x0c\r ])")
PIECE_LIMIT = 1 << 18  # distinct pieces remembered; past it, forgotten and learned again (memory stays bounded)
TRAINING_TEXT = 1 << 16  # characters of the texts a trainer is given (the library splits long ones slowly)


def before_space(text: str, window: int = 1 << 12) -> int:
    """The last place in text where a character that is not whitespace is followed by an ASCII space, tab or
    line end; 0 if there is none. Looks back from the end in doubling windows."""
    start = len(text)
    while start > 0:
        start = max(0, start - window)
        found = None
        for found in _TEXT_THEN_SPACE.finditer(text, start):
            pass
        if found is not None:
            return found.start() + 1
        window *= 2
    return 0


def shorter(chunks, size: int | None = None):
    """The chunks in texts of at most about `size` (TRAINING_TEXT) characters, cut before_space (a stretch with no
    such place stays in one text). Words and their counts stay as they were: a trainer learns the same merges."""
    size = size or TRAINING_TEXT
    for chunk in chunks:
        start = 0
        while len(chunk) - start > size:
            end = before_space(chunk[start : start + size])
            if not end:
                break
            yield chunk[start : start + end]
            start += end
        yield chunk[start:]


class PieceCache:
    """encode_batch for a tokenizer whose tokens never cross a before_space place: each text cut at every such
    place, each distinct piece encoded once (encode_many: a list of texts -> a list of ids) and remembered from
    batch to batch, the ids gathered. Not for several threads at once."""

    def __init__(self, encode_many, limit: int = PIECE_LIMIT):
        self.encode_many, self.limit = encode_many, limit
        self._forget()

    def _forget(self):
        self.index = {}  # piece -> its number
        self.flat = np.zeros(0, np.int64)  # the ids of every piece, one piece after another
        self.starts = np.zeros(0, np.int64)  # where piece n's ids begin in flat
        self.lengths = np.zeros(0, np.int64)  # how many ids piece n has

    def __call__(self, texts) -> list[np.ndarray]:
        return [self._encode(text) for text in texts]

    def _encode(self, text: str) -> np.ndarray:
        pieces = _BEFORE_SPACE.split(text)
        numbers = self._numbers(pieces)
        unknown = numbers < 0
        if unknown.any():  # most texts of a corpus hold a few new pieces, or none
            new = list(dict.fromkeys(itertools.compress(pieces, unknown.tolist())))
            if len(self.index) + len(new) > self.limit:
                self._forget()
                new = list(dict.fromkeys(pieces))
            self._learn(new)
            numbers = self._numbers(pieces)
        counts = self.lengths[numbers]  # id j of the text's piece m is flat[starts[that piece] + j - (m's start)]
        shift = np.repeat(self.starts[numbers] - (np.cumsum(counts) - counts), counts)
        return self.flat[shift + np.arange(len(shift))]

    def _numbers(self, pieces: list) -> np.ndarray:  # -1 for a piece not remembered
        return np.fromiter(map(self.index.get, pieces, itertools.repeat(-1)), np.int64, len(pieces))

    def _learn(self, pieces: list):
        if not pieces:
            return
        encoded = self.encode_many(pieces)
        lengths = np.array([len(ids) for ids in encoded], dtype=np.int64)
        self.index.update(zip(pieces, itertools.count(len(self.index))))
        self.starts = np.concatenate([self.starts, len(self.flat) + np.cumsum(lengths) - lengths])
        self.lengths = np.concatenate([self.lengths, lengths])
        self.flat = np.concatenate([self.flat, *encoded]).astype(np.int64)
