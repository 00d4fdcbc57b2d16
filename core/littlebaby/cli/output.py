"""What the command line prints: lines on standard output that fail in one line, a run's log, tables."""

import os
import sys

from littlebaby.errors import UserError


class OutputError(UserError):
    """Standard output cannot be written: a full disk under `> file`, a terminal that is gone."""


def write(text: str):
    """Text on standard output, now; a failure is one line (BrokenPipeError: the reader left, see main)."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as error:
        # what stays buffered would fail again, with a traceback-like message, in Python's final flush
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise OutputError(
            f"cannot write the output ({error.strerror})", "free some space, or send it elsewhere"
        ) from None


def say(line: str = ""):
    write(line + "\n")


class RunLog:
    """`say` for a training run, which outlives its output (a full disk, a closed terminal):
    a line that cannot be written is dropped with one warning, never the run."""

    def __init__(self):
        self.failed = False

    def __call__(self, line: str = ""):
        if self.failed:
            return
        try:
            say(line)
        except OutputError as error:
            self.failed = True
            try:
                print(
                    f"littlebaby: warning: {error.problem}; the run goes on and is saved", file=sys.stderr, flush=True
                )
            except OSError:  # no terminal for stderr either
                pass


def table(rows, columns):
    """Rows of dicts as aligned columns; None prints as '-', floats with four decimals."""
    cells = [
        [
            ("-" if row.get(c) is None else f"{row[c]:.4f}" if isinstance(row[c], float) else str(row[c]))
            for c in columns
        ]
        for row in rows
    ]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]  # no rows: the titles' widths
    for line in [columns, *cells]:
        say("  ".join(value.ljust(width) for value, width in zip(line, widths)).rstrip())
