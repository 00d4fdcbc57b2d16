"""KV cache for generation: preallocated per-layer buffers, no concatenation per token.

`KVCache.pos` is the number of positions already processed. Each layer gets a
`LayerCache`; an attention block calls `extend(name, new)` with its new
entries (time on axis -2, e.g. keys (B, H, T, d) or a latent (B, T, L)) and
gets back a view of all entries so far. What a block caches is its own
business: mha caches k and v, mla only a latent.

Two context policies, chosen by the model (`GPT.slides`):

- refill (learned absolute positions, which cannot slide): when the window is
  full, generation continues from the last n_ctx // 2 tokens; the cached path
  resets and refills its cache from them once, the uncached path feeds the
  same window, so both see the same tokens at the same positions.
- slide (no learned position table: `c_position` rope or none): when the window is full,
  the oldest position is dropped (`KVCache.slide`) and the new token is
  appended: one token of work per token, the window always n_ctx long. This
  is sliding-window attention (generation.py says why it differs from a fresh
  window from the second layer on, and how the uncached path computes it). A
  block that encodes positions itself must then see only their differences:
  rope caches keys rotated at their absolute position (`LayerCache.position`,
  which keeps counting past n_ctx) and rotates new queries at theirs too, so
  q . k depends on the same distances as without a cache. Using the slot
  (`pos`) instead would rotate queries as if the slid-out tokens had never
  been there, and the check of the testing kit would fail.
"""

import numpy as np


class Window:
    """Where a cache stands, shared by the cache and its layers: n_ctx, the slot of the next token (pos) and the
    tokens slid out (dropped). The layers hold this, not the cache, so no reference cycle keeps a cache's
    buffers alive after generation lets go of it (until a garbage collection, one cache per call)."""

    def __init__(self, n_ctx: int):
        self.n_ctx, self.pos, self.dropped = n_ctx, 0, 0


class LayerCache:
    def __init__(self, window: Window):
        self.window = window
        self.buffers: dict = {}

    @property
    def pos(self) -> int:
        """Slot of the first new token: how many entries the buffers hold."""
        return self.window.pos

    @property
    def position(self) -> int:
        """Absolute position of the first new token: pos plus the tokens slid out."""
        return self.window.dropped + self.window.pos

    def extend(self, name: str, new: np.ndarray) -> np.ndarray:
        """Store new (..., T, d) at positions pos .. pos+T-1; return (..., pos+T, d)."""
        shape = new.shape[:-2] + (self.window.n_ctx, new.shape[-1])
        buffer = self.buffers.get(name)
        if buffer is None or buffer.shape != shape or buffer.dtype != new.dtype:
            buffer = self.buffers[name] = np.empty(shape, dtype=new.dtype)
        end = self.pos + new.shape[-2]
        buffer[..., self.pos : end, :] = new
        return buffer[..., :end, :]

    @property
    def nbytes(self) -> int:
        return sum(b.nbytes for b in self.buffers.values())


class KVCache:
    def __init__(self, n_layers: int, n_ctx: int):
        self.window = Window(n_ctx)
        self.layers = [LayerCache(self.window) for _ in range(n_layers)]

    @property
    def n_ctx(self) -> int:
        return self.window.n_ctx

    @property
    def pos(self) -> int:
        return self.window.pos

    @pos.setter
    def pos(self, value: int):
        self.window.pos = value

    @property
    def dropped(self) -> int:
        """Tokens slid out of the window so far."""
        return self.window.dropped

    @dropped.setter
    def dropped(self, value: int):
        self.window.dropped = value

    def reset(self):
        self.pos = 0
        self.dropped = 0

    def slide(self, n: int = 1):
        """Drop the n oldest entries of every buffer: slots move n to the left, positions go on counting."""
        n = min(n, self.pos)
        for layer in self.layers:
            for buffer in layer.buffers.values():
                buffer[..., : self.pos - n, :] = buffer[..., n : self.pos, :]  # a left shift: overlapping copy is safe
        self.pos -= n
        self.dropped += n

    @property
    def nbytes(self) -> int:
        """Bytes held by all layers' buffers."""
        return sum(layer.nbytes for layer in self.layers)
