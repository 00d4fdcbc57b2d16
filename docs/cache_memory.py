"""Measure the KV cache memory of attention blocks for the same model (the figure in docs/plugins.md),
and the parameter count of the model with each installed block swapped in (the README's plugin table).

    uv run python docs/cache_memory.py [config.json]     (default: the shipped baby config)

For each attention block it builds the model, generates past n_ctx with the
cache (the kit's check_cache, which also proves the cached tokens right) and
prints `KVCache.nbytes`: what the cache holds for one sequence at the end.
Blocks that are not installed are left out.
"""

import json
import sys
from importlib.resources import files
from pathlib import Path

from littlebaby.config import BLOCK_KEYS
from littlebaby.errors import UserError
from littlebaby.nn.gpt import GPT
from littlebaby.plugins import resolve
from littlebaby.plugins.registry import default_registry
from littlebaby.testing import check_cache

VARIANTS = (
    ("mha", {}),
    ("gqa", {"n_kv_heads": 2}),
    ("gqa", {"n_kv_heads": 1}),
    ("mla", {"kv_latent": 32}),
    ("mha", {"c_position": "rope"}),
)


def cache_bytes(config_dict: dict, attention: str, options: dict, vocab_size: int = 65) -> int:
    """KVCache.nbytes after generating 2 n_ctx + 2 tokens for one sequence."""
    model = GPT(resolve.config({**config_dict, "c_attention": attention, **options}), vocab_size)
    return check_cache(model, batch=1).nbytes


def main(argv):
    path = Path(argv[1]) if len(argv) > 1 else files("littlebaby.configs") / "baby.json"
    config = json.loads(path.read_text())
    print(
        f"{path.name}: {config.get('n_layers')} layers, n_ctx {config.get('n_ctx')}, head_size "
        f"{config.get('head_size')}, one sequence\n"
    )
    print("| attention | options | KV cache bytes | vs mha |")
    print("|---|---|---|---|")
    base = None
    for attention, options in VARIANTS:
        try:
            nbytes = cache_bytes(config, attention, options)
        except UserError as error:  # not installed
            print(f"| {attention} | {options} | ({error.problem}) | |")
            continue
        base = base or nbytes
        print(
            f"| {attention} | {', '.join(f'{k} {v}' for k, v in options.items()) or '-'} | {nbytes:,} | "
            f"{nbytes / base:.3g} |"
        )

    print("\n| kind | block | parameters | vs the config's |")
    print("|---|---|---|---|")
    own = GPT(resolve.config(config), 65).parameters.data.size
    for entry in default_registry().entries():
        if entry.kind not in BLOCK_KEYS:  # tokenizers and optimizers shape no tensor here
            continue
        key = BLOCK_KEYS[entry.kind]
        count = GPT(resolve.config({**config, key: entry.name}), 65).parameters.data.size
        print(f"| {entry.kind} | {entry.name} | {count:,} | {count / own:.3f} |")


if __name__ == "__main__":
    main(sys.argv)
