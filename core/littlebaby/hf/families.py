"""The model families a Hugging Face folder may hold, and where each tensor goes.

One module per family (gpt2.py, llama.py) says what it is in littlebaby's terms: `SHAPE` (the config keys a run
must have to be one), `config_of(config.json, vocab_size)` and `hf_config(model, end_id)` both ways, `check`
for what its config keys cannot say, the model's own tensor names (embeddings, final norm, head), each
layer's prefix, and tensors it has that a run may lack (`filled`, zeros). Each block names its own tensors in its
`hugging_face(family, config, options)` classmethod, as blocks name the original notebook's: local name ->
(their name, stored transposed) or, for a weight littlebaby fuses that the family keeps apart (q, k and v),
a list of (their name, width): nn.Linear weights (out, in) whose transposes are our tensor's column blocks.
"""

from littlebaby.errors import UserError, shown
from littlebaby.hf import gpt2, llama
from littlebaby.nn.block import Block

FAMILIES = {module.NAME: module for module in (gpt2, llama)}


def family(name: str):
    """The module of a family by its model_type, or a one-line error naming the ones littlebaby reads."""
    if name not in FAMILIES:
        raise UserError(
            f"config.json is a {shown(name)} model; littlebaby imports {', '.join(FAMILIES)}",
            "import a GPT-2 or Llama-family folder",
        )
    return FAMILIES[name]


def family_of_run(config):
    """The family a run trained here exports to, by its sequence block, and every key it must have checked."""
    kin = {"pre": gpt2, "rms": llama}.get(config.c_sequence)
    if kin is None:
        raise UserError(
            f"c_sequence {config.c_sequence!r} has no counterpart in GPT-2 (pre) or Llama (rms)",
            "export a run trained with {c_sequence=}pre (GPT-2) or rms (Llama)",
            "c_sequence",
        )
    for key, wanted in kin.SHAPE.items():
        if getattr(config, key) != wanted:
            raise UserError(
                f"{kin.NAME} has {key} {wanted!r}; this run has {getattr(config, key)!r}",
                f"export a run trained with {{{key}=}}{wanted}",
                key,
            )
    if config.logit_softcap:
        raise UserError(f"{kin.NAME} has no logit soft-cap", "export a run trained with {logit_softcap=}0")
    return kin


def tensor_names(model, kin, start: str) -> dict:
    """Our parameter name -> its place in the family's file (see the module docstring), for every tensor."""
    config = model.config
    names = {ours: theirs for ours, theirs in kin.model_names(model, start).items() if ours in model.parameters.specs}
    blocks = {entry.cls: entry.name for entry in config.selected.values()}
    for i, layer in enumerate(model.layers):
        for path, block in layer.named_layers(f"blocks.{i}."):
            if not isinstance(block, Block):  # a core layer: its owning block names it
                continue
            method = getattr(type(block), "hugging_face", None)
            mapped = method(kin.NAME, config, block.options) if method is not None else None
            if mapped is None:
                raise UserError(
                    f"the {blocks.get(type(block), type(block).__name__)} block has no counterpart in {kin.NAME}",
                    f"{kin.NAME}'s blocks are {', '.join(f'{k} {v}' for k, v in kin.SHAPE.items())}",
                )
            where = kin.layer(start, i)
            for ours, theirs in mapped.items():
                placed = (
                    [(where + t, w) for t, w in theirs] if isinstance(theirs, list) else (where + theirs[0], theirs[1])
                )
                names[path + ours] = placed
    return names
