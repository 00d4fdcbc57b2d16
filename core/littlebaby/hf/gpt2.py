"""GPT-2 (`model_type: gpt2`) as littlebaby sees it: `pre` / `mha` / `mlp` with learned positions.

GELU's tanh form, biases everywhere (q, k and v too: `qkv_bias`), usually the head tied to wte
(`tie_embeddings`), LayerNorm eps from the config. Its Conv1D weights are (in, out), as littlebaby's, so a
block's tensors are not transposed; a head of its own (nn.Linear) is (out, in). Files written by
transformers put every tensor under `transformer.`; some older ones have no prefix.
"""

import numpy as np

from littlebaby.errors import UserError, shown
from littlebaby.hf.folder import whole

NAME = "gpt2"
SHAPE = {"c_sequence": "pre", "c_attention": "mha", "c_network": "mlp", "c_position": "learned", "c_tokenizer": "bpe"}
IGNORED = (".attn.bias", ".attn.masked_bias")  # causal-mask buffers in older files: not parameters


def config_of(hf: dict, vocab_size: int) -> dict:
    """A littlebaby config dict for GPT-2's config.json."""
    width, heads = whole(hf, "n_embd"), whole(hf, "n_head")
    activation = hf.get("activation_function", "gelu_new")
    if activation not in ("gelu_new", "gelu_pytorch_tanh"):  # both are GELU's tanh form, littlebaby's mlp
        raise UserError(f"config.json uses activation {shown(activation)}", "littlebaby's mlp is gelu_new only")
    if hf.get("n_inner") not in (None, 4 * width):
        raise UserError(f"config.json has n_inner {shown(hf['n_inner'])}, not 4 x n_embd", "mlp is H -> 4H -> H")
    if hf.get("scale_attn_by_inverse_layer_idx") or hf.get("scale_attn_weights") is False:
        raise UserError("config.json scales attention otherwise than by 1/sqrt(d)", "mha scales by 1/sqrt(d)")
    return {
        **SHAPE,
        "n_ctx": whole(hf, "n_positions"),
        "n_emb": width,
        "head_size": width,
        "n_heads": heads,
        "n_layers": whole(hf, "n_layer"),
        "bias": True,
        "qkv_bias": True,
        "tie_embeddings": bool(hf.get("tie_word_embeddings", True)),
        "norm_eps": hf.get("layer_norm_epsilon", 1e-5),
    }


def check(config, model):
    """Refuse, in one line naming it, what a run has that GPT-2 has not."""
    if config.head_size != config.n_emb or not config.bias:
        raise UserError("GPT-2 has head_size = n_emb and biases in its layers", "export a GPT-2-shaped run")
    names = model.parameters.named()
    if "head.bias" in names and np.any(names["head.bias"] != 0):
        raise UserError(
            "this run's head has a bias, which GPT-2's has not",
            "train with {tie_embeddings=}true (GPT-2's tied head), then export",
            "tie_embeddings",
        )


def hf_config(model, end_id: int | None) -> dict:
    """The config.json of a GPT-2-shaped littlebaby model."""
    config = model.config
    return {
        "architectures": ["GPT2LMHeadModel"],
        "model_type": NAME,
        "vocab_size": model.vocab_size,
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


def prefix(tensors) -> str:
    """ "transformer." as transformers writes GPT-2, or "" for the older files without it."""
    return "transformer." if not tensors or any(name.startswith("transformer.") for name in tensors) else ""


def model_names(model, start: str) -> dict:
    """The model's own tensors (embeddings, final norm, head) -> (their name, transposed)."""
    names = {"wte.weight": (f"{start}wte.weight", False), "wpe.weight": (f"{start}wpe.weight", False)}
    names.update({f"ln_f.{part}": (f"{start}ln_f.{part}", False) for part in ("weight", "bias")})
    if model.head is not None:
        names["head.weight"] = ("lm_head.weight", True)  # nn.Linear: (out, in)
    return names


def layer(start: str, i: int) -> str:
    return f"{start}h.{i}."


def filled(model, start: str) -> dict:
    """Tensors GPT-2 has and a run may lack, as zeros: q, k and v biases."""
    width = 3 * model.config.n_emb
    return {f"{layer(start, i)}attn.c_attn.bias": np.zeros(width, np.float32) for i in range(model.config.n_layers)}
