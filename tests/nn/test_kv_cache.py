"""cache.py: extend fills slots in order; slide drops the oldest entries of every buffer while positions go on."""

import numpy as np

from littlebaby.nn.kv_cache import KVCache


def test_slide_moves_every_buffer_left_and_positions_keep_counting():
    cache = KVCache(n_layers=2, n_ctx=4)
    entries = np.arange(2 * 4 * 3, dtype=np.float64).reshape(2, 4, 3)  # (heads, time, width)
    for layer in cache.layers:
        layer.extend("k", entries)
        layer.extend("latent", entries[0])  # another rank: time is still axis -2
    cache.pos = 4
    cache.slide(1)
    assert (cache.pos, cache.dropped, cache.layers[1].position) == (3, 1, 4)
    new = np.full((2, 1, 3), -1.0)
    for layer in cache.layers:
        got = layer.extend("k", new)
        np.testing.assert_array_equal(got, np.concatenate([entries[:, 1:], new], axis=1))
        np.testing.assert_array_equal(layer.buffers["latent"][:3], entries[0, 1:])
    cache.pos = 4
    cache.slide(10)  # at most what is there
    assert (cache.pos, cache.dropped) == (0, 5)
    cache.reset()
    assert (cache.pos, cache.dropped, cache.layers[0].position) == (0, 0, 0)


def test_a_cache_is_freed_when_generation_lets_go_of_it_not_at_the_next_collection():
    import gc
    import weakref

    from littlebaby.nn.kv_cache import KVCache

    gc.disable()
    try:
        cache = KVCache(2, 8)
        buffers = cache.layers[0].buffers
        cache.layers[0].extend("k", np.zeros((1, 1, 2, 3)))
        alive = weakref.ref(cache.layers[0])
        del cache, buffers
        assert alive() is None  # no reference cycle between the cache and its layers
    finally:
        gc.enable()
