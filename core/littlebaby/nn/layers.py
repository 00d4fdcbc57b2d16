"""Core layers: the pieces blocks build from.

Each wraps one op from `littlebaby.nn.ops` with its parameters and saved values,
so a plugin writes `self.proj = self.add("proj", Linear(n_in, n_out))` and
calls `self.proj.forward(x)` / `self.proj.backward(dy)`. They are `Layer`s,
not `Block`s: each takes what its op takes (`CausalAttention` q, k and v;
`Embedding` integer ids), not the blocks' `(x, cache)`, and no config selects
them. The model still walks them, so their dropout follows its training mode
and generator, and what they observe is recorded with the blocks'.
"""

import numpy as np

from littlebaby.nn.block import Layer
from littlebaby.nn.ops.attention import attention_backward, attention_forward, unbroadcast
from littlebaby.nn.ops.dropout import dropout_backward, dropout_forward, dropout_mask
from littlebaby.nn.ops.embedding import embedding_backward, embedding_forward
from littlebaby.nn.ops.layernorm import EPS as LAYERNORM_EPS
from littlebaby.nn.ops.layernorm import layernorm_backward, layernorm_forward
from littlebaby.nn.ops.linear import linear_backward, linear_forward
from littlebaby.nn.ops.rmsnorm import EPS as RMSNORM_EPS
from littlebaby.nn.ops.rmsnorm import rmsnorm_backward, rmsnorm_forward


class Linear(Layer):
    """y = x @ weight (n_in, n_out) + bias (n_out,)."""

    def __init__(self, n_in, n_out, bias=True, init="normal"):
        super().__init__()
        self.parameter("weight", (n_in, n_out), init=init)
        self.has_bias = bias
        if bias:
            self.parameter("bias", (n_out,), init="zeros")

    def forward(self, x):
        """x (..., n_in) -> (..., n_out); keeps x for backward."""
        self.saved = x
        return linear_forward(x, self.params["weight"], self.params.get("bias"))

    def backward(self, dy):
        """dy (..., n_out) -> dx (..., n_in); adds into the weight's (and bias's) gradient."""
        return linear_backward(dy, self.saved, self.params["weight"], self.grads["weight"], self.grads.get("bias"))


class LayerNorm(Layer):
    """Normalise the last axis, then scale (weight) and shift (bias); eps is added to the variance."""

    def __init__(self, n, eps=LAYERNORM_EPS):
        super().__init__()
        self.eps = eps
        self.parameter("weight", (n,), init="ones")
        self.parameter("bias", (n,), init="zeros")

    def forward(self, x):
        """x (..., n) -> (..., n); keeps the normalised x and 1/std per row for backward."""
        y, self.saved = layernorm_forward(x, self.params["weight"], self.params["bias"], self.eps)
        return y

    def backward(self, dy):
        """dy (..., n) -> dx (..., n); adds into the weight's and bias's gradients."""
        return layernorm_backward(dy, self.saved, self.params["weight"], self.grads["weight"], self.grads["bias"])


class RMSNorm(Layer):
    """Divide the last axis by its root mean square, then scale (weight); no shift. eps is added to the mean square."""

    def __init__(self, n, eps=RMSNORM_EPS):
        super().__init__()
        self.eps = eps
        self.parameter("weight", (n,), init="ones")

    def forward(self, x, cache=None):
        """x (..., n) -> (..., n); keeps what backward needs (x and 1/rms per row)."""
        y, self.saved = rmsnorm_forward(x, self.params["weight"], self.eps)
        return y

    def backward(self, dy):
        """dy (..., n) -> dx (..., n); adds into the weight's gradient."""
        return rmsnorm_backward(dy, self.saved, self.params["weight"], self.grads["weight"])


