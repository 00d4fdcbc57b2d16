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


class LayerCache:
    def __init__(self, owner: "KVCache"):
        self.owner = owner
        self.buffers: dict = {}

    @property
    def pos(self) -> int:
        """Slot of the first new token: how many entries the buffers hold."""
        return self.owner.pos

    @property
    def position(self) -> int:
        """Absolute position of the first new token: pos plus the tokens slid out."""
        return self.owner.dropped + self.owner.pos

    def extend(self, name: str, new: np.ndarray) -> np.ndarray:
        """Store new (..., T, d) at positions pos .. pos+T-1; return (..., pos+T, d)."""
        shape = new.shape[:-2] + (self.owner.n_ctx, new.shape[-1])
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
        self.n_ctx = n_ctx
        self.pos = 0
        self.dropped = 0  # tokens slid out of the window so far
        self.layers = [LayerCache(self) for _ in range(n_layers)]

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
