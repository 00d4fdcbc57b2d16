"""Model and optimizer files: safetensors with readable names and metadata, no pickle.

A model file holds one tensor per parameter, named as `model.parameters.named()`
(`blocks.0.attention.qkv.weight`), and string metadata: the littlebaby version,
the config JSON, the blocks with their plugin distributions and versions, and
the vocabulary size. Loading builds the model from that config and checks the
file against it (missing, extra or misshapen tensors are a UserError); it never
executes code from the file.

The optimizer file (for resume) holds AdamW's moments and step count, and
in its metadata the training position and the dropout generator's state.
"""

import json

import numpy as np
import safetensors
import safetensors.numpy

import littlebaby
from littlebaby import config as configs
from littlebaby.errors import UserError
from littlebaby.files import write_bytes
from littlebaby.model import build_model

FORMAT = "littlebaby-model-1"


def plugin_metadata(model) -> dict:
    """kind -> {name, distribution, version} of the blocks the model is built from."""
    return {kind: {"name": e.name, "distribution": e.distribution, "version": e.version} for kind, e in model.entries.items()}


def save_model(path, model):
    metadata = {
        "format": FORMAT,
        "littlebaby_version": littlebaby.__version__,
        "config": json.dumps(configs.to_dict(model.config)),
        "plugins": json.dumps(plugin_metadata(model)),
        "vocab_size": str(model.vocab_size),
    }
    tensors = {name: np.ascontiguousarray(value) for name, value in model.parameters.named().items()}
    write_bytes(path, safetensors.numpy.save(tensors, metadata=metadata))


def _read(path, what: str) -> tuple[dict, dict]:
    """(tensors, metadata) of a safetensors file, or a UserError for a missing or corrupt one."""
    try:
        with safetensors.safe_open(str(path), framework="np") as f:
            metadata = f.metadata() or {}
            tensors = {name: f.get_tensor(name) for name in f.keys()}
    except FileNotFoundError:
        raise UserError(f"{what} file {path} not found", "check the run name and home=DIR") from None
    except (safetensors.SafetensorError, OSError, ValueError) as error:
        raise UserError(f"{what} file {path} is corrupt or truncated ({error})", "retrain, or restore the file") from None
    return tensors, metadata


def load_model(path, registry=None, vocab_size: int | None = None):
    """The model saved at path (its config from the file's metadata).

    vocab_size, when given (the tokenizer's), must match the model's.
    """
    tensors, metadata = _read(path, "model")
    if metadata.get("format") != FORMAT or "config" not in metadata:
        raise UserError(f"model file {path} has no littlebaby metadata", "is it a littlebaby model? import original models with import-original")
    try:
        config = configs.from_dict(json.loads(metadata["config"]), registry)
        saved_vocab = int(metadata["vocab_size"])
    except (ValueError, KeyError) as error:
        raise UserError(f"model file {path} has unreadable metadata ({error})", "retrain, or restore the file") from None
    if vocab_size is not None and vocab_size != saved_vocab:
        raise UserError(
            f"the tokenizer has {vocab_size} characters but model file {path} was saved for {saved_vocab}",
            "use the tokenizer file of the same run",
        )
    model = build_model(config, saved_vocab, registry)
    copy_tensors(model, tensors, f"model file {path}")
    return model


def copy_tensors(model, tensors: dict, source: str):
    """Fill model's parameters from name -> array, checking names and shapes."""
    named = model.parameters.named()
    missing = [name for name in named if name not in tensors]
    extra = [name for name in tensors if name not in named]
    if missing or extra:
        details = "; ".join(
            part
            for part in (f"missing {', '.join(missing[:3])}" if missing else "", f"unexpected {', '.join(extra[:3])}" if extra else "")
            if part
        )
        raise UserError(f"{source} does not fit the model its config describes ({details})", "retrain, or restore the file")
    for name, target in named.items():
        if tensors[name].shape != target.shape:
            raise UserError(
                f"{source}: tensor {name} has shape {tensors[name].shape}, the config needs {target.shape}",
                "retrain, or restore the file",
            )
        target[...] = tensors[name]


# -- optimizer state, for --resume ----------------------------------------------
def save_optimizer(path, optimizer, state: dict):
    """AdamW's arrays, plus `state` (JSON-able: step, epoch, rng states) in the metadata."""
    write_bytes(path, safetensors.numpy.save(optimizer.state(), metadata={"format": FORMAT, "state": json.dumps(state)}))


def load_optimizer(path, optimizer) -> dict:
    """Restore AdamW from path; returns the saved training state dict."""
    tensors, metadata = _read(path, "optimizer")
    expected = optimizer.state()
    if set(tensors) != set(expected) or any(tensors[k].shape != v.shape for k, v in expected.items()):
        raise UserError(f"optimizer file {path} does not fit the model", "resume needs the files of the same run")
    optimizer.load_state(tensors)
    try:
        return json.loads(metadata["state"])
    except (KeyError, ValueError):
        raise UserError(f"optimizer file {path} has no training state", "restore the file") from None
