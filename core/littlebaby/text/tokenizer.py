"""The tokenizer contract, and the run's tokenizer file.

Tokenizers are plugins like blocks: a class registered through the
`register_tokenizers` hook under a name the config selects (`c_tokenizer`).
The core's own `char` registers itself through the same hook
(tokenizer_char.py); `bpe` is a plugin distribution (plugins/tokenizer_bpe).

A tokenizer subclasses `Tokenizer` and provides:

    train(chunks, options)   classmethod: learn a vocabulary from an iterable of text chunks
                             (streamed: a corpus may not fit in memory)
    encode(text)             -> int64 ids (n,)
    encode_batch(texts)      -> [int64 ids] of each: a loop over encode unless overridden (bpe
                             encodes each distinct piece once, remembered across calls); prepare
                             encodes a corpus so, on worker processes when `encodes_any_text`
    cut(text)                where text may be cut so that no token crosses the cut (0: nowhere
                             known); prepare cuts its blocks there. By default after the last
                             newline; char cuts anywhere, bpe before whitespace (pieces.before_space)
    token_bytes(id)          the UTF-8 bytes one token stands for; decoding, streamed output
                             and bits per byte are built on it
    vocab_size               every id is in range(vocab_size)
    to_dict() / from_dict()  the JSON kept in the run's tokenizer file (never pickle)
    extend(text)             what finetune does with text holding symbols the vocabulary lacks:
                             a larger tokenizer whose old ids mean the same, or self when the
                             vocabulary is fixed

and may override decode, token_text (how a token is labelled in attention maps),
start_id, and declare `Options` (an attrs class of its own config keys) and
`encodes_any_text = True` when every UTF-8 text encodes without training on it, and `lossless = False` when
decode(encode(text)) may differ from text (a word tokenizer with `<unk>`): then decode(encode(text)) is a text
the tokenizer keeps as it is, and `token_bytes(<unk>)` is the bytes it shows in its place. Bits per byte count
the text's own bytes (corpus.py), so a lossy tokenizer is charged for what it drops.
"""

import codecs

import numpy as np
from tqdm import tqdm

from littlebaby.config import block_options
from littlebaby.errors import UserError
from littlebaby.system import arguments

PROGRESS_BYTES = 16 << 20  # a tokenizer trained on more than this shows a progress bar
DEFAULT = "char"  # files without a "tokenizer" name are char: today's files and the original notebook's


class Tokenizer:
    name = "?"  # the name a config selects; registration sets it (the tokenizer file records it)
    Options = None
    encodes_any_text = False
    lossless = True

    @classmethod
    def train(cls, chunks, options=None) -> "Tokenizer":
        raise NotImplementedError

    def encode(self, text: str) -> np.ndarray:
        raise NotImplementedError

    def token_bytes(self, token: int) -> bytes:
        raise NotImplementedError

    @property
    def vocab_size(self) -> int:
        raise NotImplementedError

    def to_dict(self) -> dict:
        raise NotImplementedError

    @classmethod
    def from_dict(cls, data, source: str = "tokenizer") -> "Tokenizer":
        raise NotImplementedError

    def extend(self, text: str) -> "Tokenizer":
        raise NotImplementedError

    # -- defaults built on the contract ------------------------------------------------
    def encode_batch(self, texts) -> list[np.ndarray]:
        return [self.encode(text) for text in texts]

    def cut(self, text: str) -> int:
        """An i with encode(text[:i]) + encode(text[i:] + more) == encode(text + more) for any more; 0 when
        none is known. After the last newline: a tokenizer whose tokens may hold a newline overrides it."""
        return text.rfind("\n") + 1

    def decode(self, ids) -> str:
        # a byte-level token may end inside a character: join bytes, then decode once
        return b"".join(self.token_bytes(int(i)) for i in arguments.given_ids(ids, self.vocab_size)).decode(
            "utf-8", errors="replace"
        )

    end_id: int | None = None  # the end-of-text token's id, where the vocabulary has one (generation may stop there)

    def token_text(self, token: int) -> str:
        """A token for display: its text, with bytes that are not whole characters as \\xNN."""
        return self.token_bytes(token).decode("utf-8", errors="backslashreplace")

    def start_id(self) -> int:
        """Where generation from nothing begins: a newline if the vocabulary has one, else id 0."""
        if self.knows("\n"):
            ids = self.encode("\n")
            if len(ids) == 1:
                return int(ids[0])
        return 0

    def knows(self, text: str) -> bool:
        """Whether `text` encodes (a char vocabulary may lack some of its characters)."""
        try:
            self.encode(text)
        except UserError:
            return False
        return True

    def stream_decoder(self):
        """A function id -> the text that id completes, for output streamed token by token
        (a multi-byte character split over two tokens is written once both have come);
        called with None at the end, it returns what is left (U+FFFD for a cut character)."""
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

        def feed(token):
            if token is None:
                return decoder.decode(b"", final=True)
            return decoder.decode(self.token_bytes(int(token)))

        return feed

    def byte_lengths(self) -> np.ndarray:
        """Bytes of text each id stands for, (vocab_size,): bits per byte count with it.

        Worked out once per tokenizer: a tokenizer never changes (extend returns a new one), and
        a vocabulary of 50,000 tokens costs 50,000 calls of token_bytes. Read-only, being shared."""
        lengths = self.__dict__.get("_byte_lengths")
        if lengths is None:
            lengths = np.array([len(self.token_bytes(i)) for i in range(self.vocab_size)], dtype=np.int64)
            lengths.flags.writeable = False
            self._byte_lengths = lengths
        return lengths


# -- the run's tokenizer file ------------------------------------------------------------
def to_file(tokenizer: Tokenizer) -> dict:
    """The JSON of a tokenizer file: its name, then the tokenizer's own keys (plugins/resolve.py reads it back)."""
    return {"tokenizer": tokenizer.name, **tokenizer.to_dict()}


def train(config, chunks, total_bytes: int | None = None, quiet: bool = True) -> Tokenizer:
    """The (resolved) config's tokenizer trained on chunks of text, with a progress bar in bytes on large inputs."""
    cls = config.chosen("tokenizer")
    small = (total_bytes or 0) < PROGRESS_BYTES
    bar = tqdm(total=total_bytes, disable=quiet or small, unit="B", unit_scale=True, desc="tokenizer", leave=False)

    def counted():
        for chunk in chunks:
            if not bar.disable:
                bar.update(len(chunk.encode("utf-8")))
            yield chunk

    with bar:
        return cls.train(counted(), block_options(config, cls))
