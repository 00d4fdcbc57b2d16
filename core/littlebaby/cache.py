"""KV cache for generation: preallocated per-layer buffers, no concatenation per token.

`KVCache.pos` is the number of positions already processed. Each layer gets a
`LayerCache`; an attention block calls `extend(name, new)` with its new
entries (time on axis -2, e.g. keys (B, H, T, d) or a latent (B, T, L)) and
gets back a view of all entries so far. What a block caches is its own
business: mha caches k and v, mla only a latent.

Context policy (learned absolute positions cannot slide): when the window is
full, generation continues from the last n_ctx // 2 tokens; the cached path
resets and refills its cache from them once, the uncached path feeds the same
window, so both see the same tokens at the same positions.
"""

import numpy as np


class LayerCache:
    def __init__(self, owner: "KVCache"):
        self.owner = owner
        self.buffers: dict = {}

    @property
    def pos(self) -> int:
        """Position of the first new token."""
        return self.owner.pos

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
        self.layers = [LayerCache(self) for _ in range(n_layers)]

    def reset(self):
        self.pos = 0

    @property
    def nbytes(self) -> int:
        """Bytes held by all layers' buffers."""
        return sum(layer.nbytes for layer in self.layers)
