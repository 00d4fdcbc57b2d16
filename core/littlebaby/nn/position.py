"""The position contract: how a token knows where it is, chosen by `c_position` like a block.

A position encoding can act in two places, and says which:

- in the model: `absolute(config, options)` true puts a learned table `wpe` (n_ctx, n_emb) in the GPT,
  added to the token embeddings (GPT-2's). A model with such a table cannot look past n_ctx, so generation
  refills its cache there; without one it slides the cache on (kv_cache.py).
- in every attention: `forward(x, start)` maps the queries or the keys x (..., T, d), the heads' rows at
  positions start .. start + T - 1, before their scores are taken (RoPE rotates them), and
  `backward(dx, start)` is that map's transpose. An attention block takes the config's position as
  `position=` in its `__init__` and calls it on its q and its k; an attention without that argument can
  only be used with a position that does nothing there (`in_attention = False`), which `build_block` checks.

Both built-in encodings are the identity in the attention: `learned` (the table) and `none` (nothing: a
causal model can still infer positions by counting). `rope` is a plugin (littlebaby-position-rope).
"""

import littlebaby
from littlebaby.nn.block import Block


class Position(Block):
    """Base class of every position encoding (see the module docstring for the contract)."""

    in_attention = False  # whether forward/backward change q and k (False: attentions may skip them)

    @classmethod
    def absolute(cls, config, options) -> bool:
        """Whether the model adds a learned table wpe (n_ctx, n_emb) to the token embeddings."""
        return False

    @classmethod
    def parameter_formula(cls, config, options):
        return "0 (the table, if any, is counted with the model's)", 0

    @classmethod
    def hugging_face(cls, family, config, options):
        return {}  # no tensors of its own in any family (a learned table is the model's wpe)

    @classmethod
    def from_original(cls, weights, prefix, config, options):
        return {}  # nor in the original notebook's files

    def forward(self, x, start: int = 0):
        """x (..., T, d): queries or keys at positions start .. start + T - 1 -> the same, positioned."""
        return x

    def backward(self, dx, start: int = 0):
        """dx (..., T, d) -> the gradient before forward's map (its transpose)."""
        return dx

    # what an attention calls: its new tokens' q and k, at the cache's position (0 without a cache)
    def place(self, q, k, cache=None):
        """q, k (B, heads, T, d) of the new tokens -> both positioned (k before it joins the cache)."""
        if not self.in_attention:
            return q, k
        self.saved = cache.position if cache is not None else 0
        return self.forward(q, self.saved), self.forward(k, self.saved)

    def place_backward(self, dq, dk):
        """dq, dk of `place`'s outputs -> of its inputs."""
        if not self.in_attention:
            return dq, dk
        return self.backward(dq, self.saved), self.backward(dk, self.saved)


class LearnedPositions(Position):
    """A learned table of n_ctx rows added to the token embeddings (GPT-2); nothing in the attention."""

    @classmethod
    def absolute(cls, config, options) -> bool:
        return True


class NoPositions(Position):
    """No position encoding: the causal mask alone tells a token how many came before it."""


@littlebaby.hookimpl
def register_positions(register):
    register("learned", LearnedPositions)
    register("none", NoPositions)
