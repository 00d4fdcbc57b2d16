"""Character tokenizer: one id per character, in the original notebook's JSON format.

A new vocabulary is sorted. Growing it for a finetune APPENDS the characters
it has not seen (sorted among themselves) after the old ones, so every old id
keeps its embedding row; the original re-sorted everything, which moved ids
under trained weights.

On disk: {"vocab": ["\\n", " ", "!", ...], "vocab_size": 65}.
"""

import numpy as np

from littlebaby.errors import UserError


class Tokenizer:
    def __init__(self, vocab):
        self.vocab = list(vocab)
        self.ids = {char: i for i, char in enumerate(self.vocab)}
        if len(self.ids) != len(self.vocab):
            raise UserError("the tokenizer's vocabulary lists a character twice", "fix or regenerate the tokenizer file")

    @classmethod
    def from_text(cls, text: str) -> "Tokenizer":
        return cls(sorted(set(text)))

    def grow(self, text: str) -> "Tokenizer":
        """This vocabulary plus the characters of `text` it lacks, appended in sorted order."""
        return Tokenizer(self.vocab + sorted(set(text) - set(self.ids)))

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def encode(self, text: str) -> np.ndarray:
        """text -> ids (len(text),) int64; an unknown character is a UserError naming it."""
        try:
            return np.fromiter((self.ids[char] for char in text), dtype=np.int64, count=len(text))
        except KeyError as error:
            char = error.args[0]
            raise UserError(
                f"character {char!r} (at position {text.index(char)}) is not in the model's vocabulary",
                "remove it from the prompt, or finetune on text that contains it",
            ) from None

    def decode(self, ids) -> str:
        return "".join(self.vocab[int(i)] for i in ids)

    def start_id(self) -> int:
        """Where generation from nothing begins: a newline if the vocabulary has one, else id 0."""
        return self.ids.get("\n", 0)

    # -- files ----------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"vocab": self.vocab, "vocab_size": self.vocab_size}

    @classmethod
    def from_dict(cls, data, source: str = "tokenizer") -> "Tokenizer":
        vocab = data.get("vocab") if isinstance(data, dict) else None
        if not isinstance(vocab, list) or not all(isinstance(c, str) and len(c) == 1 for c in vocab):
            raise UserError(f"{source} has no valid 'vocab' list of single characters", "regenerate the tokenizer file")
        size = data.get("vocab_size", len(vocab))
        if size != len(vocab):
            raise UserError(f"{source} says vocab_size {size} but lists {len(vocab)} characters", "fix the file")
        return cls(vocab)
