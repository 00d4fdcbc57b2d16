"""check_cache: generating step by step with a KV cache equals the full forward pass.

Generation feeds a prompt, then one token at a time, each time with the
cache of everything before it. The same outputs must come from a forward
pass without a cache over the same window. Past n_ctx both paths follow the
context policy of `littlebaby/cache.py`: when the window is full, either
continue from its last n_ctx // 2 tokens (the new one included) at positions
0 .. n_ctx // 2 - 1, the cached path resetting and refilling its cache once
("refill"), or drop the oldest token, the cached path sliding its cache by one
while the uncached path feeds the last n_ctx tokens at positions 0 .. n_ctx - 1
("slide", models without absolute positions).

The check works on a whole GPT (token ids) or on one attention block
(random embeddings standing in for tokens, one LayerCache).
"""

import attrs
import numpy as np

from littlebaby.nn.block import Block
from littlebaby.nn.generation import window_logits
from littlebaby.nn.gpt import GPT
from littlebaby.nn.kv_cache import KVCache
from littlebaby.testing.build import build_block, set_training, tiny_config


def generation_chunks(total: int, n_ctx: int, prompt: int, slide: bool = False):
    """(window start, first new index, stop, refill) of each cached forward when `total` tokens are fed.

    The first chunk is the prompt; then one token per chunk, except that,
    without `slide`, a token arriving at a full window starts a new window of
    the last n_ctx // 2 tokens, fed in one chunk into an emptied cache. With
    `slide` the window moves on by one token (the cache slides by one).
    """
    keep = max(1, n_ctx // 2)
    start, stop = 0, min(prompt, n_ctx, total)
    yield start, 0, stop, False
    for t in range(stop, total):
        if t - start == n_ctx and slide:
            start += 1
            yield start, t, t + 1, False
        elif t - start == n_ctx:
            start = t + 1 - keep
            yield start, start, t + 1, True
        else:
            yield start, t, t + 1, False


@attrs.frozen
class CacheReport:
    """Relative error of every cached forward against the uncached one, and the cache's size."""

    errors: list  # (stop, refill, relative error) per chunk
    tol: float
    nbytes: int  # bytes the KV cache holds at the end
    refills: int
    policy: str = "refill"  # or "slide"

    @property
    def worst(self):
        return max(self.errors, key=lambda e: e[2])

    @property
    def ok(self) -> bool:
        return all(e[2] <= self.tol for e in self.errors)

    def __str__(self):
        stop, refill, error = self.worst
        verdict = "ok" if self.ok else "FAILED"
        where = "the refill" if refill else "the step"
        return (
            f"cache check {verdict}: worst relative error {error:.2e} at {where} ending at token {stop} "
            f"(tolerance {self.tol:.0e}, {len(self.errors)} cached forwards, {self.policy} policy, "
            f"{self.refills} refills, cache {self.nbytes} bytes)"
        )


def check_cache(
    target,
    config=None,
    *,
    kind="attention",
    registry=None,
    steps=None,
    prompt=3,
    batch=2,
    seed=0,
    tol=None,
    raise_on_failure=True,
    policy=None,
) -> CacheReport:
    """Cached step-by-step outputs against full forwards, past n_ctx; returns a CacheReport.

    target: a GPT (random token ids are fed), a block instance, or a block
            class or registered name of `kind` (built from `config`, tiny by
            default, with random parameters).
    steps:  tokens fed in all (default 2 n_ctx + 2: at least two refills).
    policy: "refill" or "slide" past n_ctx; a GPT's own (`model.slides`) by default, else "refill".
    Raises AssertionError naming the worst step when an error exceeds tol
    (default 1e-9 in float64, 1e-4 in float32).
    """
    rng = np.random.default_rng(seed)
    if isinstance(target, GPT):
        model = target.eval()
        n_ctx, dtype = model.config.n_ctx, model.parameters.dtype
        stream = rng.integers(0, model.vocab_size, (batch, steps or 2 * n_ctx + 2))
        new_cache = model.new_cache
        policy = policy or ("slide" if model.slides else "refill")

        def run(chunk, cache):
            return model.logits(chunk, cache)  # the model advances cache.pos

        def last_of_window(start, stop):  # a slid cache is sliding-window attention, not a fresh window (generation.py)
            return window_logits(model, stream[:, :stop])[:, None]

    else:
        if isinstance(target, Block):
            block = target
        else:
            config = config or tiny_config(registry)
            block = build_block(kind, target, config, registry, seed)
        set_training(block, False)
        n_ctx, n_emb = block.config.n_ctx, block.config.n_emb
        dtype = next(iter(block.params.values())).dtype if block.params else np.dtype(block.config.dtype)
        stream = rng.standard_normal((batch, steps or 2 * n_ctx + 2, n_emb)).astype(dtype)

        def new_cache():
            return KVCache(1, n_ctx)

        def run(chunk, cache):
            if cache is None:
                return block.forward(chunk)
            out = block.forward(chunk, cache.layers[0])
            cache.pos += chunk.shape[1]  # what the model does after its layers
            return out

        def last_of_window(start, stop):  # one attention layer: a slid cache is a fresh window
            return run(stream[:, start:stop], None)[:, -1:]

    tol = tol if tol is not None else (1e-9 if np.dtype(dtype) == np.float64 else 1e-4)
    policy = policy or "refill"
    if policy not in ("refill", "slide"):
        raise ValueError(f"policy must be 'refill' or 'slide', got {policy!r}")
    cache = new_cache()
    errors, refills = [], 0
    for start, first, stop, refill in generation_chunks(stream.shape[1], n_ctx, prompt, policy == "slide"):
        if refill:
            cache.reset()
            refills += 1
        elif policy == "slide" and cache.pos == n_ctx:  # sliding, the window is full: drop its oldest token
            cache.slide(1)
        cached = run(stream[:, first:stop], cache)
        if policy == "slide" and first > 0:  # one new token
            full = last_of_window(start, stop)
        else:
            full = run(stream[:, start:stop], None)[:, first - start :]
        error = float(np.max(np.abs(cached - full)) / max(float(np.max(np.abs(full))), 1e-12))
        errors.append((stop, refill, error))
    report = CacheReport(errors, tol, cache.nbytes, refills, policy)
    if raise_on_failure and not report.ok:
        raise AssertionError(str(report))
    return report
