"""Reading the original notebook's JSON files (config, tokenizer, `GPT.save` weights).

The notebook saved each weight as a nested list under a flat key
(`block_0_mha_q_weight`, `block_0_moe_expert_2_up_bias`, ...). The model's
own keys map here:

    wte_weight, wpe_weight               -> wte.weight, wpe.weight
    ln_f_gamma/beta, lm_head_weight/bias -> ln_f.weight/bias, head.weight/bias

and each block maps layer i's keys (`block_i_...`) onto its own parameters in
its `from_original` classmethod (block.py): pre and post their LayerNorms,
mha and moh their q/k/v, projection and gate, mlp and moe their experts. A
block without one is not in the notebook (a one-line error).
Both store weights as (n_in, n_out) used as x @ W, so nothing is transposed.
"""

from pathlib import Path

import numpy as np

from littlebaby.config import architecture_keys
from littlebaby.configs import load_file, with_overrides
from littlebaby.errors import UserError
from littlebaby.nn.block import Block
from littlebaby.nn.gpt import GPT
from littlebaby.plugins import resolve
from littlebaby.runs.setup import creating, made_label, new_run, write_run_files
from littlebaby.store.home import Home
from littlebaby.store.records import Data
from littlebaby.store.report import Report
from littlebaby.store.weights import copy_tensors, save_model
from littlebaby.system import arguments, memory, reading
from littlebaby.text.char import CharTokenizer
from littlebaby.training.session import RunResult


class OriginalWeights:
    """The notebook's weight dict, read as arrays; a missing key is a UserError.

    Blocks read it in their `from_original` (block.py): `weights(key)` is one
    array, `weights.bias(key, size)` one the notebook may have saved as null,
    `weights.columns(keys)` several side by side (for a fused weight).
    """

    def __init__(self, data: dict, path, dtype):
        self.data, self.path, self.dtype = data, path, dtype

    def __call__(self, key: str):
        value = self.data.get(key)
        if value is None:
            raise UserError(
                f"original model file {self.path} has no {key!r}", "do the config and model files belong together?"
            )
        try:
            array = np.asarray(value, dtype=self.dtype)
        except (TypeError, ValueError, OverflowError):
            raise UserError(
                f"original model file {self.path}: {key!r} is not a numeric array", "is it a file written by GPT.save?"
            ) from None
        if array.ndim == 0:  # every weight the notebook saves is a vector or a matrix
            raise UserError(
                f"original model file {self.path}: {key!r} is a single number, not an array",
                "is it a file written by GPT.save?",
            )
        if not np.isfinite(array).all():  # strict JSON holds no inf: a number too large for the dtype became one
            raise UserError(
                f"original model file {self.path}: {key!r} holds a number too large for {np.dtype(self.dtype).name}",
                "is it a file written by GPT.save? (dtype=float64 holds larger numbers)",
            )
        return array

    def bias(self, key: str, size: int):
        """A bias the notebook may have saved as null (no bias): zeros then."""
        return self(key) if self.data.get(key) is not None else np.zeros(size, dtype=self.dtype)

    def columns(self, keys):
        """Several arrays side by side, (n_in, sum of n_out): the column blocks of one fused weight."""
        return np.concatenate([self(key) for key in keys], axis=1)

    def value(self, key: str, default):
        """A plain value the notebook saved beside its weights (moe's expansion), or default."""
        return self.data.get(key, default)


def tensors(weights: OriginalWeights, model) -> dict:
    """Our parameter name -> array: the model's own keys here, each block's from its `from_original`."""
    out = {
        "wte.weight": weights("wte_weight"),
        "wpe.weight": weights("wpe_weight"),
        "ln_f.weight": weights("ln_f_gamma"),
        "ln_f.bias": weights("ln_f_beta"),
        "head.weight": weights("lm_head_weight"),
    }
    out["head.bias"] = weights.bias("lm_head_bias", out["head.weight"].shape[-1])
    names = {entry.cls: entry.name for entry in model.config.selected.values()}
    for i, layer in enumerate(model.layers):
        for path, block in layer.named_layers(f"blocks.{i}."):
            if not isinstance(block, Block):  # a core layer: its owning block maps it
                continue
            try:
                mapped = type(block).from_original(weights, f"block_{i}_", model.config, block.options)
            except ValueError as error:  # numpy joining arrays of shapes that do not fit together
                raise UserError(
                    f"original model file {weights.path}: the {path.rstrip('.') or 'layer'} weights of layer {i} "
                    f"do not fit together ({error})",
                    "do the config and model files belong together?",
                ) from None
            if mapped is None:
                raise UserError(
                    f"the original notebook has no {names.get(type(block), type(block).__name__)} block",
                    "import a config of its blocks: c_sequence pre or post, c_attention mha or moh, c_network "
                    "mlp or moe",
                )
            out.update((path + local, value) for local, value in mapped.items())
    return out


