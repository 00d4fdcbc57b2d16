"""tokenizer_suite: the tokenizer contract as one pytest test class, for char, bpe and yours.

    from littlebaby.testing import tokenizer_suite

    TestMine = tokenizer_suite("mine")

It checks: registration and options; decode(encode(text)) == text on varied
text with hypothesis (text the tokenizer was trained on; any text when it
says `encodes_any_text`; for one that says `lossless = False`, on the text it
keeps: decoding what it encoded gives a text that encodes and decodes to itself);
a saved and loaded tokenizer encodes identically;
every id is below vocab_size and stands for at least one byte, and the bytes
of a text's tokens add up to the text's (bits per byte rely on it); training
twice gives the same tokenizer; `extend` keeps the meaning of old ids; output
streamed token by token equals decode; a text read in blocks cut where `cut` says
(as prepare reads a corpus) encodes, with encode_batch, to the ids of the whole
text, and again in other batches. The check_* functions work alone too.
"""

import functools
import json
import tempfile
from pathlib import Path

import attrs
import numpy as np

from littlebaby.errors import UserError
from littlebaby.plugins import resolve
from littlebaby.testing.build import registry_with, tiny_config
from littlebaby.text import source
from littlebaby.text.source import shipped_text
from littlebaby.text.tokenizer import Tokenizer, to_file, train

# what every tokenizer is trained on in the suite: English, then scripts and symbols of several widths
VARIED = shipped_text()[:20000] + "\nΙσμήνη, αδελφούλα μου. 日本語のテキスト. café, naïve, 😀🚀 € ½\r\n\ttab\x00nul\n"


def train_on(name: str, text: str, registry, options=None) -> Tokenizer:
    return train(tiny_config(registry, c_tokenizer=name, **(options or {})), [text])


def check_roundtrip(tokenizer: Tokenizer, text: str):
    """decode(encode(text)) == text, and the tokens' bytes add up to the text's; for a tokenizer that declares
    itself lossy, on what it keeps of the text: decode(encode(.)) of that is itself."""
    ids = tokenizer.encode(text)
    assert ids.dtype == np.int64 and ids.ndim == 1
    if not tokenizer.lossless:
        text = tokenizer.decode(ids)  # what it keeps of the text (an <unk> where it lost some)
        ids = tokenizer.encode(text)
    assert tokenizer.decode(ids) == text, f"decode(encode(text)) differs for {text!r}"
    assert int(tokenizer.byte_lengths()[ids].sum()) == len(text.encode("utf-8", errors="surrogatepass")), (
        "the bytes of the tokens do not add up to the text's: bits per byte would be wrong"
    )


def check_save_load(tokenizer: Tokenizer, text: str, registry):
    data = json.loads(json.dumps(to_file(tokenizer)))  # through JSON text, as the run's file
    loaded = resolve.tokenizer(data, "test", registry)
    assert type(loaded) is type(tokenizer) and loaded.vocab_size == tokenizer.vocab_size
    np.testing.assert_array_equal(loaded.encode(text), tokenizer.encode(text))
    assert to_file(loaded) == to_file(tokenizer)


def check_vocabulary(tokenizer: Tokenizer, text: str):
    ids = tokenizer.encode(text)
    assert ids.min() >= 0 and ids.max() < tokenizer.vocab_size, "an id outside range(vocab_size)"
    lengths = tokenizer.byte_lengths()
    assert lengths.shape == (tokenizer.vocab_size,) and lengths.min() >= 1, "every token stands for some bytes"
    assert all(isinstance(tokenizer.token_text(i), str) for i in range(tokenizer.vocab_size))
    assert 0 <= tokenizer.start_id() < tokenizer.vocab_size


def check_extend(tokenizer: Tokenizer, old: str, new: str):
    extended = tokenizer.extend(new)
    assert extended.vocab_size >= tokenizer.vocab_size
    np.testing.assert_array_equal(extended.encode(old), tokenizer.encode(old))  # old ids keep their rows
    assert all(extended.token_bytes(i) == tokenizer.token_bytes(i) for i in range(tokenizer.vocab_size))
    check_roundtrip(extended, new)


def check_stream(tokenizer: Tokenizer, text: str):
    ids = tokenizer.encode(text)
    stream = tokenizer.stream_decoder()
    assert "".join(stream(i) for i in ids) + stream(None) == tokenizer.decode(ids)