class Embedding(Layer):
    """Rows of a (n, dim) table picked by integer ids."""

    def __init__(self, n, dim):
        super().__init__()
        self.parameter("weight", (n, dim), init="normal")

    def forward(self, ids):
        """ids (...) int -> (..., dim); keeps the ids for backward."""
        self.saved = ids
        return embedding_forward(ids, self.params["weight"])

    def backward(self, dy):
        """Adds dy's rows into the table's gradient; returns None: the input is integer ids,
        which have no gradient, and the embedding is always the first layer, so nothing
        before it waits for one."""
        embedding_backward(dy, self.saved, self.grads["weight"])


class Dropout(Layer):
    """Inverted dropout with probability p, active only in training."""

    def __init__(self, p):
        super().__init__()
        self.p = p

    def mask(self, shape, dtype):
        """A fresh keep-mask in training with p > 0, else None."""
        if not self.training or self.p == 0.0:
            return None
        return dropout_mask(shape, self.p, self.rng, dtype)

    def forward(self, x):
        """x -> x with a fresh mask applied (training) or x itself; keeps the mask for backward."""
        self.saved = self.mask(x.shape, x.dtype)
        return dropout_forward(x, self.saved)

    def backward(self, dy):
        """dy -> dx, through the same mask."""
        return dropout_backward(dy, self.saved)


class CausalAttention(Layer):
    """softmax(q k^T / sqrt(d) + bias + causal mask) v over heads, with dropout on the weights.

    forward(q, k, v, bias=None): q (B, H, T, d), k and v (B, H, S, d) with S >= T (the
    cache's earlier positions come first) -> o (B, H, T, d). bias: an optional score bias
    that broadcasts to (B, H, T, S) (ALiBi's distances, a learned relative bias).
    backward(do) -> (dq, dk, dv), shaped as q, k, v; after it, `bias_grad` holds d loss / d bias
    in the bias's own shape (None when forward had no bias). No parameters: the
    projections around it are the attention block's. The weights are
    published as the observation "attention" (B, H, T, S).
    qk_norm: q and k are first divided by their root mean square over d (no gain, eps added), as the
    speedrun's QK-norm; a rotation keeps that norm, so it does not matter whether positions turned them first.
    A block builds the core its config asks for with `CausalAttention.of(config)`.
    """

    def __init__(self, dropout, qk_norm=False, eps=RMSNORM_EPS):
        super().__init__()
        self.dropout = self.add("dropout", Dropout(dropout))
        self.bias_grad = None
        self.qk_norm, self.eps = qk_norm, eps

    @classmethod
    def of(cls, config):
        """The attention core a config asks for: its dropout, and QK-norm when `qk_norm`."""
        return cls(config.dropout, config.qk_norm, config.norm_eps)

    def forward(self, q, k, v, bias=None):
        """q (B, H, T, d), k, v (B, H, S, d) -> o (B, H, T, d); keeps q, k, v, the weights and the mask."""
        normed = None
        if self.qk_norm:  # every key again, cached ones too: the cache keeps them as the block made them
            (q, q_norm), (k, k_norm) = rmsnorm_forward(q, None, self.eps), rmsnorm_forward(k, None, self.eps)
            normed = (q_norm, k_norm)
        mask = self.dropout.mask(q.shape[:3] + (k.shape[2],), q.dtype)
        o, weights, used = attention_forward(q, k, v, mask, bias)
        self.saved = (q, k, v, weights, used, mask, None if bias is None else np.shape(bias), normed)
        self.observe("attention", weights)
        return o

    def backward(self, do):
        """do (B, H, T, d) -> (dq, dk, dv), shaped as q, k, v; the bias's gradient into `bias_grad`."""
        q, k, v, weights, used, mask, bias_shape, normed = self.saved
        if bias_shape is None:
            self.bias_grad = None
            dq, dk, dv = attention_backward(do, q, k, v, weights, used, mask)
        else:
            dq, dk, dv, dbias = attention_backward(do, q, k, v, weights, used, mask, bias_grad=True)
            self.bias_grad = unbroadcast(dbias, bias_shape)
        if normed is not None:
            dq, dk = rmsnorm_backward(dq, normed[0], None), rmsnorm_backward(dk, normed[1], None)
        return dq, dk, dv
