"""Memory estimates: exact parameter counts, activations within a factor of the real peak,
and configs that cannot fit refused before anything is allocated."""

import sys
import tracemalloc

import numpy as np
import pytest

from littlebaby.errors import UserError
from littlebaby.nn import sizes
from littlebaby.plugins import resolve
from littlebaby.plugins.resolve import build_model
from littlebaby.system import memory
from littlebaby.training.step import compute_gradients

COMBINATIONS = [
    dict(c_sequence=s, c_attention=a, c_network=n)
    for s in ("pre", "post")
    for a in ("mha", "moh")
    for n in ("mlp", "moe")
]
SMALL = dict(n_ctx=16, n_emb=16, head_size=16, n_heads=2, n_layers=3)


@pytest.mark.parametrize("blocks", COMBINATIONS, ids=lambda b: "/".join(b.values()))
def test_the_parameters_are_counted_exactly_before_allocating(monkeypatch, blocks):
    counted = []
    real = sizes.model_needs
    monkeypatch.setattr(
        sizes,
        "model_needs",
        lambda config, parameters, *rest: counted.append(parameters) or real(config, parameters, *rest),
    )
    model = build_model({**SMALL, **blocks}, vocab_size=11)
    assert counted == [model.parameters.size]


@pytest.mark.parametrize(
    "sizes",
    [
        dict(n_emb=10**9),
        dict(head_size=2**30, n_heads=1),
        dict(n_layers=10**7),
        dict(n_ctx=10**9),
        dict(c_network="moe", n_experts=10**6),
    ],
    ids=str,
)
def test_a_model_too_large_for_any_machine_is_one_line_naming_the_memory(sizes):
    with pytest.raises(UserError) as error:
        build_model(sizes, vocab_size=65)  # n_layers=10**7 used to build ten million layers first
    text = str(error.value)
    assert "\n" not in text and "of memory" in text and "available" in text and "lower" in text


def test_the_machine_memory_is_in_the_message(monkeypatch):
    monkeypatch.setattr(memory, "available", lambda: 1000)
    with pytest.raises(UserError, match=r"needs about .* but this machine has 1000 bytes available"):
        build_model(SMALL, vocab_size=11)


def test_nothing_is_refused_when_the_system_does_not_say(monkeypatch):
    monkeypatch.setattr(memory, "available", lambda: None)
    memory.require([("everything", 10**30, ("n_emb",))], "this model")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/meminfo")
def test_available_memory_is_read_on_linux():
    room = memory.available()
    assert room is not None and 0 < room


def test_a_containers_limit_caps_the_machines_memory(tmp_path, monkeypatch):
    (tmp_path / "meminfo").write_text("MemTotal:  8000 kB\nMemAvailable:  4000 kB\n")
    cgroup = tmp_path / "cgroup"
    cgroup.mkdir()
    (cgroup / "memory.max").write_text("1000000\n")
    (cgroup / "memory.current").write_text("250000\n")
    assert memory.available(tmp_path / "meminfo", cgroup) == 750_000
    # cached file pages count in memory.current but are given back on demand, even past memory.max
    (cgroup / "memory.current").write_text("1200000\n")
    (cgroup / "memory.stat").write_text("anon 200000\nfile 1000000\ninactive_file 900000\nactive_file 100000\n")
    assert memory.available(tmp_path / "meminfo", cgroup) == 700_000
    (cgroup / "memory.stat").write_text("anon 200000\n")  # no such line: nothing counted as free
    assert memory.available(tmp_path / "meminfo", cgroup) == 0
    (cgroup / "memory.stat").unlink()
    (cgroup / "memory.current").write_text("250000\n")
    (cgroup / "memory.max").write_text("max\n")  # no limit: what the machine has
    assert memory.available(tmp_path / "meminfo", cgroup) == 4000 * 1024
    (tmp_path / "meminfo").write_text("MemAvailable: lots\n")  # unreadable, no cgroup: the system's free pages
    monkeypatch.setattr(memory.os, "sysconf", lambda name: {"SC_AVPHYS_PAGES": 3, "SC_PAGE_SIZE": 4096}[name])
    assert memory.available(tmp_path / "meminfo", tmp_path / "none") == 3 * 4096


