"""`export-hf RUN --out DIR`: a run as a Hugging Face model folder that transformers loads with the same logits.

A run exports when each of its blocks names its tensors in the family (`hugging_face`) and its config has a
counterpart there, the family chosen by its sequence block: GPT-2 is pre / mha / mlp with learned positions,
head_size equal to n_emb; Llama is rms / mha or gqa / swiglu with rope and no biases; both take the `bpe`
tokenizer. GPT-2's q, k and v biases a run does not have are written as zeros, and so is nothing else: a head
bias that is not all zeros has no place in GPT-2 and is refused, as is any other difference, in one line
naming it.
"""

from pathlib import Path

import numpy as np

from littlebaby.errors import UserError
from littlebaby.hf import families, folder
from littlebaby.runs.load import load_named
from littlebaby.store.home import Home
from littlebaby.system import arguments


def tensors_of(model, kin) -> dict:
    """The family's tensor name -> array for every parameter, fused ones split; what the run lacks: zeros."""
    named = model.parameters.named()
    out = kin.filled(model, kin.prefix({}))
    for ours, theirs in families.tensor_names(model, kin, kin.prefix({})).items():
        if not isinstance(theirs, list):
            out[theirs[0]] = named[ours].T if theirs[1] else named[ours]
            continue
        ends = np.cumsum([width for _, width in theirs])[:-1]
        for (name, _), columns in zip(theirs, np.split(named[ours], ends, axis=1)):
            out[name] = columns.T
    return out


def export_hf(run="last", out=None, home=".") -> list[Path]:
    """Write run as a Hugging Face GPT-2 or Llama folder at out; returns the files written."""
    out = arguments.given_path(out, "out", "gpt2-export/")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"{out} exists and is not an empty folder", "give a new folder to write the model into")
    home = Home(home)
    loaded = load_named(home, home.resolve(run))
    config, model, tokenizer = loaded.config, loaded.model, loaded.tokenizer
    kin = families.family_of_run(config)
    kin.check(config, model)
    end_id = tokenizer.end_id
    hf = kin.hf_config(model, end_id)
    end = tokenizer.token_text(end_id) if end_id is not None else None
    tokenizer_config = {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": config.n_ctx}
    if end is not None:
        tokenizer_config.update(bos_token=end, eos_token=end, unk_token=end)
    return folder.write(out, hf, tensors_of(model, kin), tokenizer.to_dict()["library"], tokenizer_config)
