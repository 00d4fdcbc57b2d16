"""The model families a Hugging Face folder may hold, as littlebaby configs, and where each tensor goes.

GPT-2 (`model_type: gpt2`) is littlebaby's `pre` / `mha` / `mlp` with learned positions, GELU's tanh form,
biases everywhere (q, k and v too: `qkv_bias`), and usually the head tied to wte (`tie_embeddings`). Its
Conv1D weights are (in, out), as littlebaby's, so nothing is transposed; a head of its own (nn.Linear) is
(out, in). The model's own tensors (embeddings, final norm, head) are named here; each block names its own in
its `hugging_face(family, config, options)` classmethod, as blocks name the original notebook's.
"""

from littlebaby.errors import UserError, shown
from littlebaby.nn.block import Block

FAMILIES = ("gpt2",)
IMPORTED_RECIPE = {"lr": 1e-4, "min_lr": 1e-5, "warmup_steps": 20, "dropout": 0.0}  # a finetune's, not a scratch run's


def _whole(hf: dict, key: str, default=None) -> int:
    value = hf.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UserError(f"config.json gives {key} as {shown(value)}, not a whole number >= 1", "restore config.json")
    return value


def config_of(hf: dict, vocab_size: int) -> dict:
    """A littlebaby config dict for a Hugging Face config.json (its family checked)."""
    family = hf.get("model_type")
    if family not in FAMILIES:
        raise UserError(
            f"config.json is a {shown(family)} model; littlebaby imports {', '.join(FAMILIES)}",
            "import a GPT-2 folder (Llama-family folders are not read yet)",
        )
    width, heads = _whole(hf, "n_embd"), _whole(hf, "n_head")
    activation = hf.get("activation_function", "gelu_new")
    if activation not in ("gelu_new", "gelu_pytorch_tanh"):  # both are GELU's tanh form, littlebaby's mlp
        raise UserError(f"config.json uses activation {shown(activation)}", "littlebaby's mlp is gelu_new only")
    if hf.get("n_inner") not in (None, 4 * width):
        raise UserError(f"config.json has n_inner {shown(hf['n_inner'])}, not 4 x n_embd", "mlp is H -> 4H -> H")
    if hf.get("scale_attn_by_inverse_layer_idx") or hf.get("scale_attn_weights") is False:
        raise UserError("config.json scales attention otherwise than by 1/sqrt(d)", "mha scales by 1/sqrt(d)")
    if _whole(hf, "vocab_size") != vocab_size:
        raise UserError(
            f"config.json has vocab_size {hf['vocab_size']} but tokenizer.json {vocab_size} tokens",
            "give the tokenizer that belongs to the model",
        )
    eps = hf.get("layer_norm_epsilon", 1e-5)
    return {
        "c_sequence": "pre",
        "c_attention": "mha",
        "c_network": "mlp",
        "c_tokenizer": "bpe",
        "vocab_size": vocab_size,
        "n_ctx": _whole(hf, "n_positions"),
        "n_emb": width,
        "head_size": width,
        "n_heads": heads,
        "n_layers": _whole(hf, "n_layer"),
        "pos_emb": True,
        "bias": True,
        "qkv_bias": True,
        "tie_embeddings": bool(hf.get("tie_word_embeddings", True)),
        "norm_eps": eps,
        **IMPORTED_RECIPE,
    }


def hf_config(config, vocab_size: int, end_id: int | None) -> dict:
    """The config.json of a GPT-2-shaped littlebaby config."""
    return {
        "architectures": ["GPT2LMHeadModel"],
        "model_type": "gpt2",
        "vocab_size": vocab_size,
        "n_positions": config.n_ctx,
        "n_embd": config.n_emb,
        "n_head": config.n_heads,
        "n_layer": config.n_layers,
        "n_inner": None,
        "activation_function": "gelu_new",
        "layer_norm_epsilon": config.norm_eps,
        "tie_word_embeddings": config.tie_embeddings,
        "resid_pdrop": config.dropout,
        "embd_pdrop": config.dropout,
        "attn_pdrop": config.dropout,
        "scale_attn_weights": True,
        "bos_token_id": end_id,
        "eos_token_id": end_id,
        "dtype": "float32",
    }


def tensor_names(model, family: str, prefix: str = "transformer.") -> dict:
    """Our parameter name -> (its name in the family's file, whether stored transposed), for every tensor."""
    config = model.config
    names = {"wte.weight": (f"{prefix}wte.weight", False), "wpe.weight": (f"{prefix}wpe.weight", False)}
    names.update({f"ln_f.{part}": (f"{prefix}ln_f.{part}", False) for part in ("weight", "bias")})
    if model.head is not None:
        names["head.weight"] = ("lm_head.weight", True)  # nn.Linear: (out, in)
    blocks = {entry.cls: entry.name for entry in config.selected.values()}
    for i, layer in enumerate(model.layers):
        for path, block in layer.named_layers(f"blocks.{i}."):
            if not isinstance(block, Block):  # a core layer: its owning block names it
                continue
            method = getattr(type(block), "hugging_face", None)
            mapped = method(family, config, block.options) if method is not None else None
            if mapped is None:
                raise UserError(
                    f"the {blocks.get(type(block), type(block).__name__)} block has no counterpart in {family}",
                    "GPT-2's blocks are c_sequence pre, c_attention mha, c_network mlp",
                )
            names.update({path + ours: (f"{prefix}h.{i}.{theirs}", flip) for ours, (theirs, flip) in mapped.items()})
    return names
