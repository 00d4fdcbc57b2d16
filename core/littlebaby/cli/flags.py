"""How the command line names what the layers below call by its Python or config name.

A `UserError` lists the settings it names (errors.py); here each is spelled as this command's flag:
`max_tokens` -> `--max-tokens`, `lr` -> `--set lr`, `write=False` -> `--no-save`.
"""

import re

FLAGS = {  # a parameter of the Python API -> its flag
    "max_tokens": "--max-tokens",
    "top_k": "--top-k",
    "temperature": "--temperature",
    "seed": "--seed",
    "home": "--home",
    "data": "--data",
    "prompt": "--prompt",
    "layer": "--layer",
    "head": "--head",
    "resume": "--resume",
    "out": "--out",
    "config": "--config",
    "text": "--text",
    "file": "--file",
    "tokenizer": "--tokenizer",
    "model": "--model",
    "num_samples": "--num-samples",
    "name": "--name",
}
SWITCHES = {"write=False": "--no-save"}  # a parameter's value that is a flag of its own
POSITIONAL = {"run": "RUN", "runs": "RUN"}  # given without a flag
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def spell(key: str, value_follows: bool) -> str:
    """A setting as this command takes it; any name not in the tables is a config key (`--set`)."""
    if key in SWITCHES:
        return SWITCHES[key]
    if key in FLAGS:
        return FLAGS[key] + (" " if value_follows else "")
    if key in POSITIONAL:
        return "" if value_follows else POSITIONAL[key]
    return f"--set {key}=" if value_follows else f"--set {key}"


LONG = re.compile(r"\S{201,}")  # a path or value of more than 200 characters without a space


def one_line(text: str) -> str:
    """text with its control characters escaped as repr writes them (a newline as \\n): a path or a
    value the user typed with a newline in it must not break the one line an error or warning is;
    and a path or value of kilobytes is cut to its beginning and end."""
    text = CONTROL.sub(lambda match: repr(match[0])[1:-1], text)
    return LONG.sub(lambda match: f"{match[0][:120]}...{match[0][-60:]}", text)


def said(error) -> str:
    """A UserError as the command line says it: one line, in flags."""
    return one_line(error.line(spell))
