"""Fused softmax + cross-entropy, mean over tokens."""

import numpy as np


def cross_entropy(logits, targets):
    """logits (..., V), integer targets (...) -> (mean loss, dlogits (..., V)).

    The gradient is of the MEAN loss, so it is divided by the number of tokens
    (the original returned the gradient of the sum).
    """
    vocab = logits.shape[-1]
    z = logits.reshape(-1, vocab)
    t = targets.reshape(-1)
    n = z.shape[0]
    rows = np.arange(n)
    shifted = z - z.max(axis=1, keepdims=True)
    probs = np.exp(shifted)
    sums = probs.sum(axis=1)
    # -log softmax(z)[t] = log(sum exp) - shifted[t]
    loss = float(np.mean(np.log(sums) - shifted[rows, t]))
    probs /= sums[:, None]
    probs[rows, t] -= 1.0
    probs *= 1.0 / n
    return loss, probs.reshape(logits.shape)


def token_cross_entropy(logits, targets):
    """logits (..., V), integer targets (...) -> each token's loss -log softmax(logits)[target], shaped like targets.

    No gradient: this is for looking at which tokens a model finds hard; the mean of it is cross_entropy's loss.
    """
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_sums = np.log(np.exp(shifted).sum(axis=-1))
    return log_sums - np.take_along_axis(shifted, targets[..., None], axis=-1)[..., 0]
