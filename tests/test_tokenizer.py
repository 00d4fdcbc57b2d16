"""Character tokenizer: sorted vocabulary, growing by appending, the original's JSON format."""

import pytest

from littlebaby.errors import UserError
from littlebaby.tokenizer_char import CharTokenizer as Tokenizer


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


@pytest.mark.parametrize("data", [{}, {"vocab": "abc"}, {"vocab": ["ab"]}, {"vocab": ["a", "b"], "vocab_size": 3}, {"vocab": ["a", "a"]}])
def test_bad_tokenizer_files(data):
    with pytest.raises(UserError):
        Tokenizer.from_dict(data)
