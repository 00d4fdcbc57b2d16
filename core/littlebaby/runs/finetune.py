"""`finetune`: a run trained further on new text, as a new run <run>_finetuned; a char vocabulary grows
by the text's new characters (old ids keep their rows), bpe's is fixed."""

import numpy as np

from littlebaby.configs import with_overrides
from littlebaby.runs.data import data_record, load_existing
from littlebaby.runs.load import load_named
from littlebaby.runs.setup import (
    check_model,
    creating,
    made_label,
    rebuilt,
    recipe_config,
    run_label,
    training_home,
    write_run_files,
)
from littlebaby.store.report import Report
from littlebaby.system import arguments
from littlebaby.training.session import Run, RunResult, train_session


def grown_model(model, cfg, vocab_size: int):
    """The base model under the finetune's config with room for vocab_size tokens.

    Old ids keep their rows, so before any step the old tokens' logits are the base's.
    """
    model = model if cfg == model.config else rebuilt(model, cfg)
    # new rows come from their own stream: the same whatever the base's training did
    return model.grow_vocab(vocab_size, np.random.default_rng([cfg.seed, 2]))


def finetune(
    run: str, data, overrides=(), home=".", quiet: bool = True, log=None, name: str | None = None
) -> RunResult:
    """Train run further on new text; writes a new run <run>_finetuned.

    data: a text file or a directory made by `prepare`, as `--data` is required on the command line
    (None is refused: train's default, the shipped Shakespeare, is not new text); name: the new run's readable
    name (default: the base's, finetuned on the data's file name)."""
    arguments.given_log(log, quiet)
    data = arguments.given_path(data, "data", "new_text.txt")
    home = training_home(home)
    base = home.resolve(run)
    loaded = load_named(home, base)
    cfg = recipe_config(loaded.config, overrides)
    asked = with_overrides({}, overrides)
    base_label = Report.tolerant(home.report(base)).listed()["name"]
    label = run_label(name, made_label(f"{base_label}, finetuned on {data.name}", asked))
    tokenizer, corpus, info = load_existing(data, loaded.tokenizer, cfg.n_ctx)
    home.check_writable()
    model = grown_model(loaded.model, cfg, tokenizer.vocab_size)
    check_model(model, corpus.train)
    new_characters = [tokenizer.token_text(i) for i in range(loaded.tokenizer.vocab_size, tokenizer.vocab_size)]
    tuned = home.finetune_name(base)  # reserved once everything is checked
    with creating(home, tuned):
        data = data_record(info, corpus)
        report = Report.new(
            tuned, cfg, "finetune", model, data, base=base, new_characters=new_characters, label=label, overrides=asked
        )
        written = write_run_files(home, tuned, cfg, tokenizer)
    log and log(
        f"finetuning {base}: {len(new_characters)} new tokens, vocabulary {loaded.tokenizer.vocab_size} -> "
        f"{tokenizer.vocab_size}"
    )
    return train_session(Run(home, tuned, cfg, tokenizer, model, corpus.train, corpus.val, report, written), quiet, log)
