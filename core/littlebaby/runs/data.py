"""What a run trains on: a text file, the shipped tiny Shakespeare, or a prepared directory.

A new run trains its tokenizer on a text (or takes a prepared directory's); a run that has a tokenizer
(resume, finetune) reads the text with it: a char vocabulary grows by the text's new characters, bpe's is
fixed, and a prepared directory must have been tokenized with the run's own.
"""

import os
import stat
from pathlib import Path

import attrs

from littlebaby.config import to_dict
from littlebaby.errors import UserError
from littlebaby.plugins import resolve
from littlebaby.store.records import Data
from littlebaby.system import arguments, reading
from littlebaby.text import corpus as corpora
from littlebaby.text import tokenizer as tokenizers
from littlebaby.text.source import read_text, shipped_text

SHIPPED_DATA = Data("tiny Shakespeare (shipped)", "shakespeare", 0)


def read_data(data) -> tuple[str, Data]:
    """(text, what it is): a path, or None for the shipped tiny Shakespeare."""
    if data is None:
        corpus = shipped_text(SHIPPED_DATA.shipped)
        return corpus, attrs.evolve(SHIPPED_DATA, characters=len(corpus), sha256=reading.sha256(corpus.encode("utf-8")))
    corpus = read_text(data)
    try:
        regular = stat.S_ISREG(os.stat(data).st_mode)
    except OSError:  # a pipe that is gone once read
        regular = False
    return corpus, Data(str(Path(data).resolve()), None, len(corpus), reading.sha256(corpus.encode("utf-8")), regular)


def reread_data(data: Data, name: str) -> str:
    """The text run `name` was trained on, as its report records it, unchanged."""
    if not data.rereadable:
        raise UserError(
            f"run {name} was trained on {data.source}, a pipe or stream that cannot be read again",
            "it cannot be resumed; finetune it on a saved copy of the text instead",
        )
    corpus = shipped_text(data.shipped) if data.shipped else read_text(data.source)
    if data.sha256 is not None and reading.sha256(corpus.encode("utf-8")) != data.sha256:
        raise UserError(
            f"the text run {name} was trained on changed since ({data.source}: its sha256 differs)",
            "restore that text to resume the run, or finetune it on the new text",
        )
    return corpus


def data_record(info: Data | None, corpus: corpora.Corpus) -> Data:
    """What the report keeps of the data: its source (a prepared directory: the corpus's) and its ids."""
    return attrs.evolve(info or Data(corpus.source, None, 0), **corpus.counts())


def is_prepared(data) -> bool:
    return data is not None and arguments.given_path(data, "data", "my_text.txt").is_dir()


def open_prepared(directory, n_ctx: int):
    """(tokenizer, Corpus, meta) of a directory made by `prepare`."""
    meta = corpora.read_meta(directory)
    tokenizer = resolve.tokenizer(meta.get("tokenizer"), f"{directory}/{corpora.META} tokenizer")
    return tokenizer, corpora.open_prepared(directory, meta, tokenizer, n_ctx), meta


def with_tokenizer(config, tokenizer, meta: dict, asked=None, directory="DIR"):
    """config whose tokenizer keys are those the directory was prepared with; `asked` (the user's
    overrides) may not name other values: they would be dropped without a word."""
    keys = {"c_tokenizer": tokenizer.name, **meta.get("tokenizer_options", {})}
    clash = next((key for key in keys if key in (asked or {}) and asked[key] != keys[key]), None)
    if clash is not None:
        held = ", ".join(f"{key} {value}" for key, value in keys.items())
        raise UserError(
            f"prepared data {directory} was tokenized with {tokenizer.name} ({held}), not {{{clash}=}}{asked[clash]}",
            f"drop the {{{clash}}} override, or prepare the text again with it",
            clash,
        )
    return resolve.config({**to_dict(config), **keys})


def load_new(data, config, quiet=True, asked=None):
    """(config, tokenizer, Corpus, info) of a new run: a prepared directory brings its tokenizer
    (info None; `asked`, the user's overrides, may not want another); a text trains the config's."""
    if is_prepared(data):
        tokenizer, corpus, meta = open_prepared(data, config.n_ctx)
        return with_tokenizer(config, tokenizer, meta, asked, data), tokenizer, corpus, None
    content, info = read_data(data)
    tokenizer = tokenizers.train(config, [content], len(content), quiet)
    return config, tokenizer, corpora.from_text(content, tokenizer, config.n_ctx, info.source), info


def load_existing(data, tokenizer, n_ctx: int, read=read_data, split: str = "bytes"):
    """(tokenizer, Corpus, info) for a run that has a tokenizer (resume, finetune): a text, read(data) ->
    (text, info), extends it (char: new characters appended; bpe: unchanged); a prepared directory must have used
    the same. split: how a text is cut into train and val (corpus.from_text), "tokens" for runs made before."""
    if is_prepared(data):
        theirs, corpus, _ = open_prepared(data, n_ctx)
        if tokenizers.to_file(theirs) != tokenizers.to_file(tokenizer):
            raise UserError(
                f"prepared data {data} was tokenized with another vocabulary than this run's",
                "finetune on the text files themselves ({data=}FILE)",
                "data",
            )
        return tokenizer, corpus, None
    content, info = read(data)
    tokenizer = tokenizer.extend(content)
    return tokenizer, corpora.from_text(content, tokenizer, n_ctx, info.source, split), info


def resume_data(info: Data, name: str, tokenizer, n_ctx: int):
    """(tokenizer, Corpus) of what run `name` was trained on, as its report records it, or a UserError if it
    changed since: a text by its sha256, a prepared directory by its fingerprint, one turned into the other."""
    kind = "a prepared corpus" if info.prepared else "a text file"
    if not info.shipped and is_prepared(info.source) != info.prepared:
        now = "a folder" if info.prepared is False else "not a prepared folder"
        raise UserError(
            f"run {name} was trained on {kind}, {info.source}, which is now {now}",
            "restore what it was to resume the run, or finetune the run on what is there",
        )
    reread = lambda _: (reread_data(info, name), info)
    extended, corpus, _ = load_existing(info.source, tokenizer, n_ctx, reread, info.split)
    if info.prepared and info.sha256 is not None and corpus.fingerprint != info.sha256:
        raise UserError(
            f"the prepared corpus run {name} was trained on changed since ({info.source}: its files differ)",
            "restore it to resume the run, or finetune the run on it",
        )
    return extended, corpus
