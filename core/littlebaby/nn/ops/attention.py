"""Causal scaled dot-product attention over heads, and the head reshapes.

Shapes: q (B, H, T, d) for the T newest positions; k, v (B, H, S, d) for all
S positions so far (S >= T, S > T when earlier keys come from a KV cache).
Query i sits at position S - T + i and sees keys 0 .. S - T + i.

A score bias (ALiBi's distance penalty, a learned relative bias) is added to the scaled scores before the
mask: any array that broadcasts to (B, H, T, S). Backward can return its gradient, d loss / d (bias as
broadcast), (B, H, T, S): the caller sums it down to the bias's own shape (`unbroadcast`).
"""

import math

import numpy as np

from littlebaby.nn.ops.softmax import softmax_backward, softmax_forward

_masks: dict = {}


def causal_mask(T, S, dtype):
    """Additive (T, S) mask: 0 where a key is visible, -inf-like where it is in the future."""
    key = (T, S, np.dtype(dtype))
    mask = _masks.get(key)
    if mask is None:
        future = np.arange(S)[None, :] > np.arange(S - T, S)[:, None]
        mask = np.where(future, np.finfo(dtype).min / 2, 0.0).astype(dtype)
        mask.flags.writeable = False
        _masks[key] = mask
    return mask


def split_heads(x, n_heads):
    """(B, T, H*d) -> (B, H, T, d), a view."""
    B, T, width = x.shape
    return x.reshape(B, T, n_heads, width // n_heads).transpose(0, 2, 1, 3)


def split_qkv(qkv, n_heads):
    """(B, T, 3 H*d) fused q/k/v projection -> q, k, v (B, H, T, d), views."""
    # One reshape to (B, T, 3, H, d) and one transpose to (3, B, H, T, d): a view whose three
    # entries are q, k and v. Fewer calls than splitting first (cached generation calls this once
    # per block per token), and no np.split, whose generic machinery costs more still.
    B, T, width = qkv.shape
    d = width // (3 * n_heads)
    q, k, v = qkv.reshape(B, T, 3, n_heads, d).transpose(2, 0, 3, 1, 4)
    return q, k, v


def merge_qkv(dq, dk, dv):
    """dq, dk, dv (B, H, T, d) -> (B, T, 3 H*d), the gradient of split_qkv's input."""
    B, H, T, d = dq.shape
    dqkv = np.empty((B, T, 3 * H * d), dtype=dq.dtype)
    # written through split_qkv's views: one copy, where merge_heads then np.concatenate made two
    for view, grad in zip(split_qkv(dqkv, H), (dq, dk, dv)):
        view[...] = grad
    return dqkv


def merge_heads(x):
    """(B, H, T, d) -> (B, T, H*d)."""
    B, H, T, d = x.shape
    return x.transpose(0, 2, 1, 3).reshape(B, T, H * d)


def unbroadcast(grad, shape):
    """The gradient of a value broadcast from `shape` to grad.shape: grad summed over the broadcast axes."""
    extra = grad.ndim - len(shape)
    grad = grad.sum(axis=tuple(range(extra))) if extra else grad
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    return grad.sum(axis=axes, keepdims=True) if axes else grad


def attention_forward_reference(q, k, v, dropout_mask=None, bias=None):
    """softmax(q k^T / sqrt(d) + bias + causal mask) v, queries-major; returns what attention_forward returns."""
    T, S = q.shape[2], k.shape[2]
    scores = q @ k.swapaxes(-1, -2) / math.sqrt(q.shape[-1])  # (B, H, T, S)
    if bias is not None:
        scores = scores + bias
    weights = softmax_forward(scores + causal_mask(T, S, scores.dtype), axis=-1)  # each query's row sums to 1
    used = weights if dropout_mask is None else weights * dropout_mask
    return used @ v, weights, used  # o (B, H, T, d)


def attention_backward_reference(do, q, k, v, weights, used, dropout_mask=None, bias_grad=False):
    """do (B, H, T, d) -> (dq, dk, dv), and the bias's (B, H, T, S) gradient when bias_grad."""
    dv = used.swapaxes(-1, -2) @ do  # (B, H, S, d)
    dweights = do @ v.swapaxes(-1, -2)  # (B, H, T, S)
    if dropout_mask is not None:
        dweights = dweights * dropout_mask
    dbias = softmax_backward(dweights, weights, axis=-1)  # the bias enters the scores as it is
    dscores = dbias / math.sqrt(q.shape[-1])  # (B, H, T, S)
    dq = dscores @ k  # (B, H, T, d)
    dk = dscores.swapaxes(-1, -2) @ q  # (B, H, S, d)
    return (dq, dk, dv, dbias) if bias_grad else (dq, dk, dv)


def attention_forward(q, k, v, dropout_mask=None, bias=None):
    """-> (o (B, H, T, d), weights (B, H, T, S), weights after dropout); bias broadcasts to (B, H, T, S)."""
    T, S = q.shape[2], k.shape[2]
    # Same math as attention_forward_reference, with the scores stored keys-major (B, H, S, T): the
    # softmax then reduces over axis -2, vectorised across the contiguous query axis, instead of
    # short rows one at a time. Weights are returned as a (B, H, T, S) view.
    scores = k @ q.swapaxes(-1, -2)
    scores *= 1.0 / math.sqrt(q.shape[-1])
    if bias is not None:
        scores += np.broadcast_to(bias, scores.shape[:-2] + (T, S)).swapaxes(-1, -2)
    if T > 1:  # a single query is the newest position: it sees every key, its mask is all zeros
        scores += causal_mask(T, S, scores.dtype).T
    weights = softmax_forward(scores, axis=-2).swapaxes(-1, -2)
    used = weights if dropout_mask is None else weights * dropout_mask
    return used @ v, weights, used


def attention_backward(do, q, k, v, weights, used, dropout_mask=None, bias_grad=False):
    """do (B, H, T, d) -> (dq, dk, dv) shaped like q, k, v; with bias_grad also the bias's gradient (B, H, T, S)."""
    dv = used.swapaxes(-1, -2) @ do
    dweights = v @ do.swapaxes(-1, -2)  # (B, H, S, T), keys-major as in forward
    if dropout_mask is not None:
        dweights *= dropout_mask.swapaxes(-1, -2)
    dscores = softmax_backward(dweights, weights.swapaxes(-1, -2), axis=-2)
    dbias = dscores.swapaxes(-1, -2).copy() if bias_grad else None  # before the scale: the bias is not scaled
    dscores *= 1.0 / math.sqrt(q.shape[-1])
    dq = dscores.swapaxes(-1, -2) @ k
    dk = dscores @ q
    return (dq, dk, dv, dbias) if bias_grad else (dq, dk, dv)
