"""The `char` tokenizer: one id per character, in the original notebook's JSON format.

Built in, but registered through the same `register_tokenizers` hook a plugin uses.

A new vocabulary is sorted. Extending it for a finetune APPENDS the characters
it has not seen (sorted among themselves) after the old ones, so every old id
keeps its embedding row; the original re-sorted everything, which moved ids
under trained weights.

On disk: {"vocab": ["\\n", " ", "!", ...], "vocab_size": 65}.
"""

import numpy as np

import littlebaby
from littlebaby.errors import UserError
from littlebaby.system import arguments
from littlebaby.text.tokenizer import Tokenizer


class CharTokenizer(Tokenizer):
    name = "char"

    def __init__(self, vocab):
        self.vocab = list(vocab)
        self.ids = {char: i for i, char in enumerate(self.vocab)}
        if len(self.ids) != len(self.vocab):
            raise UserError(
                "the tokenizer's vocabulary lists a character twice", "fix or regenerate the tokenizer file"
            )
        # encode looks ids up by code point in one table (-1: not in the vocabulary) rather than a
        # dict per character; the table is as long as the largest code point, at most 1.1 M entries
        codes = np.array([ord(c) for c in self.vocab], dtype=np.int64)
        self._ids_by_code = np.full(int(codes.max()) + 1 if len(codes) else 0, -1, dtype=np.int32)
        self._ids_by_code[codes] = np.arange(len(codes))

    @classmethod
    def train(cls, chunks, options=None) -> "CharTokenizer":
        seen = set()
        for chunk in chunks:
            seen.update(chunk)
        return cls(sorted(seen))

    @classmethod
    def from_text(cls, text: str) -> "CharTokenizer":
        return cls.train([text])

    def cut(self, text: str) -> int:
        return len(text)  # one token per character: a cut anywhere changes none

    def extend(self, text: str) -> "CharTokenizer":
        """This vocabulary plus the characters of `text` it lacks, appended in sorted order."""
        new = set(text) - set(self.ids)
        return CharTokenizer(self.vocab + sorted(new)) if new else self

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def encode(self, text: str) -> np.ndarray:
        """text -> ids (len(text),) int64; an unknown character is a UserError naming it."""
        codes = np.frombuffer(text.encode("utf-32-le", errors="surrogatepass"), dtype=np.uint32)
        ids = np.full(len(codes), -1, dtype=np.int64)
        inside = codes < len(self._ids_by_code)
        ids[inside] = self._ids_by_code[codes[inside]]
        if len(ids) and ids.min() < 0:
            position = int(np.argmax(ids < 0))
            raise UserError(
                f"character {text[position]!r} (at position {position}) is not in the model's vocabulary",
                "remove it from the text, or finetune on text that contains it",
            )
        return ids

    def decode(self, ids) -> str:
        return "".join(self.vocab[int(i)] for i in arguments.given_ids(ids, self.vocab_size))

    def token_bytes(self, token: int) -> bytes:
        return self.vocab[token].encode("utf-8", errors="surrogatepass")

    def token_text(self, token: int) -> str:
        return self.vocab[token]

    def start_id(self) -> int:
        return self.ids.get("\n", 0)

    def knows(self, text: str) -> bool:
        return all(char in self.ids for char in text)

    # -- files ----------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"vocab": self.vocab, "vocab_size": self.vocab_size}

    @classmethod
    def from_dict(cls, data, source: str = "tokenizer") -> "CharTokenizer":
        vocab = data.get("vocab") if isinstance(data, dict) else None
        if not isinstance(vocab, list) or not all(isinstance(c, str) and len(c) == 1 for c in vocab):
            raise UserError(f"{source} has no valid 'vocab' list of single characters", "regenerate the tokenizer file")
        size = data.get("vocab_size", len(vocab))
        if size != len(vocab):
            raise UserError(f"{source} says vocab_size {size} but lists {len(vocab)} characters", "fix the file")
        return cls(vocab)


@littlebaby.hookimpl
def register_tokenizers(register):
    register("char", CharTokenizer)