# for the blocks: runs of spaces and line ends, words, digits, punctuation, characters of two to four bytes
PIECES = [*"  \n\n\t\r ab cd ef 12 .,!'s _ é 日 😀 \u00a0\u2003", " the", "\n\n", "  \n"]


def in_blocks(text: str, block: int, cut, carry: int = 1 << 20) -> list[str]:
    """The blocks source.blocks (prepare's reader) gives for a file holding `text`, BLOCK and CARRY set so."""
    import pytest

    with tempfile.TemporaryDirectory() as folder, pytest.MonkeyPatch.context() as patch:
        patch.setattr(source, "BLOCK", block)
        patch.setattr(source, "CARRY", carry)
        path = Path(folder) / "text.txt"
        path.write_bytes(text.encode("utf-8"))
        return list(source.blocks(source.Source(path, path.stat().st_size), cut=cut))


def check_blocks(tokenizer: Tokenizer, text: str, block: int):
    """Blocks cut where tokenizer.cut says hold the text, and encode_batch of them is the whole text's ids."""
    pieces = in_blocks(text, block, tokenizer.cut)
    assert "".join(pieces) == text
    ids = tokenizer.encode_batch(pieces)
    assert len(ids) == len(pieces) and all(np.array_equal(a, tokenizer.encode(p)) for a, p in zip(ids, pieces))
    assert np.array_equal(np.concatenate([np.zeros(0, np.int64), *ids]), tokenizer.encode(text))
    again = tokenizer.encode_batch(pieces[::2]) + tokenizer.encode_batch(pieces[1::2])  # what a batch remembered
    assert all(np.array_equal(a, b) for a, b in zip(again, ids[::2] + ids[1::2]))


def tokenizer_suite(name: str, *, plugin=None, options=None):
    """A pytest test class for the tokenizer registered as `name` (plugin, options: as block_suite)."""
    import pytest  # only test code needs pytest and hypothesis
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    slow = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

    @functools.cache
    def registry():
        return registry_with(plugin)

    @functools.cache
    def trained():
        return train_on(name, VARIED, registry(), options)

    class Suite:
        def test_registered_and_options_validated(self):
            cls = registry().resolve("tokenizer", name).cls
            assert issubclass(cls, Tokenizer) and cls.name == name
            for field in attrs.fields(cls.Options) if cls.Options is not None else ():
                with pytest.raises(UserError, match=field.name) as error:
                    tiny_config(registry(), c_tokenizer=name, **{field.name: {"bad": 1}})
                assert "\n" not in str(error.value)

        def test_roundtrip_on_varied_text(self):
            for part in (VARIED, VARIED[-120:], "\n", " a  b ", ""):
                check_roundtrip(trained(), part)

        @slow
        @given(st.text(min_size=1, max_size=200))
        def test_roundtrip_of_any_text(self, text):
            if trained().encodes_any_text:
                check_roundtrip(trained(), text)
            else:  # a closed vocabulary round-trips the text it was trained on
                check_roundtrip(train_on(name, text, registry(), options), text)

        def test_save_and_load_encode_identically(self):
            check_save_load(trained(), VARIED, registry())

        def test_vocabulary_size_covers_every_id(self):
            check_vocabulary(trained(), VARIED)

        def test_training_is_deterministic(self):
            assert to_file(train_on(name, VARIED, registry(), options)) == to_file(trained())

        def test_extend_keeps_old_ids(self):
            check_extend(trained(), VARIED[:5000], "Ξέρεις νάμεινε απ’ τον Οιδίποδα κακό; ∀x ∃y 𝔘")

        def test_streamed_output_equals_decode(self):
            check_stream(trained(), VARIED[-200:])

        @settings(max_examples=150, deadline=None)
        @given(st.lists(st.sampled_from(PIECES), max_size=150).map("".join), st.integers(1, 64))
        def test_blocks_encode_as_the_whole_text(self, text, block):
            tokenizer = trained() if trained().encodes_any_text else train_on(name, text + "x", registry(), options)
            check_blocks(tokenizer, text, block)

        def test_blocks_of_long_lines_encode_as_the_whole_text(self):
            text = VARIED.replace("\x00", "")
            for lines in (text, text.replace("\n", " "), text.replace("\n", "")):  # one long line, then without \n
                check_blocks(trained(), lines, 4096)

    Suite.__name__ = Suite.__qualname__ = f"TestTokenizer{name.capitalize()}"
    return Suite
