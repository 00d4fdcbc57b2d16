"""`import-hf DIR`: a Hugging Face model folder as a new run that every command takes.

Everything is read and checked before the run's first file: config.json (its family, sizes and settings),
tokenizer.json (byte-level BPE, as the `bpe` plugin holds it: the same ids), every weight's name, dtype and
shape against the model the config builds. Then the run's files are written as any run's, its report saying
"imported" and where from; a failure while writing leaves nothing (setup.creating).
"""

from pathlib import Path

import numpy as np

from littlebaby.errors import UserError
from littlebaby.hf import families, folder
from littlebaby.nn.gpt import GPT
from littlebaby.plugins import resolve
from littlebaby.runs.setup import creating, made_label, new_run, write_run_files
from littlebaby.store.home import Home
from littlebaby.store.records import Data
from littlebaby.store.report import Report
from littlebaby.store.weights import copy_tensors, save_model
from littlebaby.system import arguments, reading
from littlebaby.training.session import RunResult

IMPORTED_RECIPE = {"lr": 1e-4, "min_lr": 1e-5, "warmup_steps": 20, "dropout": 0.0}  # a finetune's, not a scratch run's


def tokenizer_of(path: Path):
    """The folder's tokenizer.json as littlebaby's `bpe` tokenizer, which takes the file as it is (same ids)."""
    return resolve.tokenizer_class("bpe", str(path)).from_dict(reading.read_json(path, "tokenizer.json"), str(path))


def _tensor(source, tensors: dict, theirs, ours: str) -> np.ndarray:
    """Our tensor `ours` from the family's: one (maybe transposed), or column blocks of several (out, in)."""
    parts = theirs if isinstance(theirs, list) else [theirs]
    for name, _ in parts:
        if name not in tensors:
            raise UserError(f"{source} has no tensor {name!r} (for {ours})", "is the folder whole?")
    if not isinstance(theirs, list):
        return tensors[theirs[0]].T if theirs[1] else tensors[theirs[0]]
    for name, width in parts:
        if tensors[name].ndim != 2 or tensors[name].shape[0] != width:
            raise UserError(f"{source}: tensor {name!r} is {tensors[name].shape}, not {width} rows", "is it whole?")
    return np.concatenate([tensors[name].T for name, _ in parts], axis=1)


def convert(source: Path):
    """(config, tokenizer, model, dtypes converted) from a Hugging Face folder; validates all first."""
    hf = folder.read_config(source)
    kin = families.family(hf.get("model_type"))
    tokenizer = tokenizer_of(source / "tokenizer.json")
    if folder.whole(hf, "vocab_size") != tokenizer.vocab_size:
        raise UserError(
            f"config.json has vocab_size {hf['vocab_size']} but tokenizer.json {tokenizer.vocab_size} tokens",
            "give the tokenizer that belongs to the model",
        )
    end = hf.get("eos_token_id")
    end = end[0] if isinstance(end, list) and end else end  # some files list several
    if isinstance(end, int) and not isinstance(end, bool) and 0 <= end < tokenizer.vocab_size:
        tokenizer.end = tokenizer.library.id_to_token(end)  # generation stops there
    config = resolve.config({**kin.config_of(hf, tokenizer.vocab_size), **IMPORTED_RECIPE})
    tensors, converted = folder.read_weights(source)
    model = GPT(config, tokenizer.vocab_size, initialize=False)  # every tensor comes from the folder
    names = families.tensor_names(model, kin, kin.prefix(tensors))
    ours = {name: _tensor(source, tensors, theirs, name) for name, theirs in names.items()}
    used = {t for theirs in names.values() for t, _ in (theirs if isinstance(theirs, list) else [theirs])}
    unused = [name for name in sorted(set(tensors) - used) if not name.endswith(kin.IGNORED)]
    if unused:
        raise UserError(
            f"{source} has a tensor littlebaby has no place for: {unused[0]!r}", f"is it a {kin.NAME} folder?"
        )
    if "head.bias" in model.parameters.specs:  # GPT-2's own head has no bias
        ours["head.bias"] = np.zeros(model.vocab_size, dtype=np.float32)
    for name, array in ours.items():
        if not np.isfinite(array).all():
            raise UserError(f"{source}: the tensor for {name} holds values that are not finite", "re-download it")
    copy_tensors(model, ours, f"the weights of {source}")
    return config, tokenizer, model, converted


def import_hf(source, home=".", log=None) -> RunResult:
    """A new run from a Hugging Face model folder (GPT-2 or Llama)."""
    source = arguments.given_path(source, "folder", "gpt2/")
    if not source.is_dir():
        raise UserError(f"{source} is not a folder", "give the folder holding config.json and the weights")
    config, tokenizer, model, converted = convert(source)
    if converted and log is not None:
        log(f"{', '.join(sorted(converted))} weights converted to float32")
    home = Home(home)
    home.check_writable()
    name = new_run(home)
    with creating(home, name):
        label = made_label(f"{config.c_sequence}/{config.c_attention}/{config.c_network} {source.name}", {})
        report = Report.new(name, config, "imported", model, Data(str(source.resolve()), None, 0), label=label)
        report.imported()
        written = write_run_files(home, name, config, tokenizer) + [home.model(name), home.report(name)]
        save_model(written[2], model)
        report.save(written[3])
    return RunResult(name, home.path, "imported", report, written)
