"""Batches from token ids: the 90/10 split, epochs of windows, fixed val windows.

An epoch is one pass over the train split in non-overlapping windows of
n_ctx + 1 tokens (inputs and their next-token targets), starting at a random
offset below n_ctx and visited in random order, so `num_epochs` means the
same thing on 1 MB as on 1 GB. The order of epoch e depends only on
(seed, e), so a resumed run replays exactly the batches it would have seen.

Validation uses a fixed set of windows drawn with a constant seed from the
last 10% of the text: the same windows in every run, whatever the run's seed.
Or, with count 0, the whole split in consecutive windows: every val token
scored once, as an estimate over random windows would in the limit.
"""

import math

import attrs
import numpy as np

from littlebaby.config import Config
from littlebaby.errors import UserError

TRAIN_FRACTION = 0.9  # as the original: the first 90% trains, the last 10% validates
VAL_SEED = 20251125  # constant, so every run is judged on the same windows
WHOLE_SPLIT_LIMIT = 1 << 16  # windows of an eval over the whole split (8 M tokens at n_ctx 128)
SHUFFLE_BLOCK = 1 << 16  # windows shuffled as one; a longer epoch is shuffled block by block


def split_at(raw_text: str, byte_cut: int) -> tuple[str, str]:
    """text cut after byte_cut bytes of its UTF-8 (moved forward to a character boundary)."""
    raw = raw_text.encode("utf-8")
    while byte_cut < len(raw) and raw[byte_cut] & 0xC0 == 0x80:
        byte_cut += 1
    return raw[:byte_cut].decode("utf-8"), raw[byte_cut:].decode("utf-8")


def split_text(text: str) -> tuple[str, str]:
    """(train, val) text: the first 90% of its UTF-8 bytes and the rest, cut at a character boundary. A text is
    split before it is tokenized, so every tokenizer is judged on the same val bytes (bits per byte compare)."""
    return split_at(text, int(TRAIN_FRACTION * len(text.encode("utf-8"))))


def split(ids: np.ndarray, n_ctx: int, name: str = "data") -> tuple[np.ndarray, np.ndarray]:
    """(train, val) token arrays, the last 10% of the tokens validating: how runs made before the split by
    bytes were split, kept so that they resume on the same windows."""
    cut = int(TRAIN_FRACTION * len(ids))
    train, val = ids[:cut], ids[cut:]
    check_split(train, val, n_ctx, name)
    return train, val


def check_split(train, val, n_ctx: int, name: str = "data"):
    """A one-line UserError unless each split holds at least one window of n_ctx + 1 tokens."""
    if min(len(train), len(val)) < n_ctx + 1:
        needed = math.ceil(round((n_ctx + 1) / (1 - TRAIN_FRACTION), 6))  # round: 9 / 0.1 is 90.00000000000001
        raise UserError(
            f"{name} has {len(train)} train and {len(val)} val tokens; its 10% validation split needs "
            f"n_ctx + 1 = {n_ctx + 1}, so about {needed} in all",
            "give more text or lower {n_ctx}",
            "n_ctx",
        )


