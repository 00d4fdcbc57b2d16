"""Model and optimizer files: safetensors with readable names and metadata, no pickle.

A model file holds one tensor per parameter, named as `model.parameters.named()`
(`blocks.0.attention.qkv.weight`), and string metadata: the littlebaby version,
the config JSON, the blocks with their plugin distributions and versions, and
the vocabulary size. Loading reads the header first, builds the model from that
config (whose size is checked against memory) and checks the header against it
(missing, extra, misshapen or wrongly typed tensors are a UserError) before any
tensor data is read; it never executes code from the file.

The optimizer file (for resume) holds AdamW's moments and step count, and
in its metadata the training position and the dropout generator's state.
"""

import contextlib
import json

import numpy as np
import safetensors
import safetensors.numpy

import littlebaby
from littlebaby.config import to_dict
from littlebaby.errors import UserError
from littlebaby.plugins import resolve
from littlebaby.system import reading
from littlebaby.system.atomic import write_bytes

FORMAT = "littlebaby-model-1"


def plugin_metadata(model) -> dict:
    """kind -> {name, distribution, version} of the blocks the model is built from."""
    return {
        kind: {"name": e.name, "distribution": e.distribution, "version": e.version}
        for kind, e in model.config.selected.items()
        if kind != "tokenizer"
    }


def save_model(path, model) -> str:
    """Write the model file; returns the sha256 of the bytes written (a checkpoint's manifest lists it,
    hashed from memory rather than read back)."""
    metadata = {
        "format": FORMAT,
        "littlebaby_version": littlebaby.__version__,
        "config": json.dumps(to_dict(model.config)),
        "plugins": json.dumps(plugin_metadata(model)),
        "vocab_size": str(model.vocab_size),
    }
    tensors = {name: np.ascontiguousarray(value) for name, value in model.parameters.named().items()}
    return _write(path, safetensors.numpy.save(tensors, metadata=metadata))


def _write(path, data: bytes) -> str:
    write_bytes(path, data)
    return reading.sha256(data)


# numpy dtype -> its name in a safetensors header
DTYPE_NAMES = {np.dtype(np.float32): "F32", np.dtype(np.float64): "F64", np.dtype(np.int64): "I64"}


@contextlib.contextmanager
def _opened(path, what: str):
    """(safetensors handle, header, where the tensors start) of a file opened for reading its tensors later
    one at a time, or a one-line UserError; the header is read once, by us, its size checked first. It must be
    a regular file (a dangling link, a FIFO, /dev/zero are refused before opening); safetensors maps it, so
    opening reads no tensor data."""
    reading.size_of(path, f"{what} file")
    try:
        with open(path, "rb") as f:  # the header's size checked before safetensors reads it
            header, start = reading.safetensors_header(
                f, f"{what} file {path}", reading.JSON_LIMIT, "retrain, or restore the file"
            )
        with safetensors.safe_open(str(path), framework="np") as handle:
            yield handle, header, start
    except PermissionError as error:
        raise UserError(f"cannot read {what} file {path} ({error.strerror})", "check its permissions") from None
    except (safetensors.SafetensorError, OSError) as error:
        reason = " ".join(str(error).split())  # safetensors quotes the header, whose strings may hold newlines
        raise UserError(
            f"{what} file {path} is corrupt or truncated ({reason})", "retrain, or restore the file"
        ) from None


def _tensors(header: dict) -> dict:
    """name -> (dtype name, shape) of every tensor a header describes (safetensors has checked its form)."""
    return {name: (entry["dtype"], tuple(entry["shape"])) for name, entry in header.items() if name != "__metadata__"}


def check_tensors(found: dict, expected: dict, source: str):
    """Refuse (one line) tensors whose names, dtypes or shapes are not those expected; both are
    name -> (dtype name, shape). Nothing is ever converted: a BF16 or bool tensor is a wrong file."""
    missing = [name for name in expected if name not in found]
    extra = [name for name in found if name not in expected]
    if missing or extra:
        details = "; ".join(
            part
            for part in (
                f"missing {', '.join(missing[:3])}" if missing else "",
                f"unexpected {', '.join(extra[:3])}" if extra else "",
            )
            if part
        )
        raise UserError(
            f"{source} does not fit the model its config describes ({details})", "retrain, or restore the file"
        )
    for name, (dtype, shape) in expected.items():
        if found[name][1] != shape:
            raise UserError(
                f"{source}: tensor {name} has shape {found[name][1]}, the config needs {shape}",
                "retrain, or restore the file",
            )
        if found[name][0] != dtype:
            raise UserError(
                f"{source}: tensor {name} is {found[name][0]}, the config needs {dtype}", "retrain, or restore the file"
            )


