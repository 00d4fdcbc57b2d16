"""Text and tokens: the tokenizer contract (tokenizer.py) and the built-in `char` (char.py), training text
as a user gives it (source.py), token ids in memory or memory-mapped (corpus.py), batches of windows (batches.py),
byte-level BPE's pieces (pieces.py).

Tokenizer plugins import `from littlebaby.text import Tokenizer`.
"""

from littlebaby.text.tokenizer import Tokenizer

__all__ = ["Tokenizer"]
