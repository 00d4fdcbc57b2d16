"""Model and optimizer files: safetensors round trips and one-line errors for bad files."""

import json
import tracemalloc

import numpy as np
import pytest
import safetensors
import safetensors.numpy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import littlebaby
from littlebaby.errors import UserError
from littlebaby.optim.adamw import AdamW
from littlebaby.plugins import resolve
from littlebaby.plugins.resolve import build_model
from littlebaby.store import weights as checkpoint
from littlebaby.testing import randomize


@pytest.fixture
def saved(tmp_path):
    config = resolve.config(
        dict(c_attention="moh", c_network="moe", n_ctx=8, n_emb=8, head_size=8, n_heads=2, n_layers=2, n_experts=3)
    )
    model = build_model(config, vocab_size=7)
    randomize(model.parameters)
    path = tmp_path / "model.safetensors"
    checkpoint.save_model(path, model)
    return model, path


def test_save_then_load_gives_identical_logits(saved):
    model, path = saved
    loaded = checkpoint.load_model(path, vocab_size=7)
    ids = np.arange(14).reshape(2, 7) % 7
    np.testing.assert_array_equal(loaded.logits(ids), model.logits(ids))
    assert loaded.config == model.config


def test_file_has_readable_names_and_metadata(saved):
    model, path = saved
    with safetensors.safe_open(str(path), framework="np") as f:
        metadata, names = f.metadata(), set(f.keys())
    assert names == set(model.parameters.named())
    assert "blocks.1.attention.qkv.weight" in names
    assert metadata["littlebaby_version"] == littlebaby.__version__
    assert json.loads(metadata["config"])["n_experts"] == 3
    assert json.loads(metadata["plugins"])["network"]["distribution"] == "littlebaby-network-moe"
    assert metadata["vocab_size"] == "7"


@pytest.mark.parametrize("damage", ["truncate", "garbage", "missing"])
def test_corrupt_files(saved, damage):
    _, path = saved
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:-100])
    elif damage == "garbage":
        path.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all")
    else:
        path.unlink()
    with pytest.raises(UserError, match="corrupt or truncated|not found"):
        checkpoint.load_model(path)


def rewrite(path, change):
    with safetensors.safe_open(str(path), framework="np") as f:
        metadata = f.metadata()
        tensors = {name: f.get_tensor(name) for name in f.keys()}
    change(tensors)
    path.write_bytes(safetensors.numpy.save(tensors, metadata=metadata))


def test_missing_extra_and_misshapen_tensors(saved):
    _, path = saved
    rewrite(path, lambda t: t.pop("head.bias"))
    with pytest.raises(UserError, match="missing head.bias"):
        checkpoint.load_model(path)
    rewrite(path, lambda t: t.update({"head.bias": np.zeros(7, np.float32), "surprise": np.zeros(1)}))
    with pytest.raises(UserError, match="unexpected surprise"):
        checkpoint.load_model(path)
    rewrite(path, lambda t: (t.pop("surprise"), t.update({"head.bias": np.zeros(6, np.float32)})))
    with pytest.raises(UserError, match=r"head.bias has shape \(6,\)"):
        checkpoint.load_model(path)


def test_tokenizer_and_model_must_agree_on_vocabulary(saved):
    with pytest.raises(UserError, match="tokenizer has 9 characters"):
        checkpoint.load_model(saved[1], vocab_size=9)


def test_optimizer_state_round_trips(saved, tmp_path):
    model, _ = saved
    optimizer = AdamW(model.parameters)
    model.grad[...] = 0.5
    optimizer.step(model.grad, 1e-3)
    path = tmp_path / "optimizer.safetensors"
    checkpoint.save_optimizer(path, optimizer, {"step": 1})
    fresh = AdamW(model.parameters)
    assert checkpoint.load_optimizer(path, fresh) == {"step": 1}
    np.testing.assert_array_equal(fresh.m, optimizer.m)
    assert fresh.t == 1


