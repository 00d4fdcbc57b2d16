"""ALiBi attention: multi-head attention whose scores fall with distance, no position embedding needed.

Each head h adds -m_h * (i - j) to the score of query position i on key position j, with slopes
m_h = 2 ** (-8 (h + 1) / n_heads): steep heads look near, shallow heads far. The bias goes to
`CausalAttention` as its score bias; it depends only on distances, so a KV cache (even one that slides
past n_ctx) gives the same scores. q, k, v and the projection are `mha`'s.
"""

import numpy as np

import littlebaby
from littlebaby.nn import CausalAttention, Dropout, Linear, ops


def alibi_bias(slopes, T, S, dtype):
    """(H, T, S) score bias for the T newest of S positions: -slope * distance (0 on and after the diagonal)."""
    distance = np.arange(S - T, S)[:, None] - np.arange(S)[None, :]  # query position minus key position
    return (-slopes[:, None, None] * np.maximum(distance, 0)).astype(dtype)


class ALiBiAttention(littlebaby.Block):
    @classmethod
    def parameter_formula(cls, config, options):
        H, A = config.n_emb, config.head_size
        return "4HA + H (q, k, v, projection and its bias; the slopes are fixed)", 4 * H * A + H

    def __init__(self, config, options=None):
        super().__init__(config, options)
        self.n_heads = config.n_heads
        self.slopes = 2.0 ** (-8.0 * np.arange(1, config.n_heads + 1) / config.n_heads)
        self.qkv = self.add("qkv", Linear(config.n_emb, 3 * config.head_size, bias=False))
        self.attend = self.add("attend", CausalAttention.of(config))
        self.proj = self.add("proj", Linear(config.head_size, config.n_emb, init="residual"))
        self.dropout = self.add("dropout", Dropout(config.dropout))

    def forward(self, x, cache=None):  # x (B, T, n_emb)
        q, k, v = ops.split_qkv(self.qkv.forward(x), self.n_heads)
        if cache is not None:  # (B, H, pos + T, d_k)
            k, v = cache.extend("k", k), cache.extend("v", v)
        bias = alibi_bias(self.slopes, q.shape[2], k.shape[2], q.dtype)  # broadcasts over the batch
        o = self.attend.forward(q, k, v, bias)  # (B, H, T, d_k)
        return self.dropout.forward(self.proj.forward(ops.merge_heads(o)))

    def backward(self, dy):  # dy (B, T, n_emb)
        do = ops.split_heads(self.proj.backward(self.dropout.backward(dy)), self.n_heads)
        dq, dk, dv = self.attend.backward(do)  # the slopes are fixed: attend.bias_grad is not needed
        return self.qkv.backward(ops.merge_qkv(dq, dk, dv))


@littlebaby.hookimpl
def register_attentions(register):
    register("alibi", ALiBiAttention)
