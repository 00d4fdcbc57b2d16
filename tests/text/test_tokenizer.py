"""Character tokenizer: sorted vocabulary, growing by appending, the original's JSON format."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from littlebaby.errors import UserError
from littlebaby.plugins.resolve import tokenizer as from_file
from littlebaby.testing import tokenizer_suite
from littlebaby.text.char import CharTokenizer as Tokenizer
from littlebaby.text.tokenizer import to_file

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "original"


def test_vocab_is_sorted_and_round_trips():
    tokenizer = Tokenizer.from_text("hello world\n")
    assert tokenizer.vocab == sorted(set("hello world\n"))
    assert tokenizer.decode(tokenizer.encode("hold")) == "hold"
    data = tokenizer.to_dict()
    assert data == {"vocab": tokenizer.vocab, "vocab_size": len(tokenizer.vocab)}
    assert Tokenizer.from_dict(data).vocab == tokenizer.vocab


def test_growing_appends_new_characters_so_old_ids_stay():
    old = Tokenizer.from_text("cab")
    grown = old.extend("zyxa")
    assert grown.vocab == ["a", "b", "c", "x", "y", "z"]
    assert all(grown.ids[c] == i for c, i in old.ids.items())
    assert old.extend("abc").vocab == old.vocab


def test_unknown_character_names_it():
    with pytest.raises(UserError, match=r"character '€' \(at position 2\)"):
        Tokenizer.from_text("abc").encode("ab€")


def test_start_is_a_newline_when_there_is_one():
    assert Tokenizer.from_text("b\na").start_id() == 0  # "\n" sorts first
    assert Tokenizer.from_text("ba").start_id() == 0
    assert Tokenizer(["x", "\n"]).start_id() == 1


@pytest.mark.parametrize(
    "data", [{}, {"vocab": "abc"}, {"vocab": ["ab"]}, {"vocab": ["a", "b"], "vocab_size": 3}, {"vocab": ["a", "a"]}]
)
def test_bad_tokenizer_files(data):
    with pytest.raises(UserError):
        Tokenizer.from_dict(data)


# -- the contract, and the run's tokenizer file -------------------------------------------
TestChar = tokenizer_suite("char")


def test_a_file_without_a_name_is_char_as_the_original_notebook_wrote():
    original = json.loads((FIXTURE / "tokenizer.json").read_text())
    assert "tokenizer" not in original
    tokenizer = from_file(original)
    assert isinstance(tokenizer, Tokenizer) and tokenizer.vocab == original["vocab"]
    assert to_file(tokenizer) == {"tokenizer": "char", **original}


def test_a_file_naming_an_unknown_tokenizer_says_how_to_install_it():
    with pytest.raises(UserError, match="unknown tokenizer 'wordpiece'.*pip install littlebaby-tokenizer-wordpiece"):
        from_file({"tokenizer": "wordpiece", "vocab": ["a"]})


def test_streamed_output_waits_for_the_whole_character():
    tokenizer = Tokenizer.from_text("é€")
    stream = tokenizer.stream_decoder()
    assert [stream(i) for i in tokenizer.encode("€é")] == ["€", "é"]


def test_encode_is_the_dictionary_lookup():
    text = "The quick brown fox, ΑΝΤΙΓΟΝΗ, 日本語 😀\n"
    tokenizer = Tokenizer(sorted(set(text), reverse=True))  # an unsorted vocabulary, as after extend
    np.testing.assert_array_equal(tokenizer.encode(text), [tokenizer.ids[c] for c in text])


def _docs_example():
    """The bytes tokenizer of docs/plugins.md, from its file: the page's code is the tested code."""
    path = Path(__file__).resolve().parents[2] / "docs" / "example_tokenizer" / "littlebaby_tokenizer_bytes.py"
    spec = importlib.util.spec_from_file_location("littlebaby_tokenizer_bytes", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TestDocsExample = tokenizer_suite("bytes", plugin=_docs_example())


def test_the_docs_show_the_example_as_it_is():
    root = Path(__file__).resolve().parents[2]
    code = (
        (root / "docs" / "example_tokenizer" / "littlebaby_tokenizer_bytes.py")
        .read_text()
        .split('"""\n', 2)[-1]
        .lstrip()
    )
    assert code in (root / "docs" / "plugins.md").read_text()


def test_unknown_characters_below_and_above_the_largest_known_one():
    tokenizer = Tokenizer.from_text("ac\U0010fffd")
    np.testing.assert_array_equal(tokenizer.encode("c\U0010fffda"), [1, 2, 0])
    for text, position in (("ab", 1), ("a\U0010ffff", 1), ("\U0001f600", 0)):
        with pytest.raises(UserError, match=rf"at position {position}\)"):
            tokenizer.encode(text)


def test_byte_lengths_are_worked_out_once_and_cannot_be_changed_by_a_caller(monkeypatch):
    tokenizer = Tokenizer.from_text("aé€\n")
    asked = []
    original = Tokenizer.token_bytes
    monkeypatch.setattr(Tokenizer, "token_bytes", lambda self, token: asked.append(token) or original(self, token))
    first = tokenizer.byte_lengths()
    np.testing.assert_array_equal(first, [1, 1, 2, 3])  # "\n", "a", "é", "€"
    assert tokenizer.byte_lengths() is first and len(asked) == tokenizer.vocab_size  # once, not per call
    with pytest.raises(ValueError):
        first[0] = 7  # shared by every caller: bits per byte would silently change
    grown = tokenizer.extend("ü")
    assert list(grown.byte_lengths()) == [1, 1, 2, 3, 2]  # a new tokenizer has its own
