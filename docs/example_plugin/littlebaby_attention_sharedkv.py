"""Shared key-value attention: the keys are also the values (the example of docs/plugins.md).

Each head projects x to a query and a key, and attends over the keys with the
keys themselves as values, so the KV cache keeps one tensor instead of mha's
two. The option `temperature` divides the attention scores (1 = standard
softmax attention; higher = flatter weights).
"""

import attrs
import numpy as np

import littlebaby
from littlebaby.nn import CausalAttention, Dropout, Linear, ops, positive


@attrs.frozen(kw_only=True)
class SharedKVOptions:
    temperature: float = attrs.field(default=1.0, validator=positive)  # divides the attention scores


class SharedKVAttention(littlebaby.Block):
    Options = SharedKVOptions

    @classmethod
    def parameter_formula(cls, config, options):  # what `littlebaby inspect` checks the tensors against
        H, A = config.n_emb, config.head_size
        return "3HA + H (q and k, projection and its bias)", 3 * H * A + H

    def __init__(self, config, options=None):
        super().__init__(config, options or SharedKVOptions())
        self.n_heads = config.n_heads
        self.qk = self.add("qk", Linear(config.n_emb, 2 * config.head_size, bias=False))
        self.attend = self.add("attend", CausalAttention.of(config))
        self.proj = self.add("proj", Linear(config.head_size, config.n_emb, init="residual"))
        self.dropout = self.add("dropout", Dropout(config.dropout))

    def forward(self, x, cache=None):  # x (B, T, n_emb)
        q, k = (ops.split_heads(part, self.n_heads) for part in np.split(self.qk.forward(x), 2, axis=-1))
        if cache is not None:  # (B, H, pos + T, d_k): one tensor, not two
            k = cache.extend("k", k)
        # scaling q by 1 / temperature divides the scores q k^T by it
        o = self.attend.forward(q / self.options.temperature, k, k)  # (B, H, T, d_k)
        return self.dropout.forward(self.proj.forward(ops.merge_heads(o)))

    def backward(self, dy):  # dy (B, T, n_emb)
        do = ops.split_heads(self.proj.backward(self.dropout.backward(dy)), self.n_heads)
        dq, dk, dv = self.attend.backward(do)
        dq = dq / self.options.temperature
        dk = dk + dv  # k is used twice, as keys and as values: its gradient is the sum
        return self.qk.backward(np.concatenate([ops.merge_heads(dq), ops.merge_heads(dk)], axis=-1))


@littlebaby.hookimpl
def register_attentions(register):
    register("sharedkv", SharedKVAttention)
