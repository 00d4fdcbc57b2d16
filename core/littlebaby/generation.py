"""Sampling text from a model, with or without the KV cache, under one context policy.

Context policy (see cache.py; positions are learned and absolute, so a cache
cannot slide): the prompt keeps its last n_ctx tokens; when a new token would
make the window longer than n_ctx, generation continues from the window's last
n_ctx // 2 tokens. The cached path then resets its cache and refills it from
those tokens once; the uncached path feeds exactly the same window every step.
Both paths therefore compute the same logits for the same tokens at the same
positions, and the same seed gives the same text.

Sampling: logits / temperature (0 = greedy), optionally only the top k, then
a draw from a numpy Generator seeded by the caller.
"""

import contextlib

import numpy as np

from littlebaby import blas
from littlebaby.ops.softmax import softmax_forward

# Generation's GEMMs are tiny (one token, or one window): BLAS threads cost more than they
# give there (they spin-wait for work, worst on a busy machine, and a cache refill pays
# their wake-up), so up to this many ids run on one BLAS thread; model.logits itself uses
# whatever BLAS is set to, like any other forward.
ONE_THREAD_IDS = 256


def sample(logits, temperature: float, top_k: int, rng) -> int:
    """One token id from logits (V,): greedy at temperature 0, else softmax(logits / T) over the top k."""
    if temperature == 0:
        return int(np.argmax(logits))
    scaled = logits.astype(np.float64) / temperature
    if 0 < top_k < scaled.shape[0]:
        threshold = np.partition(scaled, -top_k)[-top_k]
        scaled[scaled < threshold] = -np.inf
    probs = softmax_forward(scaled)
    # inverse-CDF draw: one uniform number per token, so the stream is easy to reproduce
    index = int(np.searchsorted(np.cumsum(probs), rng.random() * probs.sum(), side="right"))
    return min(index, probs.shape[0] - 1)


def generate(
    model,
    prompt_ids,
    max_tokens: int,
    temperature: float = 1.0,
    top_k: int = 0,
    rng=None,
    use_cache: bool = True,
    on_token=None,
    on_logits=None,
) -> list[int]:
    """Sample max_tokens ids after prompt_ids (a non-empty sequence).

    on_token(id) is called as each token is sampled (streaming); on_logits(logits (V,))
    with the logits each token is sampled from (tests compare the two paths with it).
    """
    n_ctx = model.config.n_ctx
    keep = max(1, n_ctx // 2)
    rng = rng if rng is not None else np.random.default_rng()
    window = [int(i) for i in prompt_ids][-n_ctx:]
    cache = model.new_cache() if use_cache else None
    was_training = model.training
    model.eval()

    def last_logits(ids):
        one_thread = cache is not None or len(ids) <= ONE_THREAD_IDS
        with blas.limit(1) if one_thread else contextlib.nullcontext():
            return model.logits(np.asarray(ids, dtype=np.int64), cache)[-1]

    try:
        logits = last_logits(window)
        generated = []
        for i in range(max_tokens):
            if on_logits is not None:
                on_logits(logits)
            token = sample(logits, temperature, top_k, rng)
            generated.append(token)
            if on_token is not None:
                on_token(token)
            if i == max_tokens - 1:
                break
            window.append(token)
            if len(window) > n_ctx:  # the window is full: continue from its last half
                window = window[-keep:]
                if cache is not None:
                    cache.reset()
                    logits = last_logits(window)
            if cache is None:
                logits = last_logits(window)
            elif cache.pos < len(window):  # not just refilled: feed the new token only
                logits = last_logits([token])
        return generated
    finally:
        model.train(was_training)
