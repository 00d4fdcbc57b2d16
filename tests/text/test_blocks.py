"""source.blocks cut where the tokenizer says; the kit (testing/tokenizers.py) checks the ids of each tokenizer."""

from hypothesis import given, settings
from hypothesis import strategies as st

from littlebaby.testing.tokenizers import PIECES, in_blocks
from littlebaby.text import source
from littlebaby.text.pieces import before_space


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=150).map("".join))
def test_before_space_is_the_last_text_before_ascii_whitespace(text):
    at = before_space(text, window=4)  # a small window: the look back grows
    pairs = [i for i in range(1, len(text)) if not text[i - 1].isspace() and text[i] in " \t\n\r\x0b\x0c"]
    assert at == (pairs[-1] if pairs else 0)


def test_a_text_with_no_place_to_cut_is_carried_then_cut_where_it_stands():
    word = "abcdefgh" * 100  # no whitespace: 800 characters
    assert in_blocks(word, 64, before_space) == [word]  # carried to the end
    pieces = in_blocks(word, 64, before_space, carry=200)
    assert "".join(pieces) == word and len(pieces) > 1 and max(map(len, pieces)) < 200 + 64
    assert in_blocks("ab\ncd\nef", 4, source.after_newline) == ["ab\n", "cd\n", "ef"]
