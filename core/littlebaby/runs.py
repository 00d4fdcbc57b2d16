"""Training runs: train a new run, resume one, finetune one, import the original notebook's.

Each command validates everything it can (config, data, run names, home)
BEFORE it creates a file, so a mistake leaves nothing behind; then it writes
its files atomically (files.py). A `Run` gathers what one training session
works on, and `_train_session` is the one place a session is trained, saved
and sampled.

    run = littlebaby.train(overrides={"max_steps": 200})
    again = littlebaby.train(resume="last", overrides={"max_steps": 400})
"""

from pathlib import Path

import attrs
import numpy as np

from littlebaby import checkpoint, config as configs, files, report as reports, text
from littlebaby.errors import UserError
from littlebaby.generation import generate as generate_ids
from littlebaby.import_original import convert
from littlebaby.loading import load_named
from littlebaby.model import build_model
from littlebaby.optim import AdamW
from littlebaby.plugins import default_registry
from littlebaby.tokenizer import Tokenizer
from littlebaby.training import Trainer, TrainState, stop_on_sigint

SAMPLE_PROMPT = "ROMEO:"  # the end-of-training sample starts here when the vocabulary allows
SAMPLE_TOKENS = 300
SAMPLE_TEMPERATURE = 0.8
SHIPPED_DATA = reports.Data("tiny Shakespeare (shipped)", "shakespeare", 0)


@attrs.define
class RunResult:
    """What train, finetune and import-original return."""

    name: str  # the run name: a guid, or <guid>_finetuned...
    home: Path
    status: str  # "finished", "interrupted" or "imported"
    report: dict
    written: list  # paths of the files written
    sample: str | None = None


@attrs.define
class Run:
    """One training session of a run: its files, model, data and where it starts."""

    home: files.Home
    name: str
    config: configs.Config
    tokenizer: Tokenizer
    model: object
    train_ids: np.ndarray
    val_ids: np.ndarray
    report: dict
    written: list  # files this session wrote so far
    optimizer: AdamW | None = None  # None: a fresh AdamW
    state: TrainState | None = None  # None: from step 0

    def __attrs_post_init__(self):
        if self.optimizer is None:
            cfg = self.config
            self.optimizer = AdamW(self.model.parameters, betas=(cfg.beta1, cfg.beta2), weight_decay=cfg.weight_decay)


# -- data and config ------------------------------------------------------------------
def read_data(data) -> tuple[str, reports.Data]:
    """(text, what it is): a path, or None for the shipped tiny Shakespeare."""
    if data is None:
        corpus = text.shipped_text(SHIPPED_DATA.shipped)
        return corpus, attrs.evolve(SHIPPED_DATA, characters=len(corpus))
    corpus = text.read_text(data)
    return corpus, reports.Data(str(Path(data).resolve()), None, len(corpus))


def reread_data(data: reports.Data) -> str:
    """The text a run was trained on, as its report records it."""
    return text.shipped_text(data.shipped) if data.shipped else text.read_text(data.source)


def recipe_config(config, overrides, registry):
    """config with training overrides applied; architecture keys may not change."""
    cfg = configs.from_dict(configs.with_overrides(configs.to_dict(config), overrides), registry)
    changed = [k for k in configs.architecture_keys() if getattr(cfg, k) != getattr(config, k)]
    if changed or cfg.options != config.options:
        keys = ", ".join(changed) or "plugin options"
        raise UserError(f"cannot change {keys} of an existing run", "train a new run instead")
    return cfg


def rebuilt(model, cfg, registry):
    """The same parameters in a model built from cfg (same architecture, other recipe)."""
    twin = build_model(cfg, model.vocab_size, registry)
    twin.parameters.data[...] = model.parameters.data
    return twin


