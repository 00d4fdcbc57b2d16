"""The bytes each token of a BPE vocabulary stands for, in the two layouts Hugging Face files use.

Byte level (GPT-2, SmolLM, the `bpe` tokenizers littlebaby trains): every byte is shown as a printable
character (`bytes_to_unicode`), so a token's characters map back to its bytes one for one. SentencePiece's
layout (Llama 2, TinyLlama, Mistral: a BPE with `byte_fallback`): pieces are text with `▁` for a space, and a
byte no piece covers is a token `<0xNN>` of its own. Special tokens (`<|endoftext|>`, `<s>`) are their text.
"""

import re

BYTES = 256  # the base vocabulary: every byte is a token before any merge
SPACE = "▁"  # SentencePiece's mark for a space
BYTE_PIECE = re.compile(r"<0x([0-9A-Fa-f]{2})>")


def bytes_to_unicode() -> dict:
    """byte -> the character GPT-2's byte level shows it as: printable bytes stand for
    themselves, the others are moved to 256 + n so no token holds a space or control."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    moved = [b for b in range(BYTES) if b not in printable]
    return {**{b: chr(b) for b in printable}, **{b: chr(BYTES + n) for n, b in enumerate(moved)}}


CHAR_TO_BYTE = {char: byte for byte, char in bytes_to_unicode().items()}


def piece_bytes(piece: str) -> bytes:
    """A SentencePiece-layout token's bytes."""
    byte = BYTE_PIECE.fullmatch(piece)
    return bytes([int(byte.group(1), 16)]) if byte else piece.replace(SPACE, " ").encode("utf-8")


def token_bytes(library, byte_fallback: bool) -> list[bytes]:
    """Every token's bytes, by id: SentencePiece's layout when the model falls back to bytes, else byte level
    (a token that is not byte-level text there is a special token: its text's bytes)."""
    pieces = [library.id_to_token(i) for i in range(library.get_vocab_size())]
    if byte_fallback:
        return [piece_bytes(piece) for piece in pieces]
    return [
        bytes(CHAR_TO_BYTE[c] for c in piece) if all(c in CHAR_TO_BYTE for c in piece) else piece.encode("utf-8")
        for piece in pieces
    ]
