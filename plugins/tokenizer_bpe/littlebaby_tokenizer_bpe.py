"""The `bpe` tokenizer: byte-level BPE on Hugging Face `tokenizers`.

Text is split into bytes first, so every byte sequence encodes (no unknown
characters) and the vocabulary never grows: a finetune keeps it. The merges
are learned on the run's training text up to the `vocab_size` option.

Byte level, exactly: GPT-2's pre-tokenizer shows each byte as a printable
character (`bytes_to_unicode`, in littlebaby_tokenizer_bpe_pieces); `add_prefix_space=False`
keeps it from inventing a leading space, and with no normalizer decode(encode(text)) == text.
On disk: the tokenizers library's own JSON string, inside the run's tokenizer file. A Hugging
Face tokenizer.json is taken as it is: byte level, or SentencePiece's layout with byte fallback
(Llama 2, TinyLlama), whose normalizer may add a leading space (its first token's bytes show it).
"""

import json
import threading

import attrs
import numpy as np
from littlebaby_tokenizer_bpe_pieces import BYTES, token_bytes
from tokenizers import Regex, decoders, models, pre_tokenizers, trainers
from tokenizers import Tokenizer as Library

import littlebaby
from littlebaby import UserError
from littlebaby.text import Tokenizer
from littlebaby.text.pieces import PieceCache, before_space, shorter

MAX_VOCAB = 1 << 20  # far past any merge table a text here needs; the library fails (or aborts) on sizes past 2**32


def _enough_for_bytes(instance, attribute, value):
    if value < BYTES + 1:
        raise ValueError(f"vocab_size must be at least {BYTES + 1} (the {BYTES} bytes and one merge), got {value}")
    if value > MAX_VOCAB:
        raise ValueError(f"vocab_size must be at most {MAX_VOCAB:,}, got {value:,}")


@attrs.frozen
class Options:
    vocab_size: int = attrs.field(default=512, validator=_enough_for_bytes)  # bytes + learned merges


PIECE = 64  # characters of the longest piece BPE learns merges inside


def _waiting(work):
    """work() on a thread while this one waits in short joins: the trainer runs in Rust, and a signal's
    Python handler (Ctrl-C, SIGTERM) runs only when Python does, so here at once."""
    failed = []

    def run():
        try:
            work()
        except BaseException as error:  # raised again on the waiting thread
            failed.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    while thread.is_alive():
        thread.join(0.1)
    if failed:
        raise failed[0]


class ByteBPE(Tokenizer):
    name = "bpe"
    Options = Options
    encodes_any_text = True

    def __init__(self, library: Library, end: str | None = None):
        self.library, self.end = library, end  # end: the end-of-text token's text, when a model file named it
        self._bytes = token_bytes(library, getattr(library.model, "byte_fallback", False))
        pieces = library.pre_tokenizer  # GPT-2's own (a tokenizer.json may bring another: cut after newlines)
        self._gpt2 = isinstance(pieces, pre_tokenizers.ByteLevel) and pieces.use_regex and library.normalizer is None
        self._pieces = PieceCache(self._encode_many)  # each distinct piece's ids, remembered across batches

    @classmethod
    def train(cls, chunks, options=None) -> "ByteBPE":
        options = options or Options()
        library = Library(models.BPE())
        # while it learns, no piece is longer than PIECE: a text without whitespace (one 1 MB "word") would make
        # every merge rescan the whole word; the file keeps the plain byte level, so encoding is unchanged
        split = pre_tokenizers.Split(Regex(f".{{1,{PIECE}}}"), "isolated")
        library.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.ByteLevel(add_prefix_space=False), split])
        library.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=options.vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
        )
        # GPT-2's pieces as counted whole; read here: Python code on the library's threads aborts an exit on a signal
        texts = list(shorter(chunks))
        _waiting(lambda: library.train_from_iterator(texts, trainer))
        library.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        return cls(library)

    def extend(self, text: str) -> "ByteBPE":
        return self  # every text already encodes; the vocabulary is fixed at finetune

    @property
    def vocab_size(self) -> int:
        return len(self._bytes)

    def encode(self, text: str) -> np.ndarray:
        return np.array(self.library.encode(text).ids, dtype=np.int64)

    def encode_batch(self, texts) -> list[np.ndarray]:
        """Each distinct piece between before_space places once (GPT-2's pieces), on the library's threads."""
        return self._pieces(texts) if self._gpt2 else self._encode_many(list(texts))

    def _encode_many(self, texts: list) -> list[np.ndarray]:  # RAYON_NUM_THREADS threads, else one per core
        return [np.array(e.ids, dtype=np.int64) for e in self.library.encode_batch_fast(texts)]

    def cut(self, text: str) -> int:
        return before_space(text) if self._gpt2 else super().cut(text)

    def token_bytes(self, token: int) -> bytes:
        return self._bytes[token]

    @property
    def end_id(self) -> int | None:
        """The end-of-text token's id: the one an imported model names (Llama 2's `</s>`), else GPT-2's
        `<|endoftext|>` when the vocabulary has it."""
        return self.library.token_to_id(self.end or "<|endoftext|>")

    def to_dict(self) -> dict:
        end = {"end": self.end} if self.end else {}
        return {"vocab_size": self.vocab_size, "library": self.library.to_str(), **end}

    @classmethod
    def from_dict(cls, data, source: str = "tokenizer") -> "ByteBPE":
        """A run's tokenizer file, or a Hugging Face tokenizer.json as it is (a byte-level BPE: GPT-2's kind)."""
        if isinstance(data, dict) and "model" in data and "library" not in data:
            data = {"library": json.dumps(data), "vocab_size": None}
        try:
            library = Library.from_str(data["library"])
            end = data.get("end")
            tokenizer = cls(library, end if isinstance(end, str) and library.token_to_id(end) is not None else None)
        except Exception as error:  # a missing key, or the library's own plain Exception for bad JSON
            raise UserError(f"{source} holds no valid BPE ({error})", "regenerate the tokenizer file") from None
        if data.get("vocab_size") not in (None, tokenizer.vocab_size) or "vocab_size" not in data:
            raise UserError(
                f"{source} says vocab_size {data.get('vocab_size')} but holds {tokenizer.vocab_size} tokens",
                "fix the file",
            )
        return tokenizer


@littlebaby.hookimpl
def register_tokenizers(register):
    register("bpe", ByteBPE)
