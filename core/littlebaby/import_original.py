"""Reading the original notebook's JSON files (config, tokenizer, `GPT.save` weights).

The notebook saved each weight as a nested list under a flat key
(`block_0_mha_q_weight`, `block_0_moe_expert_2_up_bias`, ...). Its layout maps
onto the built-in blocks' parameters as:

    wte_weight, wpe_weight               -> wte.weight, wpe.weight
    ln_f_gamma/beta, lm_head_weight/bias -> ln_f.weight/bias, head.weight/bias
    block_i_ln{1,2}_gamma/beta           -> blocks.i.ln{1,2}.weight/bias
    block_i_{mha,moh}_{q,k,v}_weight     -> blocks.i.attention.qkv.weight (q | k | v columns)
    block_i_mha_c_*, block_i_moh_m_*     -> blocks.i.attention.proj.*
    block_i_moh_g_weight                 -> blocks.i.attention.gate.weight
    block_i_mlp_proj_{up,dn}_*           -> blocks.i.network.{up,down}.*
    block_i_moe_g_weight                 -> blocks.i.network.gate.weight
    block_i_moe_expert_e_{up,dn}_*       -> blocks.i.network.{up,down}.* [expert e]

Both store weights as (n_in, n_out) used as x @ W, so nothing is transposed.
"""

import numpy as np

from littlebaby import config as configs
from littlebaby.checkpoint import copy_tensors
from littlebaby.errors import UserError
from littlebaby.files import read_json
from littlebaby.model import build_model
from littlebaby.tokenizer_char import CharTokenizer


class _Weights:
    """The notebook's weight dict, read as arrays; a missing key is a UserError."""

    def __init__(self, data: dict, path, dtype):
        self.data, self.path, self.dtype = data, path, dtype

    def __call__(self, key: str):
        value = self.data.get(key)
        if value is None:
            raise UserError(f"original model file {self.path} has no {key!r}", "do the config and model files belong together?")
        try:
            return np.asarray(value, dtype=self.dtype)
        except (TypeError, ValueError):
            raise UserError(f"original model file {self.path}: {key!r} is not a numeric array", "is it a file written by GPT.save?") from None

    def bias(self, key: str, size: int):
        """A bias the notebook may have saved as null (no bias): zeros then."""
        return self(key) if self.data.get(key) is not None else np.zeros(size, dtype=self.dtype)


def tensors(weights: _Weights, config) -> dict:
    """Our parameter name -> array, from the notebook's keys (see the module docstring)."""
    if config.c_attention not in ("mha", "moh") or config.c_network not in ("mlp", "moe"):
        raise UserError(
            f"the original notebook has no {config.c_attention}/{config.c_network} blocks",
            "its configs use c_attention mha or moh and c_network mlp or moe",
        )
    C = config.n_emb
    out = {
        "wte.weight": weights("wte_weight"),
        "wpe.weight": weights("wpe_weight"),
        "ln_f.weight": weights("ln_f_gamma"),
        "ln_f.bias": weights("ln_f_beta"),
        "head.weight": weights("lm_head_weight"),
    }
    out["head.bias"] = weights.bias("lm_head_bias", out["head.weight"].shape[-1])
    for i in range(config.n_layers):
        old, new = f"block_{i}_", f"blocks.{i}."
        for n in (1, 2):
            out[f"{new}ln{n}.weight"] = weights(f"{old}ln{n}_gamma")
            out[f"{new}ln{n}.bias"] = weights(f"{old}ln{n}_beta")
        att = f"{old}{config.c_attention}_"
        out[new + "attention.qkv.weight"] = np.concatenate([weights(f"{att}{p}_weight") for p in "qkv"], axis=1)
        proj = "c" if config.c_attention == "mha" else "m"
        out[new + "attention.proj.weight"] = weights(f"{att}{proj}_weight")
        out[new + "attention.proj.bias"] = weights.bias(f"{att}{proj}_bias", C)
        if config.c_attention == "moh":
            out[new + "attention.gate.weight"] = weights(f"{att}g_weight")
        if config.c_network == "mlp":
            for ours, theirs in (("up", "proj_up"), ("down", "proj_dn")):
                out[f"{new}network.{ours}.weight"] = weights(f"{old}mlp_{theirs}_weight")
                out[f"{new}network.{ours}.bias"] = weights.bias(f"{old}mlp_{theirs}_bias", out[f"{new}network.{ours}.weight"].shape[1])
        else:
            experts = range(config.options["n_experts"])
            expert = f"{old}moe_expert_"
            out[new + "network.gate.weight"] = weights(f"{old}moe_g_weight")
            # ours stacks the experts: up (C, E, F), down (E, F, C), biases (E, F) and (E, C)
            out[new + "network.up.weight"] = np.stack([weights(f"{expert}{e}_up_weight") for e in experts], axis=1)
            out[new + "network.up.bias"] = np.stack([weights.bias(f"{expert}{e}_up_bias", 4 * C) for e in experts])
            out[new + "network.down.weight"] = np.stack([weights(f"{expert}{e}_dn_weight") for e in experts])
            out[new + "network.down.bias"] = np.stack([weights.bias(f"{expert}{e}_dn_bias", C) for e in experts])
    return out


def convert(raw_config: dict, tokenizer_path, model_path, registry=None):
    """(config, tokenizer, model) from the notebook's config dict and two files; validates all first."""
    raw = dict(raw_config)
    data = read_json(model_path, "original model")
    if not isinstance(data, dict) or "wte_weight" not in data:
        raise UserError(f"{model_path} is not a model file of the original notebook (no 'wte_weight')", "pass the JSON written by GPT.save")
    if raw.get("c_network") == "moe":
        expansion = data.get("block_0_moe_expansion", 4)
        if expansion != 4:
            raise UserError(f"the original model uses moe expansion {expansion}", "littlebaby's moe expands 4x; only those import")
        raw.setdefault("n_experts", data.get("block_0_moe_n_experts", 4))
    config = configs.from_dict(raw, registry)
    tokenizer = CharTokenizer.from_dict(read_json(tokenizer_path, "tokenizer"), f"tokenizer file {tokenizer_path}")
    weights = tensors(_Weights(data, model_path, config.dtype), config)
    vocab_size = weights["wte.weight"].shape[0]
    if vocab_size != tokenizer.vocab_size:
        raise UserError(
            f"the tokenizer has {tokenizer.vocab_size} characters but the original model has {vocab_size} embedding rows",
            "pass the tokenizer file saved with this model",
        )
    model = build_model(config, vocab_size, registry)
    copy_tensors(model, weights, f"original model file {model_path}")
    return config, tokenizer, model