def convert(raw_config: dict, tokenizer_path, model_path):
    """(config, tokenizer, model) from the notebook's config dict and two files; validates all first."""
    raw = dict(raw_config)
    if raw.get("c_tokenizer", "char") != "char":  # the run would say one tokenizer and hold another
        raise UserError(
            f"the original notebook uses the character tokenizer, not {{c_tokenizer=}}{raw['c_tokenizer']!r}",
            "drop the {c_tokenizer} override: the imported run keeps the notebook's tokenizer",
            "c_tokenizer",
        )
    data = reading.read_json(model_path, "original model file", memory.json_limit(), memory.JSON_FIX)
    if not isinstance(data, dict) or "wte_weight" not in data:
        raise UserError(
            f"{model_path} is not a model file of the original notebook (no 'wte_weight')",
            "pass the JSON written by GPT.save",
        )
    if raw.get("c_network") == "moe":  # the notebook's moe config omits its expert count: its weights have it
        raw.setdefault("n_experts", data.get("block_0_moe_n_experts", 4))
    config = resolve.config(raw)
    tokenizer = CharTokenizer.from_dict(
        reading.read_json(tokenizer_path, "tokenizer file"), f"tokenizer file {tokenizer_path}"
    )
    weights = OriginalWeights(data, model_path, config.dtype)
    vocab_size = weights("wte_weight").shape[0]
    if vocab_size != tokenizer.vocab_size:
        raise UserError(
            f"the tokenizer has {tokenizer.vocab_size} characters but the original model has {vocab_size} "
            "embedding rows",
            "pass the tokenizer file saved with this model",
        )
    model = GPT(config, vocab_size)
    copy_tensors(model, tensors(weights, model), f"original model file {model_path}")
    return config, tokenizer, model


def _keep_architecture(notebook, wanted):
    """The notebook's weights mean something only in its architecture: an override may change the
    recipe or the dtype, not a block or a size (n_heads=1 would load the same arrays as other heads)."""
    changed = [key for key in architecture_keys() if key != "dtype" and getattr(notebook, key) != getattr(wanted, key)]
    if changed:
        key = changed[0]
        raise UserError(
            f"an import keeps the notebook's architecture: {key} is {getattr(notebook, key)!r} in its config, "
            f"not {getattr(wanted, key)!r}",
            f"drop the {{{key}}} override (recipe keys and dtype may change)",
            key,
        )


def import_original(config, tokenizer, model, home=".", overrides=()) -> RunResult:
    """A new run from the JSON files of the original notebook."""
    config, tokenizer, model = (
        arguments.given_path(path, name, f"{name}.json")
        for path, name in ((config, "config"), (tokenizer, "tokenizer"), (model, "model"))
    )
    notebook = load_file(config)
    raw = with_overrides(notebook, overrides)
    cfg, tok, net = convert(raw, tokenizer, model)  # its refusals name what the notebook lacks
    _keep_architecture(resolve.config(notebook), cfg)
    home = Home(home)
    home.check_writable()
    name = new_run(home)
    with creating(home, name):
        label = made_label(f"original {Path(model).stem}", with_overrides({}, overrides))
        report = Report.new(name, cfg, "imported", net, Data(str(Path(model).resolve()), None, 0), label=label)
        report.imported()
        written = write_run_files(home, name, cfg, tok) + [home.model(name), home.report(name)]
        save_model(written[2], net)
        report.save(written[3])
    return RunResult(name, home.path, "imported", report, written)
