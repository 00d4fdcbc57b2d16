"""Runs from Python: train, finetune, load, generate, import; the CLI is a thin shell over these.

Each command validates everything it can (config, data, run names, prompt,
home) BEFORE it creates a file, so a mistake leaves nothing behind; then it
writes its files atomically (files.py).

    import littlebaby
    run = littlebaby.train(overrides={"max_steps": 200})
    config, tokenizer, model = littlebaby.load("last")
    print(littlebaby.generate("last", prompt="ROMEO:", max_tokens=200, seed=1))
"""

import datetime
import importlib.resources
import json
from pathlib import Path
from typing import NamedTuple

import attrs
import numpy as np

import littlebaby
from littlebaby import checkpoint, config as configs, files, text
from littlebaby.errors import UserError
from littlebaby.generation import generate as generate_ids
from littlebaby.import_original import convert
from littlebaby.model import build_model
from littlebaby.optim import AdamW
from littlebaby.plugins import default_registry
from littlebaby.tokenizer import Tokenizer
from littlebaby.token_losses import token_losses  # noqa: F401  (re-exported: littlebaby.api.token_losses)
from littlebaby.training import Trainer, environment, stop_on_sigint

SAMPLE_PROMPT = "ROMEO:"  # the end-of-training sample starts here when the vocabulary allows
SAMPLE_TOKENS = 300
SAMPLE_TEMPERATURE = 0.8

# keys that change the parameters' shapes or meaning: fixed once a run exists
ARCHITECTURE_KEYS = ("c_sequence", "c_attention", "c_network", "n_ctx", "n_emb", "head_size", "n_heads", "n_layers", "dtype")


class Loaded(NamedTuple):
    """What `load` returns: unpack as `config, tokenizer, model = littlebaby.load("last")`."""

    config: configs.Config
    tokenizer: Tokenizer
    model: object


@attrs.define
class RunResult:
    """What train, finetune and import-original return."""

    name: str  # the run name: a guid, or <guid>_finetuned...
    home: Path
    status: str  # "finished" or "interrupted"
    report: dict
    written: list  # paths of the files written
    sample: str | None = None


# -- configs and data -----------------------------------------------------------------
def shipped_configs() -> list[str]:
    folder = importlib.resources.files("littlebaby.configs")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".json"))


def config_dict(name_or_path: str) -> tuple[dict, str]:
    """(flat dict, display name) of a shipped config name or a JSON file path."""
    path = Path(name_or_path)
    if path.suffix == ".json" or path.exists() or len(path.parts) > 1:
        return configs.load_file(path), path.stem
    resource = importlib.resources.files("littlebaby.configs").joinpath(f"{name_or_path}.json")
    if not resource.is_file():
        raise UserError(f"no shipped config {name_or_path!r} (shipped: {', '.join(shipped_configs())})", "or pass a JSON file path")
    return json.loads(resource.read_text(encoding="utf-8")), name_or_path


def with_overrides(data: dict, overrides) -> dict:
    """data updated by overrides: a dict, or "key=value" strings as from --set."""
    data = dict(data)
    if isinstance(overrides, dict):
        data.update(overrides)
    else:
        data.update(configs.parse_override(item) for item in overrides or ())
    return data


def read_data(data) -> tuple[str, str]:
    """(text, description): a path, or None for the shipped tiny Shakespeare."""
    if data is None:
        return text.shipped_text(), "tiny Shakespeare (shipped)"
    return text.read_text(data), str(Path(data).resolve())


def new_report(name: str, config, config_name: str, model, data_name: str, text_length: int, base: str | None = None) -> dict:
    return {
        "guid": name,  # the run name: a uuid4, with _finetuned... for a finetune
        "base": base,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "littlebaby_version": littlebaby.__version__,
        "config_name": config_name,
        "config": configs.to_dict(config),
        "blocks": checkpoint.plugin_metadata(model),
        "parameters": int(model.parameters.size),
        "vocab_size": model.vocab_size,
        "data": {"source": data_name, "characters": text_length},
        "environment": environment(),
    }


# -- loading ---------------------------------------------------------------------------
def load(run: str = "last", home=".", registry=None) -> Loaded:
    """(config, tokenizer, model) of a run in the home; run is a run name or "last"."""
    home = files.Home(home)
    return _load(home, home.resolve(run), registry)


def _load(home: files.Home, name: str, registry=None) -> Loaded:
    tokenizer_path = home.tokenizer(name)
    tokenizer = Tokenizer.from_dict(files.read_json(tokenizer_path, "tokenizer"), f"tokenizer file {tokenizer_path}")
    model = checkpoint.load_model(home.model(name), registry, vocab_size=tokenizer.vocab_size)
    return Loaded(model.config, tokenizer, model)


