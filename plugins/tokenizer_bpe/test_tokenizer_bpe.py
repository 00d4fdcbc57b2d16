"""bpe: the tokenizer kit, then what is bpe's own: any text round-trips, the vocabulary is fixed."""

import json
import random

import littlebaby_tokenizer_bpe as bpe
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from littlebaby.errors import UserError
from littlebaby.testing import registry_with, tiny_config, tokenizer_suite
from littlebaby.testing.tokenizers import PIECES, VARIED, check_blocks, check_roundtrip, train_on

TestBpe = tokenizer_suite("bpe", plugin=bpe, options={"vocab_size": 300})


@pytest.fixture(scope="module")
def tokenizer():
    return train_on("bpe", VARIED, registry_with(bpe), {"vocab_size": 400})


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_any_text_round_trips_exactly(tokenizer, text):
    check_roundtrip(tokenizer, text)  # no prefix space added, no normalization


def test_every_byte_is_a_token_before_the_merges(tokenizer):
    assert sorted(tokenizer.token_bytes(i) for i in range(bpe.BYTES)) == [bytes([b]) for b in range(256)]
    assert tokenizer.vocab_size == 400 and len(tokenizer.encode("the king")) < len("the king")  # merges learned


def test_the_vocabulary_is_fixed_at_finetune(tokenizer):
    assert tokenizer.extend("ΑΝΤΙΓΟΝΗ 日本語") is tokenizer


def test_multi_byte_tokens_label_and_stream_readably(tokenizer):
    ids = tokenizer.encode("日")  # three bytes, no merge for them in this vocabulary
    assert [tokenizer.token_text(i) for i in ids] == ["\\xe6", "\\x97", "\\xa5"]
    stream = tokenizer.stream_decoder()
    assert [stream(i) for i in ids] == ["", "", "日"]


@pytest.mark.parametrize("value", [256, 0, -5])
def test_vocab_size_needs_every_byte_and_a_merge(value):
    with pytest.raises(UserError, match="vocab_size must be at least 257"):
        tiny_config(registry_with(bpe), c_tokenizer="bpe", vocab_size=value)


@pytest.mark.parametrize("value", [(1 << 20) + 1, 10**11, 2**62])
def test_vocab_size_has_a_ceiling(value):  # 1e11 aborted inside the Rust library, 2**62 overflowed it
    with pytest.raises(UserError, match="vocab_size must be at most 1,048,576"):
        tiny_config(registry_with(bpe), c_tokenizer="bpe", vocab_size=value)


def test_a_damaged_file_is_one_line(tokenizer):
    data = tokenizer.to_dict()
    with pytest.raises(UserError, match="no valid BPE"):
        bpe.ByteBPE.from_dict({**data, "library": data["library"][:-10]})
    with pytest.raises(UserError, match="vocab_size"):
        bpe.ByteBPE.from_dict({**data, "vocab_size": 7})
    assert np.array_equal(bpe.ByteBPE.from_dict(data).encode(VARIED), tokenizer.encode(VARIED))


def sentencepiece_layout():
    """A tokenizer.json in Llama 2's layout: ▁ for spaces, a leading one prepended, <0xNN> byte fallback."""
    from tokenizers import Tokenizer as Library
    from tokenizers import decoders, models, normalizers, trainers

    library = Library(models.BPE(unk_token="<unk>", byte_fallback=True))
    library.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    library.decoder = decoders.Sequence(
        [decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)]
    )
    specials = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=specials, show_progress=False)
    library.train_from_iterator(["ROMEO: But soft, what light through yonder window breaks?"] * 50, trainer)
    return json.loads(library.to_str())


def test_a_sentencepiece_layout_with_byte_fallback_is_taken_as_it_is():
    tokenizer = bpe.ByteBPE.from_dict(sentencepiece_layout(), "tokenizer.json")
    text = "ROMEO: soft ✓ light"  # ✓ was never seen: its three bytes fall back to <0xNN> tokens
    ids = tokenizer.encode(text)
    assert ids.tolist() == tokenizer.library.encode(text).ids and tokenizer.vocab_size > 259
    assert b"".join(tokenizer.token_bytes(int(i)) for i in ids) == (" " + text).encode()  # the prepended space
    assert tokenizer.library.decode(ids.tolist(), skip_special_tokens=False) == text


def test_a_byte_level_file_keeps_its_special_tokens_text():
    tokenizer = bpe.ByteBPE.train(["ROMEO: But soft"] * 20, bpe.Options(vocab_size=300))
    tokenizer.library.add_special_tokens(["<|endoftext|>"])
    again = bpe.ByteBPE.from_dict(json.loads(tokenizer.library.to_str()), "tokenizer.json")
    assert again.token_bytes(again.end_id) == b"<|endoftext|>"


@pytest.fixture(scope="module")
def spaced():  # merges of runs of spaces and line ends: the tokens a cut after a newline would change
    text = "".join(random.Random(0).choices(PIECES, k=20000))
    return train_on("bpe", text, registry_with(bpe), {"vocab_size": 400})


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=150).map("".join), st.integers(1, 64))
def test_blocks_cut_before_whitespace_encode_as_the_whole_text(spaced, text, block):
    check_blocks(spaced, text, block)


def test_training_on_text_cut_before_spaces_learns_what_the_whole_text_teaches(monkeypatch):
    from littlebaby.text import pieces

    text = "".join(random.Random(1).choices(PIECES, k=5000)) + VARIED
    monkeypatch.setattr(pieces, "TRAINING_TEXT", 1 << 30)  # one text: as the library counts it whole
    whole = bpe.ByteBPE.train([text], bpe.Options(vocab_size=400))
    monkeypatch.setattr(pieces, "TRAINING_TEXT", 50)  # hundreds of texts
    cut = bpe.ByteBPE.train([text[:7000], text[7000:]], bpe.Options(vocab_size=400))
    assert cut.library.to_str() == whole.library.to_str()
