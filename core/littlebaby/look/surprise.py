"""Where a model is surprised: the loss of every token of a text (every character, with the char
tokenizer), and views of it (terminal colours, digits, HTML).

The loss of character j is -log p(text[j] | what came before), in nats: 0 when
the model was sure of it, log(vocab_size) (4.2 for 65 characters) for a blind
guess. The first character is read after the start token (a newline when the
vocabulary has one), as generation from nothing begins there.

A text longer than n_ctx is read in windows of n_ctx characters that overlap
by half a window, and each character is scored in a window where it has at
least n_ctx / 2 characters of context (all of them in the first window).
"""

import html

import numpy as np

from littlebaby.errors import UserError
from littlebaby.nn.ops.loss import token_cross_entropy
from littlebaby.runs.load import load
from littlebaby.system import arguments

WINDOWS_PER_FORWARD = 32  # windows stacked into one batch: bounded memory for a book-length text

# loss thresholds in nats and the background of each level: pale green (sure) to red (surprised)
LEVELS = (0.5, 1.0, 2.0, 3.0, 4.0)
ANSI_BACKGROUNDS = (157, 194, 229, 223, 217, 203)  # xterm 256-colour codes
HTML_BACKGROUNDS = ("#afffaf", "#d7ffd7", "#ffffaf", "#ffd7af", "#ffafaf", "#ff5f5f")


def windows(n: int, n_ctx: int):
    """(start, first scored, end) of each window over n targets: windows of n_ctx overlapping by half."""
    end = min(n, n_ctx)
    yield 0, 0, end
    stride = max(1, n_ctx // 2)
    while end < n:
        new_end = min(n, end + stride)
        yield new_end - n_ctx, end, new_end
        end = new_end


def token_losses(run="last", text: str = "", home=".") -> list[tuple[str, float]]:
    """[(token text, loss in nats), ...] for every token of text under a run (a character, with
    a character tokenizer; the pieces joined give the text back).

    run: "last", a run name, or what `littlebaby.load` returns.
    """
    if isinstance(run, str):
        run = load(run, home)
    config, tokenizer, model = run
    if not text:
        raise UserError("the text to score is empty", "give some text, e.g. --text 'ROMEO: my love'")
    arguments.given_text(text, "text")
    targets = tokenizer.encode(text)  # (N,)
    inputs = np.concatenate([[tokenizer.start_id()], targets[:-1]])  # input j predicts target j
    spans = list(windows(len(targets), config.n_ctx))
    losses = np.empty(len(targets))
    for first in range(0, len(spans), WINDOWS_PER_FORWARD):
        group = spans[first : first + WINDOWS_PER_FORWARD]
        rows = np.stack([inputs[start:end] for start, _, end in group])  # (W, T)
        per_token = token_cross_entropy(model.logits(rows), np.stack([targets[start:end] for start, _, end in group]))
        for row, (start, scored, end) in zip(per_token, group):
            losses[scored:end] = row[scored - start :]
    # a character tokenizer's tokens are the characters; a byte-pair one's are pieces of text
    return [(tokenizer.token_text(int(token)), loss) for token, loss in zip(targets, losses.tolist())]


def level(loss: float) -> int:
    """Index into the colour scale: how many thresholds the loss reaches."""
    return int(np.searchsorted(LEVELS, loss, side="right"))


def unit(tokenizer) -> str:
    """What the pairs of a run's tokenizer are, for people: its characters, or the tokens of another tokenizer."""
    return "characters" if tokenizer.name == "char" else "tokens"


def summary(pairs, unit: str = "characters") -> str:
    """One line: mean loss and the tokens the model found hardest; unit: what they are (`unit(tokenizer)`)."""
    losses = np.array([loss for _, loss in pairs])
    hardest = np.argsort(-losses, kind="stable")[:5]
    worst = ", ".join(f"{pairs[i][0]!r} at {i} ({losses[i]:.2f})" for i in hardest)
    return f"mean loss {losses.mean():.3f} nats over {len(pairs)} {unit}; hardest: {worst}"


def legend_labels() -> list[str]:
    """The range of each colour level, in nats: 0-0.5, 0.5-1, ..., >=4."""
    bounds = ("0",) + tuple(f"{t:g}" for t in LEVELS)
    return [f"{low}-{high}" for low, high in zip(bounds, bounds[1:])] + [f">={bounds[-1]}"]


def ansi_legend() -> str:
    return "nats: " + " ".join(
        f"\x1b[30;48;5;{c}m {label} \x1b[0m" for c, label in zip(ANSI_BACKGROUNDS, legend_labels())
    )


def to_digits(pairs) -> str:
    """The view without colour: each line of the text, and under the first character of each token its
    loss rounded to whole nats (9 for 9 or more). A newline shows as ⏎ at the end of its line, a tab as ⇥."""
    lines, text, digits = [], [], []
    for token, loss in pairs:
        for i, char in enumerate(token):
            text.append({"\n": "⏎", "\t": "⇥"}.get(char, char))
            digits.append(str(min(9, round(loss))) if i == 0 else " ")
            if char == "\n":
                lines += ["".join(text), "".join(digits).rstrip()]
                text, digits = [], []
    if text:
        lines += ["".join(text), "".join(digits).rstrip()]
    return "\n".join(lines)


def to_ansi(pairs) -> str:
    """The text with each token on the background of its loss (black text, xterm 256 colours)."""
    out = []
    for token, loss in pairs:
        colour = f"\x1b[30;48;5;{ANSI_BACKGROUNDS[level(loss)]}m"
        # a newline's loss shows as a coloured space at the end of its line
        out.append(colour + token.replace("\n", f" \x1b[0m\n{colour}") + "\x1b[0m")
    return "".join(out)


def to_html_fragment(pairs) -> str:
    """The colour scale and the text in a <pre>, each character a span coloured by its loss with its
    loss as a tooltip: for a page, or a notebook's HTML output. Everything from the text is escaped."""
    spans = []
    for token, loss in pairs:
        shown = token.replace("\n", "⏎\n")
        tip = html.escape(f"{token!r}: {loss:.3f} nats", quote=True)
        spans.append(
            f'<span style="background:{HTML_BACKGROUNDS[level(loss)]}" title="{tip}">{html.escape(shown)}</span>'
        )
    scale = " ".join(
        f'<span style="background:{c};color:black">&nbsp;{html.escape(label)}&nbsp;</span>'
        for c, label in zip(HTML_BACKGROUNDS, legend_labels())
    )
    return (
        f"<div><p>loss in nats: {scale}</p>\n"
        f'<pre style="font-size:15px;line-height:1.5;color:black">{"".join(spans)}</pre></div>'
    )


def to_html(pairs, title: str = "per-character loss", unit: str = "characters") -> str:
    """A standalone HTML page: title, summary (counting `unit`), and the coloured text of `to_html_fragment`."""
    return (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{html.escape(title)}</title></head>\n<body>\n'
        f"<h1>{html.escape(title)}</h1>\n<p>{html.escape(summary(pairs, unit))}</p>\n"
        f"{to_html_fragment(pairs)}\n</body></html>\n"
    )
