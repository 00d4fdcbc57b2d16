"""The `bytes` tokenizer: one id per UTF-8 byte, nothing to learn (the example of docs/plugins.md)."""

import numpy as np

import littlebaby
from littlebaby import UserError
from littlebaby.text import Tokenizer


class ByteTokenizer(Tokenizer):
    encodes_any_text = True  # every text is bytes: no unknown symbols, no growth at finetune

    @classmethod
    def train(cls, chunks, options=None):
        for _ in chunks:  # nothing to learn, but the chunks are streamed: consume them
            pass
        return cls()

    def encode(self, text):
        return np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(np.int64)

    def token_bytes(self, token):
        return bytes([token])

    @property
    def vocab_size(self):
        return 256

    def extend(self, text):
        return self

    def to_dict(self):
        return {"vocab_size": 256}

    @classmethod
    def from_dict(cls, data, source="tokenizer"):
        if data.get("vocab_size") != 256:
            raise UserError(f"{source} is not a bytes tokenizer file", "regenerate it")
        return cls()


@littlebaby.hookimpl
def register_tokenizers(register):
    register("bytes", ByteTokenizer)