def grown_model(model, cfg, vocab_size: int, registry=None):
    """The base model under the finetune's config with room for vocab_size tokens.

    Old ids keep their rows, so before any step the old tokens' logits are the base's.
    """
    model = model if cfg == model.config else rebuilt(model, cfg, registry)
    # new rows come from their own stream: the same whatever the base's training did
    return model.grow_vocab(vocab_size, np.random.default_rng([cfg.seed, 2]))


def write_run_files(home, name, cfg, tokenizer=None) -> list:
    """Write the config (and tokenizer) of a run; returns the paths written."""
    written = [home.config(name)]
    files.write_json(written[0], configs.to_dict(cfg))
    if tokenizer is not None:
        written.append(home.tokenizer(name))
        files.write_json(written[1], tokenizer.to_dict())
    return written


# -- the commands -----------------------------------------------------------------------
def train(config: str = "baby", data=None, overrides=(), home=".", resume: str | None = None, quiet: bool = True,
          log=None, registry=None) -> RunResult:
    """Train a new run (or continue one with resume=name) and return its result.

    config: a shipped name or a JSON path; data: a text file (None: tiny Shakespeare);
    overrides: {"key": value} or ["key=value", ...]; log: a callable for progress lines.
    """
    if resume is not None:
        if data is not None:
            raise UserError("resume=RUN continues on the run's own data", "drop data=..., or finetune the run on new data")
        return resume_run(files.Home(home), resume, overrides, quiet, log, registry)
    registry = registry or default_registry()
    raw, config_name = configs.config_dict(config)
    cfg = configs.from_dict(configs.with_overrides(raw, overrides), registry)
    corpus, data_info = read_data(data)
    tokenizer = Tokenizer.from_text(corpus)
    train_ids, val_ids = text.split(tokenizer.encode(corpus), cfg.n_ctx, data_info.source)
    home = files.Home(home)
    home.check_writable()
    # everything is valid: from here on, files are created
    name = files.new_guid()
    model = build_model(cfg, tokenizer.vocab_size, registry)
    report = reports.new(name, cfg, config_name, model, data_info)
    written = write_run_files(home, name, cfg, tokenizer)
    return _train_session(Run(home, name, cfg, tokenizer, model, train_ids, val_ids, report, written), quiet, log)


def resume_run(home, run, overrides, quiet, log, registry) -> RunResult:
    """Continue run `run` where it stopped, on the data its report records."""
    name = home.resolve(run)
    loaded = load_named(home, name, registry)
    report = reports.read(home.report(name))
    cfg = recipe_config(loaded.config, overrides, registry)
    data_info = reports.data_of(report, home.report(name))
    train_ids, val_ids = text.split(loaded.tokenizer.encode(reread_data(data_info)), cfg.n_ctx, data_info.source)
    if not home.optimizer(name).exists():
        raise UserError(f"run {name} has no optimizer state ({home.optimizer(name)})", "it cannot be resumed; finetune it instead")
    model = loaded.model if cfg == loaded.config else rebuilt(loaded.model, cfg, registry)
    session = Run(home, name, cfg, loaded.tokenizer, model, train_ids, val_ids, report, [])
    saved = checkpoint.load_optimizer(home.optimizer(name), session.optimizer)
    session.state = TrainState.from_dict(saved, f"optimizer file {home.optimizer(name)}")
    home.check_writable()
    reports.resumed(report, cfg, session.state.step)
    if cfg != loaded.config:  # a changed recipe, e.g. max_steps
        session.written = write_run_files(home, name, cfg)
    return _train_session(session, quiet, log)