def windows(ids: np.ndarray, starts: np.ndarray, n_ctx: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and targets (len(starts), n_ctx) for windows beginning at `starts`."""
    rows = np.asarray(ids[starts[:, None] + np.arange(n_ctx + 1)], dtype=np.int64)  # ids may be a uint16 memmap
    return rows[:, :-1], rows[:, 1:]


class Epochs:
    """The batches of every epoch over a train split, reproducible from (seed, epoch)."""

    def __init__(self, ids: np.ndarray, n_ctx: int, batch_size: int, seed: int):
        self.ids, self.n_ctx, self.seed = ids, n_ctx, seed
        # windows per epoch with the largest offset (n_ctx - 1): the same count every epoch
        self.windows_per_epoch = max(1, (len(ids) - n_ctx) // n_ctx)
        self.batch_size = min(batch_size, self.windows_per_epoch)
        # an incomplete last batch is dropped so every step sees batch_size windows
        self.steps_per_epoch = self.windows_per_epoch // self.batch_size
        self._epoch, self._order = None, None  # the epoch whose order (or order of blocks) is at hand
        self._block, self._inside = None, None  # (epoch, block) whose shuffle is at hand

    def order(self, epoch: int) -> np.ndarray:
        """Window starts of one epoch, in the order they are visited."""
        rng = np.random.default_rng([self.seed, epoch])
        limit = len(self.ids) - self.n_ctx - 1  # last valid start
        offset = int(rng.integers(0, min(self.n_ctx, limit + 1)))
        starts = np.arange(offset, limit + 1, self.n_ctx)[: self.windows_per_epoch]
        return rng.permutation(starts)

    def block_order(self, epoch: int) -> tuple[int, np.ndarray]:
        """(offset, blocks in the order visited) of an epoch of more than SHUFFLE_BLOCK windows.

        A memory-mapped corpus may hold billions of tokens: rather than a permutation of every
        window, the full blocks of SHUFFLE_BLOCK windows are visited in a random order (the
        partial block last), each block's windows in an order of their own (`starts`)."""
        rng = np.random.default_rng([self.seed, epoch])
        offset = int(rng.integers(0, self.n_ctx))
        full = self.windows_per_epoch // SHUFFLE_BLOCK
        return offset, np.append(rng.permutation(full), full)

    def starts(self, epoch: int, positions: np.ndarray) -> np.ndarray:
        """Window starts at these places of an epoch's visiting order."""
        if self.windows_per_epoch <= SHUFFLE_BLOCK:
            if self._epoch != epoch:
                self._epoch, self._order = epoch, self.order(epoch)
            return self._order[positions]
        if self._epoch != epoch:  # drawn once per epoch: a billion-token corpus has thousands of blocks
            self._epoch, self._order = epoch, self.block_order(epoch)
        offset, blocks = self._order
        ranks = positions // SHUFFLE_BLOCK
        starts = np.empty(len(positions), dtype=np.int64)
        for rank in np.unique(ranks):
            block = int(blocks[rank])
            if self._block != (epoch, block):
                size = min(SHUFFLE_BLOCK, self.windows_per_epoch - block * SHUFFLE_BLOCK)
                self._block, self._inside = (
                    (epoch, block),
                    np.random.default_rng([self.seed, epoch, block]).permutation(size),
                )
            here = ranks == rank
            starts[here] = offset + (block * SHUFFLE_BLOCK + self._inside[positions[here] % SHUFFLE_BLOCK]) * self.n_ctx
        return starts

    def batch(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        """Inputs and targets (batch_size, n_ctx) of training step `step` (0-based)."""
        epoch, index = divmod(step, self.steps_per_epoch)
        positions = np.arange(index * self.batch_size, (index + 1) * self.batch_size)
        return windows(self.ids, self.starts(epoch, positions), self.n_ctx)


def whole_split_windows(n_ids: int, n_ctx: int) -> int:
    """How many consecutive windows of n_ctx tokens cover a val split of n_ids ids; a UserError past the limit."""
    tiles = (n_ids - 1) // n_ctx
    if tiles > WHOLE_SPLIT_LIMIT:
        raise UserError(
            f"the val split holds {tiles} windows of {n_ctx} tokens, more than the {WHOLE_SPLIT_LIMIT} "
            "an eval of the whole split may take",
            f"evaluate a sample of it: {{eval_windows=}}{attrs.fields(Config).eval_windows.default} (the default)",
            "eval_windows",
        )
    return tiles


def val_windows(ids: np.ndarray, n_ctx: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The fixed validation windows: `count` starts drawn with VAL_SEED (fewer if the split is short), or for
    count 0 the whole split in consecutive windows (the last targets, fewer than n_ctx, left out).
    A sample's mean differs from the whole split's by its sampling error: 256 windows of 128 characters of
    tiny Shakespeare put trained models 0.02 above it."""
    if count == 0:
        tiles = whole_split_windows(len(ids), n_ctx)
        return windows(ids, n_ctx * np.arange(tiles), n_ctx)
    limit = len(ids) - n_ctx - 1
    rng = np.random.default_rng(VAL_SEED)
    starts = rng.choice(limit + 1, size=min(count, limit + 1), replace=False)
    return windows(ids, np.sort(starts), n_ctx)
