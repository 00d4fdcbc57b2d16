"""Inverted dropout: zero a fraction p, scale the rest by 1 / (1 - p).

In training, masks come from `RowStreams`: one generator per batch row, seeded
by (seed, step, the row's index in the step's global batch). A row's masks
then depend on nothing but the seed, the step and the row, never on how the
batch is cut over threads, MPI processes or accumulation micro-batches, so
1 process and N give the same run and a resumed run needs no generator state.
"""

import numpy as np


class RowStreams:
    """Generators for rows `rows` (a range of global batch rows) of step `step`, drawing like one
    Generator: random(shape) fills row i of the first axis from row i's own stream."""

    def __init__(self, seed: int, step: int, rows: range):
        # the 1 keeps these streams apart from the initialisation's default_rng(seed)
        self.generators = [np.random.default_rng([seed, 1, step, row]) for row in rows]

    def random(self, shape, dtype=np.float64):
        if shape[0] != len(self.generators):
            raise ValueError(f"a mask of {shape[0]} rows from {len(self.generators)} row streams")
        out = np.empty(shape, dtype=dtype)
        for generator, row in zip(self.generators, out):
            generator.random(dtype=dtype, out=row)
        return out

    def part(self, rows: slice) -> "RowStreams":
        """The streams of some of these rows (a thread's chunk)."""
        part = RowStreams.__new__(RowStreams)
        part.generators = self.generators[rows]
        return part


def dropout_mask(shape, p, rng, dtype):
    """The scaled keep-mask for one forward pass (rng: a numpy Generator or RowStreams)."""
    keep = rng.random(shape, dtype=np.float32 if dtype == np.float32 else np.float64) >= p
    return keep.astype(dtype) * (1.0 / (1.0 - p))


def dropout_forward(x, mask):
    return x if mask is None else x * mask


def dropout_backward(dy, mask):
    return dy if mask is None else dy * mask
