"""Training text: reading, splitting, epochs of windows, fixed validation windows."""

import numpy as np
import pytest

from littlebaby.errors import UserError
from littlebaby.text import Epochs, read_text, shipped_text, split, val_windows


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
    with pytest.raises(UserError, match="at least 90"):
        split(np.arange(60), n_ctx=8)


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