# -- training ---------------------------------------------------------------------------
def train(
    config: str = "baby",
    data=None,
    overrides=(),
    home=".",
    resume: str | None = None,
    quiet: bool = True,
    log=None,
    registry=None,
) -> RunResult:
    """Train a new run (or continue one with resume=name) and return its result.

    config: a shipped name or a JSON path; data: a text file (None: tiny Shakespeare);
    overrides: {"key": value} or ["key=value", ...]; log: a callable for progress lines.
    """
    if resume is not None:
        if data is not None:
            raise UserError("--resume continues on the run's own data", "drop --data, or finetune the run on new data")
        return _resume(files.Home(home), resume, overrides, quiet, log, registry)
    registry = registry or default_registry()
    raw, config_name = config_dict(config)
    cfg = configs.from_dict(with_overrides(raw, overrides), registry)
    corpus, data_name = read_data(data)
    tokenizer = Tokenizer.from_text(corpus)
    train_ids, val_ids = text.split(tokenizer.encode(corpus), cfg.n_ctx, data_name)
    home = files.Home(home)
    home.check_writable()
    # everything is valid: from here on, files are created
    name = files.new_guid()
    model = build_model(cfg, tokenizer.vocab_size, registry)
    report = new_report(name, cfg, config_name, model, data_name, len(corpus))
    written = _write_run_files(home, name, cfg, tokenizer)
    return _train(home, name, cfg, tokenizer, model, AdamW(model.parameters, **_adam(cfg)), train_ids, val_ids, report, 0, written, quiet, log)


def _write_run_files(home, name, cfg, tokenizer=None) -> list:
    """Write the config (and tokenizer) of a run; returns the paths written."""
    written = [home.config(name)]
    files.write_json(written[0], configs.to_dict(cfg))
    if tokenizer is not None:
        written.append(home.tokenizer(name))
        files.write_json(written[1], tokenizer.to_dict())
    return written


def _adam(cfg) -> dict:
    return {"betas": (cfg.beta1, cfg.beta2), "weight_decay": cfg.weight_decay}


def _resume(home, run, overrides, quiet, log, registry) -> RunResult:
    name = home.resolve(run)
    loaded = _load(home, name, registry)
    report = files.read_json(home.report(name), "report")
    cfg = _recipe_config(loaded.config, overrides, registry)
    source = report.get("data", {}).get("source", "")
    corpus, _ = read_data(None if source.endswith("(shipped)") else source)
    train_ids, val_ids = text.split(loaded.tokenizer.encode(corpus), cfg.n_ctx, source)
    if not home.optimizer(name).exists():
        raise UserError(f"run {name} has no optimizer state ({home.optimizer(name)})", "it cannot be resumed; finetune it instead")
    model = loaded.model if cfg == loaded.config else _rebuilt(loaded.model, cfg, registry)
    optimizer = AdamW(model.parameters, **_adam(cfg))
    state = checkpoint.load_optimizer(home.optimizer(name), optimizer)
    home.check_writable()
    report["config"] = configs.to_dict(cfg)
    report.setdefault("resumed", []).append(state["step"])
    written = _write_run_files(home, name, cfg) if cfg != loaded.config else []  # a changed recipe, e.g. max_steps
    return _train(home, name, cfg, loaded.tokenizer, model, optimizer, train_ids, val_ids, report, state, written, quiet, log)


def _recipe_config(config, overrides, registry):
    """config with training overrides applied; architecture keys may not change."""
    cfg = configs.from_dict(with_overrides(configs.to_dict(config), overrides), registry)
    changed = [k for k in ARCHITECTURE_KEYS if getattr(cfg, k) != getattr(config, k)]
    if changed or cfg.options != config.options:
        keys = ", ".join(changed) or "plugin options"
        raise UserError(f"cannot change {keys} of an existing run", "train a new run instead")
    return cfg


def _rebuilt(model, cfg, registry):
    """The same parameters in a model built from cfg (same architecture, other recipe)."""
    twin = build_model(cfg, model.vocab_size, registry)
    twin.parameters.data[...] = model.parameters.data
    return twin