def _described(arrays: dict) -> dict:
    return {
        name: (DTYPE_NAMES.get(value.dtype, str(value.dtype)), tuple(value.shape)) for name, value in arrays.items()
    }


def _metadata_json(metadata: dict, key: str, path, what: str):
    if key not in metadata:
        raise UserError(f"{what} file {path} has no {key!r} in its metadata", "retrain, or restore the file")
    return reading.loads(metadata[key], f"the {key} in {what} file {path}")


def load_model(path, vocab_size: int | None = None):
    """The model saved at path (its config from the file's metadata).

    The header's tensor names, dtypes and shapes are checked against the config, and the
    config's size against memory, BEFORE any tensor data is read; then the tensors are read
    one at a time into the model. vocab_size, when given (the tokenizer's), must match.
    """
    with _opened(path, "model") as (handle, header, start):
        metadata = handle.metadata() or {}
        if metadata.get("format") != FORMAT or "config" not in metadata:
            raise UserError(
                f"model file {path} has no littlebaby metadata",
                "is it a littlebaby model? import original models with import-original",
            )
        config = resolve.config(_metadata_json(metadata, "config", path, "model"))
        saved_vocab = _metadata_json(metadata, "vocab_size", path, "model")
        if isinstance(saved_vocab, bool) or not isinstance(saved_vocab, int) or saved_vocab < 1:
            raise UserError(
                f"model file {path} gives vocab_size {saved_vocab!r}, not a positive integer",
                "retrain, or restore the file",
            )
        if vocab_size is not None and vocab_size != saved_vocab:
            raise UserError(
                f"the tokenizer has {vocab_size} characters but model file {path} was saved for {saved_vocab}",
                "use the tokenizer file of the same run",
            )
        found = _tensors(header)
        model = resolve.build_model(config, saved_vocab, initialize=False)  # refuses a config too large for memory
        named = model.parameters.named()
        check_tensors(found, _described(named), f"model file {path}")
    _read_into(path, named, header, start)
    return model


def _read_into(path, named: dict, header: dict, start: int):
    """Each tensor's bytes read straight into the model's own array, one after another: no second copy of a
    tensor and no memory map whose pages would count beside the parameters (a GPT-2-sized file is 0.5 GB).
    The header was checked (names, dtypes, shapes) by safetensors and check_tensors before this reads."""
    with open(path, "rb") as f:
        for name, target in named.items():
            first, end = header[name]["data_offsets"]
            window = target.reshape(-1).view(np.uint8)
            f.seek(start + first)
            if end - first != window.size or f.readinto(window) != window.size:
                raise UserError(f"model file {path} is truncated in tensor {name}", "retrain, or restore the file")


def copy_tensors(model, tensors: dict, source: str):
    """Fill model's parameters from name -> array, after checking names, dtypes and shapes."""
    named = model.parameters.named()
    check_tensors(_described(tensors), _described(named), source)
    for name, target in named.items():
        target[...] = tensors[name]


# -- optimizer state, for --resume ----------------------------------------------
def save_optimizer(path, optimizer, state: dict) -> str:
    """The optimizer's state arrays, plus `state` (JSON-able: step, epoch, rng states) in the metadata; returns
    the sha256 of the bytes written, as save_model."""
    return _write(
        path, safetensors.numpy.save(optimizer.state(), metadata={"format": FORMAT, "state": json.dumps(state)})
    )


def load_optimizer(path, optimizer) -> dict:
    """Restore the optimizer from path (its header checked first); returns the saved training state
    as parsed (training.TrainState.from_dict checks it)."""
    with _opened(path, "optimizer") as (handle, header, _):
        metadata = handle.metadata() or {}
        check_tensors(_tensors(header), _described(optimizer.state()), f"optimizer file {path}")
        state = _metadata_json(metadata, "state", path, "optimizer")
        arrays = {name: handle.get_tensor(name) for name in optimizer.state()}
    if "t" in arrays and int(arrays["t"][0]) < 0:
        raise UserError(f"optimizer file {path} counts {int(arrays['t'][0])} optimizer steps", "restore the file")
    optimizer.load_state(arrays)
    return state
