"""`export-hf RUN --out DIR`: a run as a Hugging Face model folder that transformers loads with the same logits.

A run exports when each of its blocks names its tensors in the family (`hugging_face`) and its config has a
counterpart there: GPT-2 is pre / mha / mlp with learned positions, head_size equal to n_emb, and the `bpe`
tokenizer. q, k and v biases a run does not have are written as zeros, and so is nothing else: a head bias
that is not all zeros has no place in GPT-2 and is refused, as is any other difference, in one line naming it.
"""

from pathlib import Path

import numpy as np

from littlebaby.errors import UserError
from littlebaby.hf import families, folder
from littlebaby.runs.load import load_named
from littlebaby.store.home import Home
from littlebaby.system import arguments

GPT2_SHAPE = {"c_sequence": "pre", "c_attention": "mha", "c_network": "mlp", "c_tokenizer": "bpe", "pos_emb": True}


def _check_gpt2(config, model):
    for key, wanted in GPT2_SHAPE.items():
        if getattr(config, key) != wanted:
            raise UserError(
                f"GPT-2 has {key} {wanted!r}; this run has {getattr(config, key)!r}",
                f"export a run trained with {{{key}=}}{wanted}" if key != "pos_emb" else "export a GPT-2-shaped run",
                key,
            )
    if config.head_size != config.n_emb or not config.bias:
        raise UserError("GPT-2 has head_size = n_emb and biases in its layers", "export a GPT-2-shaped run")
    names = model.parameters.named()
    if "head.bias" in names and np.any(names["head.bias"] != 0):
        raise UserError(
            "this run's head has a bias, which GPT-2's has not",
            "train with {tie_embeddings=}true (GPT-2's tied head), then export",
            "tie_embeddings",
        )


def tensors_of(model, family: str) -> dict:
    """The family's tensor name -> array for every parameter (a q, k, v bias the run lacks: zeros)."""
    named = model.parameters.named()
    out = {}
    for ours, (theirs, transposed) in families.tensor_names(model, family).items():
        out[theirs] = named[ours].T if transposed else named[ours]
    for i in range(model.config.n_layers):
        out.setdefault(f"transformer.h.{i}.attn.c_attn.bias", np.zeros(3 * model.config.n_emb, np.float32))
    return out


def export_hf(run="last", out=None, home=".") -> list[Path]:
    """Write run as a Hugging Face GPT-2 folder at out; returns the files written."""
    out = arguments.given_path(out, "out", "gpt2-export/")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"{out} exists and is not an empty folder", "give a new folder to write the model into")
    home = Home(home)
    loaded = load_named(home, home.resolve(run))
    config, model, tokenizer = loaded.config, loaded.model, loaded.tokenizer
    _check_gpt2(config, model)
    end_id = tokenizer.end_id
    hf = families.hf_config(config, tokenizer.vocab_size, end_id)
    end = tokenizer.token_text(end_id) if end_id is not None else None
    tokenizer_config = {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": config.n_ctx}
    if end is not None:
        tokenizer_config.update(bos_token=end, eos_token=end, unk_token=end)
    return folder.write(out, hf, tensors_of(model, "gpt2"), tokenizer.to_dict()["library"], tokenizer_config)