def _train(home, name, cfg, tokenizer, model, optimizer, train_ids, val_ids, report, state, written, quiet, log) -> RunResult:
    say = log or (lambda line: None)
    epochs = text.Epochs(train_ids, cfg.n_ctx, cfg.batch_size, cfg.seed)
    val = text.val_windows(val_ids, cfg.n_ctx, cfg.eval_windows)
    trainer = Trainer(model, optimizer, epochs, val, cfg, report, on_report=lambda r: files.write_json(home.report(name), r))
    if state:
        trainer.load_state(state)
    report_path = home.report(name)
    if report_path not in written:
        written.append(report_path)
    blocks = "/".join(e.name for e in model.entries.values())
    say(
        f"run {name}: {blocks}, {model.parameters.size:,} parameters, {trainer.total_steps} steps "
        f"({epochs.steps_per_epoch} per epoch, batch {epochs.batch_size} x {cfg.n_ctx}) on {len(train_ids):,} characters"
        + (f", resuming at step {trainer.step}" if trainer.step else "")
    )
    with stop_on_sigint(trainer, notice=lambda: say("stopping after this step (Ctrl-C again to quit at once)")):
        status = trainer.run(quiet=quiet)
    checkpoint.save_model(home.model(name), model)
    checkpoint.save_optimizer(home.optimizer(name), optimizer, trainer.state())
    written += [home.model(name), home.optimizer(name)]
    result = RunResult(name, home.path, status, report, written)
    if status == "finished":
        result.sample = _sample(home, name, tokenizer, model, cfg.seed)
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


def grown_model(model, cfg, vocab_size: int, registry=None):
    """The base model under the finetune's config with room for vocab_size tokens.

    Old ids keep their rows, so before any step the old tokens' logits are the base's.
    """
    model = model if cfg == model.config else _rebuilt(model, cfg, registry)
    # new rows come from their own stream: the same whatever the base's training did
    return model.grow_vocab(vocab_size, np.random.default_rng([cfg.seed, 2]))


def finetune(run: str, data, overrides=(), home=".", quiet: bool = True, log=None, registry=None) -> RunResult:
    """Train run further on new text, growing the vocabulary; writes a new run <run>_finetuned."""
    home = files.Home(home)
    base = home.resolve(run)
    loaded = _load(home, base, registry)
    cfg = _recipe_config(loaded.config, overrides, registry)
    corpus, data_name = read_data(data)
    tokenizer = loaded.tokenizer.grow(corpus)
    train_ids, val_ids = text.split(tokenizer.encode(corpus), cfg.n_ctx, data_name)
    home.check_writable()
    name = home.finetune_name(base)
    model = grown_model(loaded.model, cfg, tokenizer.vocab_size, registry)
    report = new_report(name, cfg, "finetune", model, data_name, len(corpus), base=base)
    report["new_characters"] = tokenizer.vocab[loaded.tokenizer.vocab_size :]
    written = _write_run_files(home, name, cfg, tokenizer)
    log and log(f"finetuning {base}: {len(report['new_characters'])} new characters, vocabulary {loaded.tokenizer.vocab_size} -> {tokenizer.vocab_size}")
    return _train(home, name, cfg, tokenizer, model, AdamW(model.parameters, **_adam(cfg)), train_ids, val_ids, report, 0, written, quiet, log)


# -- generation --------------------------------------------------------------------------
def generate(
    run="last",
    prompt: str | None = None,
    max_tokens: int = 500,
    temperature: float = 1.0,
    top_k: int = 0,
    seed: int | None = None,
    cache: bool = True,
    home=".",
    on_text=None,
    write: bool = True,
    registry=None,
) -> str:
    """Sample from a run ("last", a run name, or a `load` result); returns prompt + completion.

    on_text(str) receives the prompt, then each character as it is sampled; with write, the text is
    also saved as outputs/completion_<run>_<yyyymmddhhmmss>.txt.
    """
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 0:
        raise UserError(f"--max-tokens must be a whole number >= 0, got {max_tokens}", "for example --max-tokens 200")
    if temperature < 0:
        raise UserError(f"--temperature must be >= 0, got {temperature}", "0 is greedy, 1 samples the model as is")
    if top_k < 0:
        raise UserError(f"--top-k must be >= 0, got {top_k}", "0 keeps every token")
    home = files.Home(home)
    if isinstance(run, Loaded):
        name, (config, tokenizer, model) = None, run
    else:
        name = home.resolve(run)
        config, tokenizer, model = _load(home, name, registry)
    ids = tokenizer.encode(prompt) if prompt else np.array([tokenizer.start_id()])
    if write and name is not None:
        home.check_writable()
    decode = (lambda token: on_text(tokenizer.vocab[token])) if on_text else None
    if on_text and prompt:
        on_text(prompt)
    out = generate_ids(model, ids, max_tokens, temperature, top_k, np.random.default_rng(seed), cache, on_token=decode)
    completion = (prompt or "") + tokenizer.decode(out)
    if write and name is not None:
        files.write_text(home.completion(name, files.timestamp()), completion)
    return completion


