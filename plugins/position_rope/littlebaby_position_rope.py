"""Rotary position embeddings (RoPE, Su et al. 2021): `c_position: rope`.

Every attention that takes positions (mha, moh, gqa) rotates its queries and keys by their position before
the scores (`littlebaby.nn.ops.rotary`): q . k then depends on positions only through their difference, and
the model has no learned table (so generation slides its cache past n_ctx).

- Odd head width: the rotation pairs feature i with i + d_k // 2 (Llama's and GPT-NeoX's layout); the last
  feature of an odd d_k is left unrotated (with d_k = 1 nothing is rotated: the attention as without rope).
- KV cache: keys are cached rotated. New tokens are rotated at their absolute position (`cache.position`,
  which keeps counting when the cache slides), so cached keys keep their rotations and a slid window scores
  as a fresh one.
- Backward: a rotation is orthogonal, its gradient is the inverse rotation.
- `rope_with_wpe`: a learned table as well, which runs made with the older `c_attention: rope` and learned
  positions have (the config migration sets it); off for a new run.
"""

import functools

import attrs
import numpy as np

import littlebaby
from littlebaby.nn import Position, ops, positive

TABLE = 1024  # rows of the rotation table built at first


@functools.lru_cache(maxsize=8)
def shared_table(rows: int, d_k: int, base: float, dtype: np.dtype) -> tuple:
    """cos, sin of positions 0 .. rows - 1, read-only: one copy for every layer and thread replica of a model."""
    table = ops.rotary_tables(np.arange(rows), d_k, base, dtype)
    for part in table:
        part.flags.writeable = False
    return table


@attrs.frozen(kw_only=True)
class RopeOptions:
    rope_base: float = attrs.field(default=10000.0, validator=positive)  # wavelength scale of the rotations
    rope_with_wpe: bool = False  # also a learned position table (older runs)


class RotaryPositions(Position):
    Options = RopeOptions
    in_attention = True

    @classmethod
    def absolute(cls, config, options) -> bool:
        return (options or RopeOptions()).rope_with_wpe

    def __init__(self, config, options=None):
        super().__init__(config, options or RopeOptions())
        self.n_ctx = config.n_ctx
        self.table, self.table_key = None, None  # cos, sin of positions 0 .. n_ctx - 1, and their (d_k, dtype)

    def forward(self, x, start=0):  # x (..., T, d_k)
        return ops.rotary_forward(x, *self.rotations(start, x.shape[-2], x.shape[-1], x.dtype))

    def backward(self, dx, start=0):
        return ops.rotary_backward(dx, *self.rotations(start, dx.shape[-2], dx.shape[-1], dx.dtype))

    def rotations(self, start: int, T: int, d_k: int, dtype):
        """cos, sin (T, d_k // 2) of positions start .. start + T - 1. Every step, eval batch and token
        within n_ctx needs rows of the same table: it is built once and sliced (as far as positions have
        been asked for, at least TABLE rows: an 8,192-token model generating 100 tokens builds no more).
        Positions past n_ctx (a cache sliding on) get their own rows, the numbers the table would hold."""
        if start + T > self.n_ctx:
            return ops.rotary_tables(np.arange(start, start + T), d_k, self.options.rope_base, dtype)
        if self.table_key != (d_k, np.dtype(dtype)) or len(self.table[0]) < start + T:
            rows = min(self.n_ctx, max(TABLE, 2 * (start + T)))
            self.table = shared_table(rows, d_k, self.options.rope_base, np.dtype(dtype))
            self.table_key = (d_k, np.dtype(dtype))
        cos, sin = self.table
        return cos[start : start + T], sin[start : start + T]


@littlebaby.hookimpl
def register_positions(register):
    register("rope", RotaryPositions)
