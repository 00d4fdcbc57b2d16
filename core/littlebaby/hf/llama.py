"""Llama (`model_type: llama`: SmolLM- and TinyLlama-shaped models) as littlebaby sees it.

`rms` / `gqa` (or `mha` when every query head has its own key and value) / `swiglu`, `c_position: rope`
(rotate-half pairing, which is littlebaby's, at `rope_theta`), no biases, the head tied or not, RMSNorm eps from
the config. Its weights are nn.Linear (out, in): littlebaby's are (in, out), so every matrix is transposed, and
q, k, v (and swiglu's gate and up) are separate where littlebaby fuses them into one weight's columns.
transformers 4.x writes the base as `rope_theta`, 5.x as `rope_parameters`; both are read, both written.
"""

from littlebaby.errors import UserError, shown
from littlebaby.hf.folder import whole

NAME = "llama"
SHAPE = {"c_sequence": "rms", "c_network": "swiglu", "c_position": "rope", "c_tokenizer": "bpe"}
ATTENTIONS = ("mha", "gqa")
IGNORED = (".rotary_emb.inv_freq",)  # a buffer some files keep: recomputed, not a parameter


def _rope(hf: dict) -> float:
    """The rotation base, refusing any scaling of it (linear, dynamic, llama3, yarn: not littlebaby's rope)."""
    parameters = hf.get("rope_parameters") or {}
    scaling = hf.get("rope_scaling") or {}
    kind = parameters.get("rope_type", scaling.get("rope_type", scaling.get("type", "default")))
    if kind != "default":
        raise UserError(f"config.json scales its rotary positions ({shown(kind)})", "littlebaby's rope is unscaled")
    if hf.get("partial_rotary_factor", 1.0) != 1.0:
        raise UserError("config.json rotates only part of each head", "littlebaby's rope rotates whole heads")
    base = parameters.get("rope_theta", hf.get("rope_theta", 10000.0))
    if isinstance(base, bool) or not isinstance(base, (int, float)) or not base > 0:
        raise UserError(f"config.json gives rope_theta as {shown(base)}", "restore config.json")
    return float(base)


def config_of(hf: dict, vocab_size: int) -> dict:
    """A littlebaby config dict for Llama's config.json."""
    width, heads = whole(hf, "hidden_size"), whole(hf, "num_attention_heads")
    kv_heads, head_width = whole(hf, "num_key_value_heads", heads), whole(hf, "head_dim", width // heads)
    if heads % kv_heads:
        raise UserError(f"config.json has {heads} query heads for {kv_heads} key/value heads", "restore config.json")
    if hf.get("hidden_act", "silu") != "silu":
        raise UserError(f"config.json uses activation {shown(hf['hidden_act'])}", "littlebaby's swiglu is silu")
    if hf.get("attention_bias") or hf.get("mlp_bias"):
        raise UserError("config.json gives its attention or network biases", "littlebaby reads Llama without biases")
    shared = {"c_attention": "gqa", "n_kv_heads": kv_heads} if kv_heads != heads else {"c_attention": "mha"}
    return {
        **SHAPE,
        **shared,
        "rope_base": _rope(hf),
        "swiglu_hidden": whole(hf, "intermediate_size"),
        "n_ctx": whole(hf, "max_position_embeddings"),
        "n_emb": width,
        "head_size": heads * head_width,
        "n_heads": heads,
        "n_layers": whole(hf, "num_hidden_layers"),
        "bias": False,
        "qkv_bias": False,
        "tie_embeddings": bool(hf.get("tie_word_embeddings", False)),
        "norm_eps": hf.get("rms_norm_eps", 1e-6),
    }


def check(config, model):
    """Refuse, in one line naming it, what a run has that Llama has not."""
    if config.c_attention not in ATTENTIONS:
        raise UserError(
            f"Llama's attention is mha or gqa; this run has {config.c_attention!r}",
            "export a run trained with {c_attention=}gqa or mha",
            "c_attention",
        )
    if config.bias or config.qkv_bias:
        raise UserError("Llama has no biases; this run has", "train with {bias=}false (and qkv_bias false)", "bias")
    if config.options.get("rope_with_wpe"):
        raise UserError("Llama has no learned position table", "train without {rope_with_wpe=}true", "rope_with_wpe")


def hf_config(model, end_id: int | None) -> dict:
    """The config.json of a Llama-shaped littlebaby model."""
    config = model.config
    base = config.options["rope_base"]
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": NAME,
        "vocab_size": model.vocab_size,
        "hidden_size": config.n_emb,
        "intermediate_size": model.layers[0].network.hidden,
        "num_hidden_layers": config.n_layers,
        "num_attention_heads": config.n_heads,
        "num_key_value_heads": config.options.get("n_kv_heads", config.n_heads),
        "head_dim": config.d_k,
        "max_position_embeddings": config.n_ctx,
        "rms_norm_eps": config.norm_eps,
        "rope_theta": base,
        "rope_parameters": {"rope_theta": base, "rope_type": "default"},
        "hidden_act": "silu",
        "attention_bias": False,
        "mlp_bias": False,
        "attention_dropout": config.dropout,
        "tie_word_embeddings": config.tie_embeddings,
        "bos_token_id": end_id,
        "eos_token_id": end_id,
        "dtype": "float32",
    }


def prefix(tensors) -> str:
    return "model."


def model_names(model, start: str) -> dict:
    """The model's own tensors (embeddings, final norm, head) -> (their name, transposed)."""
    names = {"wte.weight": (f"{start}embed_tokens.weight", False), "ln_f.weight": (f"{start}norm.weight", False)}
    if model.head is not None:
        names["head.weight"] = ("lm_head.weight", True)
    return names


def layer(start: str, i: int) -> str:
    return f"{start}layers.{i}."


def filled(model, start: str) -> dict:
    return {}
