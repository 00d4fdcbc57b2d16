"""The shipped configs (NAME.json here), and finding a config: a shipped name or a JSON file, plus overrides.

`littlebaby train --config NAME` reads NAME.json from this folder; any other value is a path.
"""

import importlib.resources
import json
import os
from pathlib import Path

from littlebaby.errors import UserError, shown
from littlebaby.system import arguments, reading


def load_file(path) -> dict:
    """A config JSON file as a dict, or a one-line error."""
    data = reading.read_json(path, "config file", unique_keys=True)  # written by hand: a key twice is a slip
    if not isinstance(data, dict):
        raise UserError(
            f"config file {path} must hold a JSON object", "see the shipped baby config (littlebaby/configs/baby.json)"
        )
    return data


def shipped() -> list[str]:
    folder = importlib.resources.files("littlebaby.configs")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".json"))


def find(name_or_path: str) -> tuple[dict, str]:
    """(flat dict, display name) of a shipped config name or a JSON file path."""
    if not str(name_or_path).strip():  # Path("") is "." (the current folder): say what was given
        raise UserError(
            "the config name is empty", f"give a shipped config ({', '.join(shipped())}) or a JSON file path"
        )
    arguments.given_path(name_or_path, "config", "tiny")
    path = Path(name_or_path)
    resource = importlib.resources.files("littlebaby.configs").joinpath(f"{name_or_path}.json")
    # a bare name is a file here if one exists; a folder of that name (a home called `baby`, say)
    # does not hide the shipped config
    bare = path.suffix != ".json" and len(path.parts) == 1
    try:
        here = os.path.lexists(path) and not (
            path.is_dir() and resource.is_file()
        )  # lexists: a broken link is named as one
    except OSError:  # a name the system cannot look up (too long): reading it says why, in one line
        here = True
    if not bare or here:
        return load_file(path), path.stem
    if not resource.is_file():
        raise UserError(
            f"no shipped config {name_or_path!r} (shipped: {', '.join(shipped())})", "or pass a JSON file path"
        )
    return json.loads(resource.read_text(encoding="utf-8")), name_or_path


def with_overrides(data: dict, overrides) -> dict:
    """data updated by overrides: a dict, or "key=value" strings (the CLI's --set)."""
    data = dict(data)
    if isinstance(overrides, dict):
        data.update(overrides)
    elif isinstance(overrides, (list, tuple)) and all(isinstance(item, str) for item in overrides):
        pairs = [parse_override(item) for item in overrides]
        keys = [key for key, _ in pairs]
        twice = next((key for key in keys if keys.count(key) > 1), None)
        if twice is not None:  # as a config file giving a key twice is: one of them would be dropped without a word
            raise UserError(f"{{{twice}}} is given twice", "give each key once", twice)
        data.update(pairs)
    elif overrides is not None:  # a lone "lr=1" would be read a character at a time
        raise UserError(
            f"{{overrides}} must be a dict or a list of 'key=value' strings, got {shown(overrides)}",
            "for example {overrides=}{'max_steps': 200}",
            "overrides",
        )
    if not all(isinstance(key, str) for key in data):
        raise UserError(
            f"config keys are strings, got {shown(next(k for k in data if not isinstance(k, str)))}",
            "for example {overrides=}{'max_steps': 200}",
            "overrides",
        )
    return data


def parse_override(text: str):
    """`key=value` from the command line; the value is read as JSON when it can be."""
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise UserError(
            f"an override must look like {{key=}}value, got {text!r}", "for example {n_layers=}2", ("key", "n_layers")
        )
    try:
        value = json.loads(raw)  # NaN and 1e999 parse here, so the key's check can name them
    except (ValueError, RecursionError):
        value = raw
    return key.strip(), value
