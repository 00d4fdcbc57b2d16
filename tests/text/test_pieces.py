"""pieces.py: byte-level BPE's pieces remembered across batches, and training text cut where no word changes."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from littlebaby.testing.tokenizers import PIECES
from littlebaby.text import pieces

texts = st.lists(st.sampled_from(PIECES), max_size=60).map("".join)


class Bytes:
    """A stand-in encode_many: each text's UTF-8 bytes, with every text it was asked for kept."""

    def __init__(self):
        self.asked = []

    def __call__(self, many):
        self.asked.extend(many)
        return [np.frombuffer(text.encode("utf-8"), np.uint8).astype(np.int64) for text in many]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(texts, max_size=5), max_size=4), st.integers(1, 30))
def test_each_text_gets_its_ids_whatever_was_remembered_or_forgotten(batches, limit):
    cache, most = pieces.PieceCache(Bytes(), limit=limit), limit
    for batch in batches:
        ids = cache(batch)
        assert [a.tolist() for a in ids] == [list(text.encode("utf-8")) for text in batch]
        assert all(a.dtype == np.int64 for a in ids)
        most = max([most, *(len(set(pieces._BEFORE_SPACE.split(text))) for text in batch)])
        assert len(cache.index) <= most  # bounded: past the limit, only one text's pieces are kept


def test_a_piece_is_encoded_once_across_batches():
    encode = Bytes()
    cache = pieces.PieceCache(encode)
    cache([" the king the queen\n", " the king"])
    assert sorted(encode.asked) == sorted([" the", " king", " queen", "\n"])  # each once
    cache([" the queen the king\n"])
    assert len(encode.asked) == 4  # nothing new


@settings(max_examples=200, deadline=None)
@given(texts, st.integers(1, 40))
def test_training_text_is_cut_only_before_space_and_kept_whole(chunk, size):
    cut = list(pieces.shorter([chunk], size))
    assert "".join(cut) == chunk
    at = 0
    for text in cut[:-1]:
        at += len(text)
        assert 0 < len(text) <= size and not chunk[at - 1].isspace() and chunk[at] in " \t\n\r\x0b\x0c"
    assert len(cut[-1]) <= size or not pieces.before_space(cut[-1][:size])  # long only where no place was
    assert list(pieces.shorter([chunk, chunk], size)) == cut + cut  # never a text across two chunks
