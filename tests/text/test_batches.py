"""Training text: reading, splitting, epochs of windows, fixed validation windows."""

import numpy as np
import pytest

from littlebaby.config import Config
from littlebaby.errors import UserError
from littlebaby.text import batches as text
from littlebaby.text.batches import Epochs, split, split_text, val_windows
from littlebaby.text.source import read_text, shipped_text


@pytest.mark.parametrize(
    "content,message",
    [(None, "not found"), (b"", "empty"), (b"  \n", "empty"), (b"ab\x00cd", "binary"), (b"caf\xe9", "not UTF-8")],
)
def test_bad_data_files(tmp_path, content, message):
    path = tmp_path / "data.txt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(UserError, match=message):
        read_text(path)


def test_a_directory_is_not_data(tmp_path):
    with pytest.raises(UserError, match="directory"):
        read_text(tmp_path)


def test_shipped_text_is_tiny_shakespeare():
    assert shipped_text().startswith("First Citizen:")


def test_split_is_ninety_ten_and_needs_a_window_in_each_part():
    train, val = split(np.arange(200), n_ctx=8)
    assert len(train) == 180 and len(val) == 20
    with pytest.raises(UserError, match="so about 90 in all"):
        split(np.arange(60), n_ctx=8)


def test_a_text_is_cut_by_its_bytes_at_a_character_boundary():
    text = "ab" * 40 + "é" * 10  # 100 bytes, the last 20 in two-byte characters
    train, val = split_text(text)
    assert train + val == text and len(train.encode("utf-8")) == 90 and val == "é" * 5
    odd = "a" * 89 + "é" + "b" * 10  # the 90th byte falls inside é: the cut moves past it
    assert split_text(odd) == ("a" * 89 + "é", "b" * 10)


def test_an_epoch_visits_disjoint_windows_reproducibly():
    ids = np.arange(1000)
    epochs = Epochs(ids, n_ctx=10, batch_size=4, seed=3)
    assert epochs.steps_per_epoch == 99 // 4
    starts = np.concatenate([epochs.batch(step)[0][:, 0] for step in range(epochs.steps_per_epoch)])
    assert len(set(starts)) == len(starts) and len(set(starts % 10)) == 1  # one offset per epoch
    inputs, targets = epochs.batch(5)
    np.testing.assert_array_equal(inputs + 1, targets)
    np.testing.assert_array_equal(Epochs(ids, 10, 4, seed=3).batch(5)[0], inputs)
    assert not np.array_equal(Epochs(ids, 10, 4, seed=4).batch(5)[0], inputs)
    assert not np.array_equal(epochs.batch(epochs.steps_per_epoch + 5)[0], inputs)  # the next epoch reshuffles


def test_small_text_still_gives_one_batch():
    epochs = Epochs(np.arange(12), n_ctx=8, batch_size=32, seed=0)
    assert epochs.steps_per_epoch == 1 and epochs.batch(0)[0].shape == (1, 8)


def test_val_windows_are_fixed_whatever_the_seed():
    a, b = val_windows(np.arange(500), 8, 16)
    assert a.shape == (16, 8)
    np.testing.assert_array_equal(a + 1, b)
    np.testing.assert_array_equal(val_windows(np.arange(500), 8, 16)[0], a)
    assert len(val_windows(np.arange(12), 8, 16)[0]) == 4  # fewer when the split is short


def test_val_windows_zero_scores_every_val_token_once():
    ids = np.arange(1, 38)  # 37 ids: 36 targets, four windows of 8 (the last four targets left out)
    inputs, targets = val_windows(ids, 8, 0)
    assert inputs.shape == (4, 8)
    np.testing.assert_array_equal(targets.ravel(), ids[1:33])
    np.testing.assert_array_equal(inputs + 1, targets)


def test_val_windows_zero_refuses_a_split_too_long_to_evaluate_whole(monkeypatch):
    monkeypatch.setattr(text, "WHOLE_SPLIT_LIMIT", 3)
    assert len(val_windows(np.arange(25), 8, 0)[0]) == 3
    with pytest.raises(UserError, match="holds 4 windows of 8 tokens") as refused:
        val_windows(np.arange(34), 8, 0)
    assert refused.value.fix.endswith(f"eval_windows={Config().eval_windows} (the default)")


def _visiting_order_the_slow_way(epochs, epoch, block):
    """Every window start of an epoch over blocks of `block` windows, drawn afresh as text.py's
    docstring describes: an offset and a block order from (seed, epoch), each block's own order from
    (seed, epoch, block), the partial block last."""
    rng = np.random.default_rng([epochs.seed, epoch])
    offset = int(rng.integers(0, epochs.n_ctx))
    full = epochs.windows_per_epoch // block
    order = []
    for b in [*rng.permutation(full), full]:
        size = min(block, epochs.windows_per_epoch - b * block)
        order += [
            offset + (b * block + i) * epochs.n_ctx
            for i in np.random.default_rng([epochs.seed, epoch, b]).permutation(size)
        ]
    return np.array(order)


def test_a_long_epochs_batches_are_those_of_its_order_and_each_order_is_drawn_once(monkeypatch):
    monkeypatch.setattr(text, "SHUFFLE_BLOCK", 16)
    ids = np.arange(10 * 100 + 10 + 7) * 7 % 1013  # 100 windows of 10: six full blocks and a partial one
    epochs = text.Epochs(ids, n_ctx=10, batch_size=3, seed=4)
    expected = [_visiting_order_the_slow_way(epochs, epoch, 16) for epoch in (0, 1)]
    drawn, real = [], np.random.default_rng
    monkeypatch.setattr(np.random, "default_rng", lambda seed=None: drawn.append(seed) or real(seed))
    for step in range(2 * epochs.steps_per_epoch):
        epoch, index = divmod(step, epochs.steps_per_epoch)
        starts = expected[epoch][index * 3 : index * 3 + 3]
        inputs, targets = epochs.batch(step)
        np.testing.assert_array_equal(inputs, ids[starts[:, None] + np.arange(10)])
        np.testing.assert_array_equal(targets, ids[starts[:, None] + np.arange(1, 11)])
    # per epoch: the block order once, each of the 7 blocks' own order once; not one per step
    assert len(drawn) == 2 * (1 + 7)
