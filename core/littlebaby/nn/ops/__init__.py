"""The math: each op's forward and backward side by side, on NumPy arrays.

One module per op. Forward functions return their output and, where backward
needs more than the inputs, a `saved` value; backward functions take the
output gradient and ACCUMULATE parameter gradients into the arrays they are
given (`dweight += ...`), so one zeroing of the flat gradient buffer per step
serves every op. Every op runs in float32 (training) and float64 (checks).

Plugins use them as `littlebaby.nn.ops.<name>` (re-exported here).

Where a fast path hides the formula, the plain formula comes first in the same
module as `X_reference`, with X's signature and return values (differences are
in its docstring), and tests/nn/ops/test_fast_paths.py checks that the two agree.
"""

from littlebaby.nn.ops.attention import (
    attention_backward,
    attention_forward,
    causal_mask,
    merge_heads,
    merge_qkv,
    split_heads,
    split_qkv,
    unbroadcast,
)
from littlebaby.nn.ops.dropout import dropout_backward, dropout_forward, dropout_mask
from littlebaby.nn.ops.embedding import embedding_backward, embedding_forward
from littlebaby.nn.ops.gelu import gelu_backward, gelu_forward, gelu_value
from littlebaby.nn.ops.layernorm import layernorm_backward, layernorm_forward
from littlebaby.nn.ops.linear import linear_backward, linear_forward
from littlebaby.nn.ops.loss import cross_entropy, token_cross_entropy
from littlebaby.nn.ops.reduce import column_sum, constant, ones, row_mean, row_sum
from littlebaby.nn.ops.rmsnorm import rmsnorm_backward, rmsnorm_forward
from littlebaby.nn.ops.rotary import rotary_backward, rotary_forward, rotary_tables
from littlebaby.nn.ops.silu import silu_backward, silu_forward
from littlebaby.nn.ops.softmax import softmax_backward, softmax_forward

__all__ = [
    "causal_mask",
    "split_heads",
    "split_qkv",
    "merge_qkv",
    "merge_heads",
    "attention_forward",
    "attention_backward",
    "unbroadcast",
    "dropout_mask",
    "dropout_forward",
    "dropout_backward",
    "embedding_forward",
    "embedding_backward",
    "gelu_forward",
    "gelu_value",
    "gelu_backward",
    "layernorm_forward",
    "layernorm_backward",
    "linear_forward",
    "linear_backward",
    "cross_entropy",
    "token_cross_entropy",
    "constant",
    "ones",
    "column_sum",
    "row_sum",
    "row_mean",
    "rmsnorm_forward",
    "rmsnorm_backward",
    "rotary_tables",
    "rotary_forward",
    "rotary_backward",
    "silu_forward",
    "silu_backward",
    "softmax_forward",
    "softmax_backward",
]