# -- bounded, header-first loading -------------------------------------------------------
def read_raw(path) -> tuple[dict, bytes]:
    """(header JSON, tensor bytes) of a safetensors file, parsed by hand."""
    raw = path.read_bytes()
    length = int.from_bytes(raw[:8], "little")
    return json.loads(raw[8 : 8 + length]), raw[8 + length :]


def write_raw(path, header: dict, data: bytes, data_size: int | None = None):
    """A safetensors file from a header and tensor bytes; data_size: extend the data to that many bytes (sparse)."""
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little") + text + data)
        if data_size is not None:
            f.truncate(8 + len(text) + data_size)


def write_tensors(path, metadata: dict, tensors: dict):
    """A safetensors file from name -> (dtype name, shape, bytes), whatever the dtype (BF16 included)."""
    header, data = {"__metadata__": metadata}, b""
    for name, (dtype, shape, blob) in tensors.items():
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [len(data), len(data) + len(blob)]}
        data += blob
    write_raw(path, header, data)


def test_a_declared_2_gib_tensor_is_refused_before_any_data_is_read(saved):
    _, path = saved
    header, data = read_raw(path)
    end = len(data)
    header["extra"] = {"dtype": "F32", "shape": [2**29], "data_offsets": [end, end + 2**31]}
    write_raw(path, header, data, data_size=end + 2**31)  # sparse: kilobytes on disk
    tracemalloc.start()
    try:
        with pytest.raises(UserError, match="unexpected extra"):
            checkpoint.load_model(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20  # reading the tensors first allocated the 2 GiB


@pytest.mark.parametrize("length", [64 << 20, 2**63])
def test_a_header_longer_than_any_we_write_is_refused_before_reading_it(saved, length):
    _, path = saved
    raw = path.read_bytes()
    path.write_bytes(length.to_bytes(8, "little") + raw[8:])
    with pytest.raises(UserError, match="declares a header of .* more than any real one holds"):
        checkpoint.load_model(path)


def test_a_bf16_tensor_is_refused(saved):
    _, path = saved
    header, data = read_raw(path)
    metadata = header.pop("__metadata__")
    tensors = {name: (e["dtype"], e["shape"], data[slice(*e["data_offsets"])]) for name, e in header.items()}
    tensors["head.bias"] = ("BF16", [7], bytes(14))  # numpy has no bfloat16: written by hand
    write_tensors(path, metadata, tensors)
    with pytest.raises(UserError, match="tensor head.bias is BF16, the config needs F32"):
        checkpoint.load_model(path)


@pytest.mark.parametrize("dtype", [np.float16, np.bool_, np.int64, np.float64])
def test_same_shape_other_dtype_is_named(saved, dtype):
    _, path = saved
    rewrite(path, lambda t: t.update({"head.bias": t["head.bias"].astype(dtype)}))
    name = {np.float16: "F16", np.bool_: "BOOL", np.int64: "I64", np.float64: "F64"}[dtype]
    with pytest.raises(UserError, match=f"tensor head.bias is {name}, the config needs F32"):
        checkpoint.load_model(path)


def test_a_config_too_large_for_memory_in_a_model_file_is_refused_at_once(saved):
    _, path = saved
    header, data = read_raw(path)
    config = json.loads(header["__metadata__"]["config"])
    header["__metadata__"]["config"] = json.dumps(config | {"n_layers": 10**7})
    write_raw(path, header, data)
    with pytest.raises(UserError, match="of memory"):  # used to build ten million layers, then hang
        checkpoint.load_model(path)


def test_a_dangling_link_and_a_directory_are_one_line(saved, tmp_path):
    link = tmp_path / "link.safetensors"
    link.symlink_to(tmp_path / "gone.safetensors")
    with pytest.raises(UserError, match="symbolic link to a missing file"):
        checkpoint.load_model(link)
    with pytest.raises(UserError, match="is a directory"):
        checkpoint.load_model(tmp_path)


def _header_changes():
    text = st.text(max_size=6)
    number = st.integers(min_value=-(2**70), max_value=2**70)
    anything = st.none() | st.booleans() | number | text | st.lists(number, max_size=4)
    tensor_field = st.tuples(st.just("tensor"), st.sampled_from(["dtype", "shape", "data_offsets", "junk"]), anything)
    meta_field = st.tuples(st.just("meta"), st.sampled_from(["format", "config", "vocab_size", "plugins"]), anything)
    config_key = st.tuples(
        st.just("config"), st.sampled_from(["n_layers", "n_emb", "c_attention", "dtype", "lr", "n_experts"]), anything
    )
    return st.lists(tensor_field | meta_field | config_key, min_size=1, max_size=3)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(changes=_header_changes(), which=st.integers(min_value=0))
def test_corrupt_headers_never_raise_anything_but_user_error(saved, changes, which):
    model, path = saved
    header, data = read_raw(path)
    names = sorted(k for k in header if k != "__metadata__")
    for place, key, value in changes:
        if place == "tensor":
            header[names[which % len(names)]][key] = value
        elif place == "meta":
            header["__metadata__"][key] = value if isinstance(value, str) else json.dumps(value)
        else:  # one key of the stored config (while it is still a JSON object)
            config = header["__metadata__"]["config"]
            if config.startswith("{"):
                header["__metadata__"]["config"] = json.dumps(json.loads(config) | {key: value})
    broken = path.with_name("broken.safetensors")
    write_raw(broken, header, data)
    try:
        loaded = checkpoint.load_model(broken)
    except UserError as error:
        assert "\n" not in str(error)
    else:  # a change that left a valid file (e.g. another lr): the same weights
        np.testing.assert_array_equal(loaded.parameters.data, model.parameters.data)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(start=st.integers(min_value=0, max_value=400), junk=st.binary(min_size=1, max_size=16))
def test_corrupt_bytes_never_raise_anything_but_user_error(saved, start, junk):
    _, path = saved
    raw = bytearray(path.read_bytes())
    raw[start : start + len(junk)] = junk
    broken = path.with_name("broken.safetensors")
    broken.write_bytes(bytes(raw))
    try:
        checkpoint.load_model(broken)
    except UserError as error:
        assert "\n" not in str(error)


def test_a_header_string_holding_a_newline_is_still_one_line(saved):
    _, path = saved
    header, data = read_raw(path)
    header[sorted(k for k in header if k != "__metadata__")[0]]["dtype"] = "F32\nlittlebaby: error: forged"
    write_raw(path.with_name("broken.safetensors"), header, data)
    with pytest.raises(UserError, match="corrupt or truncated") as error:
        checkpoint.load_model(path.with_name("broken.safetensors"))
    assert "\n" not in str(error.value)


def test_loading_reads_each_tensor_into_the_model_without_a_second_copy(tmp_path):
    # a GPT-2-sized file is 0.5 GB: a copy of each tensor (wte: 150 MB) on its way in, or a memory map
    # counted beside the parameters, would double what generation holds
    import tracemalloc

    from littlebaby.plugins.resolve import build_model

    model = build_model(dict(n_emb=64, head_size=64, n_heads=4, n_layers=1, n_ctx=16), vocab_size=5000)
    checkpoint.save_model(tmp_path / "model.safetensors", model)
    tracemalloc.start()
    loaded = checkpoint.load_model(tmp_path / "model.safetensors")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    np.testing.assert_array_equal(loaded.parameters.data, model.parameters.data)
    weights_bytes, embedding_bytes = model.parameters.data.nbytes, model.parameters.named()["wte.weight"].nbytes
    assert peak < 2 * weights_bytes + embedding_bytes // 2  # the parameters and the gradient buffer, no more
