"""A Hugging Face model folder on disk: its config.json, its safetensors weights (one file, or shards listed by
model.safetensors.index.json) and its tokenizer.json; read and written without transformers.

Weights are read header first: the 8-byte header length, the JSON header (every tensor's dtype, shape and byte
range, checked against each other and the file's size) and only then the bytes, one tensor at a time. F32 is
read as it is; F16 and BF16 become float32 (exactly: every value of both is a float32). Other dtypes, and the
pickle files (`pytorch_model.bin`) that can run code when loaded, are refused.
"""

import json
import math
import os
from pathlib import Path

import numpy as np
import safetensors.numpy

from littlebaby.errors import UserError, describe_bytes, shown
from littlebaby.system import atomic, memory, reading

HEADER_LIMIT = 100 << 20  # bytes of one file's JSON header: the largest real ones hold a few thousand names
ITEM_BYTES = {"F32": 4, "F16": 2, "BF16": 2}
SINGLE, INDEX = "model.safetensors", "model.safetensors.index.json"


def whole(hf: dict, key: str, default=None) -> int:
    """config.json's value of key as a whole number >= 1 (default when absent), or a one-line error."""
    value = hf.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UserError(f"config.json gives {key} as {shown(value)}, not a whole number >= 1", "restore config.json")
    return value


def read_config(folder: Path) -> dict:
    config = reading.read_json(folder / "config.json", "Hugging Face config")
    if not isinstance(config, dict):
        raise UserError(f"{folder / 'config.json'} is not a JSON object", "is it a model folder's config.json?")
    return config


def weight_files(folder: Path) -> dict:
    """tensor name -> the file holding it (one file, or the index's map), the files checked to exist."""
    if (folder / INDEX).exists():
        index = reading.read_json(folder / INDEX, "safetensors index")
        mapping = index.get("weight_map") if isinstance(index, dict) else None
        if not isinstance(mapping, dict) or not mapping or not all(isinstance(v, str) for v in mapping.values()):
            raise UserError(f"{folder / INDEX} has no weight_map of names to files", "restore the index file")
        files = {}
        for name, file in mapping.items():
            if Path(file).name != file:  # a name, not a path: the index may not point outside the folder
                raise UserError(f"{folder / INDEX} names the file {file!r}, outside the folder", "restore it")
            files[name] = folder / file
        return files
    if (folder / SINGLE).exists():
        return {name: folder / SINGLE for name in _header(folder / SINGLE)}
    pickles = sorted(p.name for p in folder.glob("*.bin")) + sorted(p.name for p in folder.glob("*.pt"))
    if pickles:
        raise UserError(
            f"{folder} holds its weights only as {pickles[0]}, a pickle file (loading one can run code)",
            "download or save the model's safetensors files (save_pretrained(..., safe_serialization=True))",
        )
    raise UserError(f"{folder} has no {SINGLE} and no {INDEX}", "is it a Hugging Face model folder?")


def _header(path: Path) -> dict:
    """name -> (dtype, shape, start, end) in bytes from the start of the file; every entry checked."""
    size = reading.size_of(path, "weights file")
    with open(path, "rb") as handle:
        header, start = reading.safetensors_header(handle, str(path), HEADER_LIMIT, "restore or re-download it")
    found = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        bad = _bad_entry(entry, size - start)
        if bad:
            raise UserError(f"{path}: tensor {name!r} {bad}", "restore or re-download the file")
        first, last = entry["data_offsets"]
        found[name] = (entry["dtype"], tuple(entry["shape"]), start + first, start + last)
    return found


def _bad_entry(entry, room: int) -> str | None:
    if not isinstance(entry, dict) or not {"dtype", "shape", "data_offsets"} <= set(entry):
        return "has no dtype, shape and data_offsets"
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if dtype not in ITEM_BYTES:
        return f"is {dtype}, which littlebaby cannot hold (it reads F32, F16 and BF16)"
    whole = lambda n: isinstance(n, int) and not isinstance(n, bool) and n >= 0  # noqa: E731
    if not (isinstance(shape, list) and all(map(whole, shape)) and isinstance(offsets, list) and len(offsets) == 2):
        return "has a malformed shape or data_offsets"
    if not (all(map(whole, offsets)) and offsets[0] <= offsets[1] <= room):
        return "lies outside the file"
    if offsets[1] - offsets[0] != math.prod(shape) * ITEM_BYTES[dtype]:
        return f"holds {offsets[1] - offsets[0]} bytes, not the {math.prod(shape) * ITEM_BYTES[dtype]} its shape needs"
    return None


def _as_float32(raw: np.ndarray, dtype: str) -> np.ndarray:
    if dtype == "F32":
        return raw.view("<f4").astype(np.float32)
    if dtype == "F16":
        return raw.view("<f2").astype(np.float32)
    return (raw.view("<u2").astype(np.uint32) << 16).view(np.float32)  # BF16: float32's upper half


def read_weights(folder: Path) -> tuple[dict, set]:
    """(name -> float32 array, the dtypes converted to float32); all headers and the memory checked first."""
    files = weight_files(folder)
    headers = {path: _header(path) for path in sorted(set(files.values()))}
    entries = {}
    for path, header in headers.items():
        for name, entry in header.items():
            if name in entries:
                raise UserError(f"tensor {name!r} is in two of {folder}'s files", "restore the model's files")
            entries[name] = (path, *entry)
    if set(entries) != set(files):
        missing = sorted(set(files) - set(entries)) or sorted(set(entries) - set(files))
        raise UserError(f"{folder}'s index and files disagree about {missing[0]!r}", "restore the model's files")
    total = sum(math.prod(shape) * 4 for _, _, shape, _, _ in entries.values())
    room = memory.available()
    if room is not None and total > room:
        raise UserError(
            f"{folder}'s weights need {describe_bytes(total)} as float32, but this machine has "
            f"{describe_bytes(room)} available",
            "import a smaller model, or free memory",
        )
    tensors = {}
    for name, (path, dtype, shape, start, end) in entries.items():
        raw = np.fromfile(path, dtype=np.uint8, count=end - start, offset=start)
        tensors[name] = _as_float32(raw, dtype).reshape(shape)
    return tensors, {dtype for _, dtype, *_ in entries.values() if dtype != "F32"}


def write(folder: Path, config: dict, tensors: dict, tokenizer_json: str, tokenizer_config: dict) -> list:
    """A model folder as transformers writes it; each file written whole (atomic.py). Returns the paths."""
    os.makedirs(folder, exist_ok=True)
    written = [folder / "config.json", folder / SINGLE, folder / "tokenizer.json", folder / "tokenizer_config.json"]
    atomic.write_json(written[0], config)
    contiguous = {name: np.ascontiguousarray(array, dtype=np.float32) for name, array in tensors.items()}
    atomic.write_bytes(written[1], safetensors.numpy.save(contiguous, metadata={"format": "pt"}))
    atomic.write_bytes(written[2], tokenizer_json.encode())
    atomic.write_bytes(written[3], (json.dumps(tokenizer_config, indent=2) + "\n").encode())
    return written
