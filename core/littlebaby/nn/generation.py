"""Sampling text from a model, with or without the KV cache, under one context policy.

The prompt keeps its last n_ctx tokens. When a new token would make the window longer than n_ctx, a model
with learned absolute positions refills: it continues from the window's last n_ctx // 2 tokens (the cache
is reset and refilled once). A model without them slides (`model.slides`): the cache drops its oldest
entry, which is sliding-window attention; the uncached path computes the same function from the tokens
(`window_logits`, a reference, not a fast path). Either way both paths give the same logits, and the same
seed the same text (docs/context.md). Sampling: logits / temperature (0: greedy), the top k, one draw from
the caller's seeded generator.
"""

import contextlib

import numpy as np

from littlebaby.nn import sizes
from littlebaby.system import blas, memory

# Generation's GEMMs are tiny (one token, or one window): BLAS threads cost more than they
# give there (they spin-wait for work, worst on a busy machine, and a cache refill pays
# their wake-up), so generation runs on one BLAS thread when the cache is used or every
# window holds at most this many ids (n_ctx); model.logits itself uses whatever BLAS is set
# to, like any other forward.
ONE_THREAD_IDS = 256


def sample(logits, temperature: float, top_k: int, rng) -> int:
    """One token id from logits (V,): greedy at temperature 0, else softmax(logits / T) over the top k."""
    if temperature == 0:
        return int(np.argmax(logits))
    scaled = logits.astype(np.float64)
    scaled -= np.maximum.reduce(
        scaled
    )  # <= 0, so a tiny temperature sends the others to -inf (probability 0), never to inf - inf
    if temperature != 1.0:
        with np.errstate(over="ignore"):
            scaled /= temperature
    if 0 < top_k < scaled.shape[0]:
        threshold = np.partition(scaled, -top_k)[-top_k]
        scaled[scaled < threshold] = -np.inf
    # softmax(scaled) = weights / their sum, weights = exp(scaled) (the max is 0 already): the
    # inverse-CDF draw below compares one uniform number times the sum with the running sums, so
    # the division is never needed. One uniform number per token keeps the stream easy to reproduce.
    # (The arrays' own methods, not np.cumsum / np.searchsorted: the same numbers without the
    # wrappers' per-call cost, paid once per generated token.)
    weights = np.exp(scaled, out=scaled)
    running = weights.cumsum()
    index = int(running.searchsorted(rng.random() * running[-1], side="right"))
    return min(index, running.shape[0] - 1)


def window_reach(config) -> int:
    """Tokens the last one depends on under sliding-window attention: n_ctx - 1 more per layer."""
    return config.n_layers * (config.n_ctx - 1) + 1


def window_logits(model, ids):
    """Logits (B, V) of the last of ids (B, T) under sliding-window attention, without a cache.

    What a slid cache computes: the state of token t after layer l is the last row of layer l
    run on the (at most n_ctx) states of layer l - 1 that end at t. Only the states a later
    layer still reads are computed. For a model without absolute positions (model.slides).
    """
    n_ctx, n_layers = model.config.n_ctx, len(model.layers)
    x = model.wte.forward(np.asarray(ids)[:, -window_reach(model.config) :])  # (B, T, n_emb)
    for depth, layer in enumerate(model.layers):
        T = x.shape[1]
        needed = min(T, (n_layers - depth - 1) * (n_ctx - 1) + 1)  # states the layers above read
        rows = [layer.forward(x[:, max(0, t - n_ctx + 1) : t + 1])[:, -1:] for t in range(T - needed, T)]
        x = np.concatenate(rows, axis=1)  # (B, needed, n_emb)
    return model.head_forward(model.ln_f.forward(x))[:, -1]


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
    stop_id: int | None = None,
) -> list[int]:
    """Sample max_tokens ids after prompt_ids (a non-empty sequence), or fewer: sampling stop_id (an end-of-text
    token) ends it, that token left out.

    on_token(id) is called as each token is sampled (streaming); on_logits(logits (V,))
    with the logits each token is sampled from (tests compare the two paths with it).
    """
    n_ctx = model.config.n_ctx
    slides = model.slides
    keep = window_reach(model.config) if slides else max(1, n_ctx // 2)
    rng = rng if rng is not None else np.random.default_rng()
    history = [int(i) for i in prompt_ids][-n_ctx:]
    # the longest forward of the loop, checked once (model.logits, told check=False, does not ask per token)
    longest = min(n_ctx, len(history) + max_tokens)
    needs = sizes.window_needs(model.config, model.vocab_size, longest)
    memory.require(needs, "generating", "give a shorter prompt or ask fewer tokens")
    cache = model.new_cache() if use_cache else None
    was_training = model.training
    model.eval()

    def last_logits(ids):
        return model.logits(np.asarray(ids, dtype=np.int64), cache, check=False)[-1]

    # set once for the whole loop, not per token: setting OpenBLAS's thread count has a cost too
    one_thread = cache is not None or n_ctx <= ONE_THREAD_IDS
    with blas.limit(1) if one_thread else contextlib.nullcontext():
        try:
            logits = last_logits(history)
            generated = []
            for i in range(max_tokens):
                if on_logits is not None:
                    on_logits(logits)
                token = sample(logits, temperature, top_k, rng)
                if token == stop_id:
                    break
                generated.append(token)
                if on_token is not None:
                    on_token(token)
                if i == max_tokens - 1:
                    break
                history.append(token)
                if slides:  # the window moves on by one token: the cache drops its oldest one when full
                    del history[:-keep]
                    if cache is not None and cache.pos == n_ctx:
                        cache.slide(1)
                    if cache is not None:
                        logits = last_logits([token])
                    elif len(history) <= n_ctx:  # nothing slid out yet: a plain forward is the same function
                        logits = last_logits(history)
                    else:  # a reference path of small windows: one BLAS thread (already so when one_thread)
                        with contextlib.nullcontext() if one_thread else blas.limit(1):
                            logits = window_logits(model, np.asarray([history], dtype=np.int64))[0]
                elif len(history) > n_ctx:  # the window is full: continue from its last half
                    del history[:-keep]
                    if cache is not None:
                        cache.reset()
                    logits = last_logits(history)
                else:
                    logits = last_logits(history if cache is None else [token])
            return generated
        finally:
            model.train(was_training)