def finetune(run: str, data, overrides=(), home=".", quiet: bool = True, log=None, registry=None) -> RunResult:
    """Train run further on new text, growing the vocabulary; writes a new run <run>_finetuned."""
    home = files.Home(home)
    base = home.resolve(run)
    loaded = load_named(home, base, registry)
    cfg = recipe_config(loaded.config, overrides, registry)
    corpus, data_info = read_data(data)
    tokenizer = loaded.tokenizer.grow(corpus)
    train_ids, val_ids = text.split(tokenizer.encode(corpus), cfg.n_ctx, data_info.source)
    home.check_writable()
    name = home.finetune_name(base)
    model = grown_model(loaded.model, cfg, tokenizer.vocab_size, registry)
    report = reports.new(name, cfg, "finetune", model, data_info, base=base)
    report["new_characters"] = tokenizer.vocab[loaded.tokenizer.vocab_size :]
    written = write_run_files(home, name, cfg, tokenizer)
    log and log(f"finetuning {base}: {len(report['new_characters'])} new characters, vocabulary {loaded.tokenizer.vocab_size} -> {tokenizer.vocab_size}")
    return _train_session(Run(home, name, cfg, tokenizer, model, train_ids, val_ids, report, written), quiet, log)


def import_original(config, tokenizer, model, home=".", overrides=(), registry=None) -> RunResult:
    """A new run from the JSON files of the original notebook (see import_original.py)."""
    registry = registry or default_registry()
    raw = configs.with_overrides(configs.load_file(config), overrides)
    cfg, tok, net = convert(raw, tokenizer, model, registry)
    home = files.Home(home)
    home.check_writable()
    name = files.new_guid()
    report = reports.new(name, cfg, "imported", net, reports.Data(str(Path(model).resolve()), None, 0))
    reports.imported(report)
    written = write_run_files(home, name, cfg, tok) + [home.model(name), home.report(name)]
    checkpoint.save_model(written[2], net)
    reports.write(written[3], report)
    return RunResult(name, home.path, "imported", report, written)


# -- one session ------------------------------------------------------------------------
def _train_session(run: Run, quiet: bool, log) -> RunResult:
    say = log or (lambda line: None)
    cfg, home, name = run.config, run.home, run.name
    epochs = text.Epochs(run.train_ids, cfg.n_ctx, cfg.batch_size, cfg.seed)
    val = text.val_windows(run.val_ids, cfg.n_ctx, cfg.eval_windows)
    report_path = home.report(name)
    trainer = Trainer(run.model, run.optimizer, epochs, val, cfg, run.report, on_report=lambda r: reports.write(report_path, r))
    if run.state is not None:
        trainer.load_state(run.state)
    written = run.written
    if report_path not in written:
        written.append(report_path)
    blocks = "/".join(e.name for e in run.model.entries.values())
    say(
        f"run {name}: {blocks}, {run.model.parameters.size:,} parameters, {trainer.total_steps} steps "
        f"({epochs.steps_per_epoch} per epoch, batch {epochs.batch_size} x {cfg.n_ctx}) on {len(run.train_ids):,} characters"
        + (f", resuming at step {trainer.step}" if trainer.step else "")
    )
    with stop_on_sigint(trainer, notice=lambda: say("stopping after this step (Ctrl-C again to quit at once)")):
        status = trainer.run(quiet=quiet)
    checkpoint.save_model(home.model(name), run.model)
    checkpoint.save_optimizer(home.optimizer(name), run.optimizer, attrs.asdict(trainer.state()))
    written += [home.model(name), home.optimizer(name)]
    result = RunResult(name, home.path, status, run.report, written)
    if status == "finished":
        result.sample = _sample(home, name, run.tokenizer, run.model, cfg.seed)
        written.append(home.completion(name))
    return result


def _sample(home, name, tokenizer, model, seed) -> str:
    """The end-of-training sample, also written as completion_<run>.txt."""
    prompt = SAMPLE_PROMPT if all(c in tokenizer.ids for c in SAMPLE_PROMPT) else ""
    ids = tokenizer.encode(prompt) if prompt else [tokenizer.start_id()]
    out = generate_ids(model, ids, SAMPLE_TOKENS, SAMPLE_TEMPERATURE, rng=np.random.default_rng(seed))
    sample = prompt + tokenizer.decode(out)
    files.write_text(home.completion(name), sample)
    return sample