# -- listing ----------------------------------------------------------------------------------
def runs(home=".") -> list[dict]:
    """One row per run in the home, oldest first (from each run's report, where it has one)."""
    home = files.Home(home)
    rows = []
    for name in home.runs():
        try:
            report = files.read_json(home.report(name), "report")
        except UserError:
            report = {}
        config = report.get("config", {})
        rows.append(
            {
                "guid": name,
                "date": (report.get("created") or "")[:16].replace("T", " "),
                "config": report.get("config_name", "?"),
                "blocks": "/".join(config.get(k, "?") for k in ("c_sequence", "c_attention", "c_network")),
                "params": report.get("parameters"),
                "steps": report.get("steps_done"),
                "best_val_loss": report.get("best_val_loss"),
                "seconds": report.get("train_seconds"),
                "status": report.get("status", "?"),
            }
        )
    return rows


def plugins(registry=None) -> list[dict]:
    """Installed blocks by kind, and plugins that failed to import."""
    registry = registry or default_registry()
    rows = [{"kind": e.kind, "name": e.name, "distribution": e.distribution, "version": e.version} for e in registry.entries()]
    rows += [{"kind": "broken", "name": b.entry_point, "distribution": b.distribution, "version": b.version, "error": b.error} for b in registry.broken]
    return rows


def import_original(config, tokenizer, model, home=".", overrides=(), registry=None) -> RunResult:
    """A new run from the JSON files of the original notebook (see import_original.py)."""
    registry = registry or default_registry()
    raw = with_overrides(configs.load_file(config), overrides)
    cfg, tok, net = convert(raw, tokenizer, model, registry)
    home = files.Home(home)
    home.check_writable()
    name = files.new_guid()
    report = new_report(name, cfg, "imported", net, str(Path(model).resolve()), 0)
    report.update(status="imported", steps_done=0)
    written = _write_run_files(home, name, cfg, tok) + [home.model(name), home.report(name)]
    checkpoint.save_model(written[2], net)
    files.write_json(written[3], report)
    return RunResult(name, home.path, "imported", report, written)


# -- looking inside ---------------------------------------------------------------------------
def inspect(run="last", home=".", registry=None) -> str:
    """The parameter table of a run: every tensor, totals per block and kind, the closed-form check."""
    from littlebaby.inspect import render_table

    home = files.Home(home)
    name = home.resolve(run)
    model = _load(home, name, registry).model
    return f"run {name}\n" + render_table(model)


def _save_figure(figure, path: Path) -> Path:
    """A figure as a PNG, written atomically."""
    import io

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    files.write_bytes(path, buffer.getvalue())
    return path


def plot(run="last", home=".", out=None):
    """Loss curves, learning rate, gradient norm and update ratios of a run; returns (figure, PNG path or None).

    out: a PNG path, True for outputs/plot_<run>.png, None to only return the figure (notebooks).
    """
    from littlebaby.plots import training_figure

    home = files.Home(home)
    name = home.resolve(run)
    report = files.read_json(home.report(name), "report")
    report.setdefault("guid", name)
    figure = training_figure(report)
    if out is None:
        return figure, None
    path = home.path / "outputs" / f"plot_{name}.png" if out is True else Path(out)
    return figure, _save_figure(figure, path)


def attention(run="last", prompt="ROMEO:", layer=None, head=None, home=".", out=None, registry=None):
    """Attention maps (and moh/moe gates) of a run on a prompt; returns (figure, PNG path or None).

    out: a PNG path, True for outputs/attention_<run>.png, None to only return the figure.
    """
    from littlebaby.plots import attention_figure

    home = files.Home(home)
    name = home.resolve(run)
    config, tokenizer, model = _load(home, name, registry)
    if not prompt:
        raise UserError("--prompt is empty", "give the text to look at, e.g. --prompt 'ROMEO:'")
    if len(prompt) > config.n_ctx:
        raise UserError(f"the prompt has {len(prompt)} characters, more than n_ctx = {config.n_ctx}",
                        f"use at most {config.n_ctx} characters")
    figure = attention_figure(model, tokenizer.encode(prompt), prompt, layer, head)
    if out is None:
        return figure, None
    path = home.path / "outputs" / f"attention_{name}.png" if out is True else Path(out)
    return figure, _save_figure(figure, path)
