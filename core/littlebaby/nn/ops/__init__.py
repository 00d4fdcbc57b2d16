"""The math: each op's forward and backward side by side, on NumPy arrays.

One module per op. Forward functions return their output and, where backward
needs more than the inputs, a `saved` value; backward functions take the
output gradient and ACCUMULATE parameter gradients into the arrays they are
given (`dweight += ...`), so one zeroing of the flat gradient buffer per step
serves every op. Every op runs in float32 (training) and float64 (checks).

Plugins use them as `littlebaby.nn.ops.<name>` (re-exported here). Where a fast path hides the formula, the plain formula comes first in the same
module as `X_reference`, with X's signature and return values (differences are
in its docstring), and tests/test_fast_paths.py checks that the two agree.
"""

from littlebaby.nn.ops.attention import causal_mask, split_heads, split_qkv, merge_qkv, merge_heads, attention_forward, attention_backward
from littlebaby.nn.ops.dropout import dropout_mask, dropout_forward, dropout_backward
from littlebaby.nn.ops.embedding import embedding_forward, embedding_backward
from littlebaby.nn.ops.gelu import gelu_forward, gelu_value, gelu_backward
from littlebaby.nn.ops.layernorm import layernorm_forward, layernorm_backward
from littlebaby.nn.ops.linear import linear_forward, linear_backward
from littlebaby.nn.ops.loss import cross_entropy, token_cross_entropy
from littlebaby.nn.ops.reduce import constant, ones, column_sum, row_sum, row_mean
from littlebaby.nn.ops.rmsnorm import rmsnorm_forward, rmsnorm_backward
from littlebaby.nn.ops.rotary import rotary_tables, rotary_forward, rotary_backward
from littlebaby.nn.ops.silu import silu_forward, silu_backward
from littlebaby.nn.ops.softmax import softmax_forward, softmax_backward

__all__ = [
    "causal_mask",
    "split_heads",
    "split_qkv",
    "merge_qkv",
    "merge_heads",
    "attention_forward",
    "attention_backward",
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