def _traced_peak(call) -> int:
    """Peak bytes numpy allocates during call (numpy reports its buffers to tracemalloc)."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        start = tracemalloc.get_traced_memory()[0]
        call()
        return tracemalloc.get_traced_memory()[1] - start
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize(
    "blocks",
    [
        dict(),
        dict(c_attention="moh", c_network="moe"),
        dict(c_sequence="post"),
        dict(c_sequence="rms", c_position="rope", c_network="swiglu"),
    ],
    ids=str,
)
def test_the_activation_estimate_is_within_a_factor_of_two_of_a_real_step(blocks):
    config = resolve.config({**SMALL, "n_ctx": 32, "n_emb": 32, "head_size": 32, "threads": 1, **blocks})
    model = build_model(config, vocab_size=40).train()
    batch = 8
    ids = np.random.default_rng(0).integers(0, 40, size=(batch, config.n_ctx + 1))
    compute_gradients(model, ids[:, :-1], ids[:, 1:])  # first-step allocations (caches) out of the way
    peak = _traced_peak(lambda: compute_gradients(model, ids[:, :-1], ids[:, 1:]))
    estimate = sizes.training_needs(model, batch, workers=1)[1][1]
    assert peak / 2 <= estimate <= 2 * peak


def test_a_batch_that_cannot_fit_is_refused_for_training_only():
    model = build_model(SMALL, vocab_size=11)  # the model itself fits
    memory.require(sizes.training_needs(model, 4, workers=1), "training this model")
    with pytest.raises(
        UserError,
        match="training this model needs about .*activations of a batch of 1000000000 x 16.*lower batch_size or n_ctx",
    ):
        memory.require(sizes.training_needs(model, 10**9, workers=1), "training this model")


def test_the_data_limit_follows_the_machine(monkeypatch):
    monkeypatch.setattr(memory, "available", lambda: 1000)
    assert memory.data_limit() == 1000 // memory.BYTES_PER_CHARACTER
    monkeypatch.setattr(memory, "available", lambda: None)
    assert memory.data_limit() == memory.DATA_LIMIT


def test_a_long_window_loads_and_generates_but_a_text_too_long_for_memory_is_one_line(monkeypatch):
    """A model whose window is long (rope: no table of n_ctx rows) is built on its weights alone; a forward over
    more tokens at once than memory holds is refused, naming it, and a token at a time still runs."""
    model = build_model({**SMALL, "c_position": "rope", "n_ctx": 10**6}, vocab_size=11)
    assert model.logits(np.arange(5) % 11).shape == (5, 11)
    monkeypatch.setattr(memory, "available", lambda: 10**6)
    with pytest.raises(UserError, match=r"a forward pass of this text needs about .*\(activations of 5,000") as error:
        model.logits(np.arange(5000) % 11)
    assert str(error.value).endswith("give fewer tokens at once") and "\n" not in str(error.value)
    assert model.logits(np.array([3]), cache=model.new_cache()).shape == (1, 11)


def test_generation_checks_its_longest_window_once_and_refuses_one_too_long(monkeypatch):
    """Generation asks memory once for its longest forward (not once per token); too long for memory is one line."""
    from littlebaby.nn.generation import generate

    model = build_model({**SMALL, "c_position": "rope", "n_ctx": 10**6}, vocab_size=11)
    asked = []
    monkeypatch.setattr(memory, "available", lambda: asked.append(1) or 10**12)
    generate(model, [1, 2, 3], 12, use_cache=False, rng=np.random.default_rng(0))
    assert len(asked) == 1
    monkeypatch.setattr(memory, "available", lambda: 10**6)
    with pytest.raises(UserError, match=r"generating needs about .*\(activations of 5,003 tokens") as error:
        generate(model, [1, 2, 3], 5000, rng=np.random.default_rng(0))
    assert str(error.value).endswith("give a shorter prompt or ask fewer tokens")
