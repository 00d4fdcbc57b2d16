"""What a Python caller hands the API: a path or a text, checked before anything uses it.

A number or None would be a TypeError from deep inside pathlib, and '' would quietly be the
current folder: each is a one-line UserError naming the parameter instead.
"""

import os
from pathlib import Path

import numpy as np

from littlebaby.errors import UserError, shown


def given_path(value, name: str, example: str) -> Path:
    """A path parameter (`home`, `data`, `out`, ...) as a Path, or a one-line UserError naming it."""
    key, example = "{" + name + "}", f"for example {{{name}=}}{example!r}"
    if isinstance(value, bytes) or not isinstance(value, (str, os.PathLike)):
        raise UserError(f"{key} must be a path (a str or a pathlib.Path), got {shown(value)}", example, name)
    if not os.fspath(value):
        raise UserError(f"{key} is an empty path", example, name)
    if "\x00" in os.fspath(value):  # every system call refuses it, with a ValueError
        raise UserError(f"{key} {shown(os.fspath(value))} holds a NUL character, which no path can", example, name)
    path = Path(value)
    if os.fspath(path) != os.fspath(
        value
    ):  # pathlib drops a trailing '/' or '/.', which the system reads as "a directory"
        try:
            os.stat(value)
        except NotADirectoryError:
            raise UserError(
                f"{{{name}=}}{os.fspath(value)} ends as a directory's path does, but {path} is not a directory",
                f"give {path} to mean the file, or a directory",
                name,
            ) from None
        except OSError:  # missing, a loop, too long: whoever reads or writes the path says so
            pass
    return path


def given_text(value, name: str) -> str:
    """A text parameter (`prompt`, `text`), or a one-line UserError naming it: also a str that is not Unicode
    text (a byte that is not UTF-8 on the command line arrives as a lone surrogate, which no tokenizer encodes)."""
    if not isinstance(value, str):
        raise UserError(f"{{{name}}} must be a str, got {shown(value)}", f"for example {{{name}=}}'ROMEO:'", name)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise UserError(
            f"the {{{name}}} holds a byte that is not UTF-8 text (at character {error.start})",
            "give UTF-8 text (iconv -t UTF-8 converts it)",
            name,
        ) from None
    return value


def given_ids(ids, vocab_size: int, shapes=None):
    """Token ids as an array of whole numbers in range(vocab_size) (of one of `shapes`' ranks, and at least one,
    when given), or a one-line UserError: -1 would wrap to the last row, 1.5 or 10**6 fail deep in the model."""
    ids = np.asarray(ids)
    if shapes is not None and (ids.ndim not in shapes or ids.shape[-1] == 0):
        raise UserError(
            f"token ids (T,) or (B, T) are needed, at least one; got shape {ids.shape}",
            "for example model.logits(tokenizer.encode('ROMEO:'))",
        )
    if ids.size and ids.dtype.kind not in "iu":
        raise UserError(f"token ids must be whole numbers, got {ids.dtype.name} ones", "for example [1, 2, 3]")
    if ids.size and not 0 <= ids.min() <= ids.max() < vocab_size:
        bad = int(ids.min()) if ids.min() < 0 else int(ids.max())
        raise UserError(
            f"token id {bad} is outside the vocabulary (0 to {vocab_size - 1})", "give ids its tokenizer made"
        )
    return ids


def given_log(log, quiet=True):
    """The progress callable a run writes lines to (or None), and `quiet`, checked before the run exists."""
    if log is not None and not callable(log):
        raise UserError(
            f"{{log}} must be a function of one text (print, say), got {shown(log)}", "for example {log=}print", "log"
        )
    if not isinstance(quiet, bool):
        raise UserError(f"{{quiet}} must be True or False, got {shown(quiet)}", "for example {quiet=}False", "quiet")
