"""Do the hand-written gradients learn like autograd? littlebaby beside its PyTorch twin.

Trains the same config for N steps (default 300) with littlebaby and with the
PyTorch twin (../shared/reference/torch_ref.py, decoupled AdamW), from the same
initial weights, on the same batches in the same order, with the same recipe
(warmup + cosine, gradient clipping, AdamW betas and decay), and prints both
val-loss curves on the same fixed windows.

    uv run python benchmarks/compare_learning.py --torch /path/to/venv-with-torch/bin/python

The PyTorch side runs in that other interpreter (torch is never a dependency
of littlebaby); arrays cross over as .npz files (no pickle).
"""

import argparse
import json
import pathlib
import subprocess
import sys
import tempfile

import numpy as np

import littlebaby
from littlebaby.config import to_dict
from littlebaby.optim.adamw import AdamW, clip_grad_norm
from littlebaby.plugins import resolve
from littlebaby.training.schedule import learning_rate
from littlebaby.training.step import compute_gradients

HERE = pathlib.Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared"


SHOWN_KEYS = ("c_sequence", "c_attention", "c_network", "n_layers", "n_emb", "lr", "batch_size")


def torch_names(named, config):
    """Our tensors under torch_ref.GPT's state_dict names (torch stores Linear weights (out, in))."""
    out = {
        "wte.weight": named["wte.weight"],
        "wpe.weight": named["wpe.weight"],
        "ln_f.weight": named["ln_f.weight"],
        "ln_f.bias": named["ln_f.bias"],
        "lm_head.weight": named["head.weight"].T,
        "lm_head.bias": named["head.bias"],
    }
    A = config.head_size
    for i in range(config.n_layers):
        ours, theirs = f"blocks.{i}.", f"blocks.{i}."
        for n in (1, 2):
            out[f"{theirs}ln_{n}.weight"] = named[f"{ours}ln{n}.weight"]
            out[f"{theirs}ln_{n}.bias"] = named[f"{ours}ln{n}.bias"]
        qkv = named[f"{ours}attention.qkv.weight"]
        for j, part in enumerate("qkv"):
            out[f"{theirs}att.{part}.weight"] = qkv[:, j * A : (j + 1) * A].T
        out[f"{theirs}att.proj.weight"] = named[f"{ours}attention.proj.weight"].T
        out[f"{theirs}att.proj.bias"] = named[f"{ours}attention.proj.bias"]
        if config.c_attention == "moh":
            out[f"{theirs}att.g.weight"] = named[f"{ours}attention.gate.weight"].T
        if config.c_network == "mlp":
            for part, name in (("up", "up"), ("down", "dn")):
                out[f"{theirs}net.ff.{name}.weight"] = named[f"{ours}network.{part}.weight"].T
                out[f"{theirs}net.ff.{name}.bias"] = named[f"{ours}network.{part}.bias"]
        else:
            out[f"{theirs}net.gate.weight"] = named[f"{ours}network.gate.weight"].T
            for e in range(config.options["n_experts"]):
                out[f"{theirs}net.experts.{e}.up.weight"] = named[f"{ours}network.up.weight"][:, e, :].T
                out[f"{theirs}net.experts.{e}.up.bias"] = named[f"{ours}network.up.bias"][e]
                out[f"{theirs}net.experts.{e}.dn.weight"] = named[f"{ours}network.down.weight"][e].T
                out[f"{theirs}net.experts.{e}.dn.bias"] = named[f"{ours}network.down.bias"][e]
    return {k: np.ascontiguousarray(v) for k, v in out.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--torch", help="python interpreter that has torch (skipped if omitted)")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--eval-every", type=int, default=50)
    parser.add_argument("--set", action="append", default=[], help="config key=value")
    args = parser.parse_args()

    keys = json.loads((HERE.parent / "configs" / "baby.json").read_text())
    keys.update(max_steps=args.steps, threads=0)
    for item in args.set:
        k, v = littlebaby.config.parse_override(item)
        keys[k] = v
    config = resolve.config(keys)
    text = (SHARED / "data" / "shakespeare.txt").read_text(encoding="utf-8")
    vocab = sorted(set(text))
    lookup = {c: i for i, c in enumerate(vocab)}
    data = np.fromiter((lookup[c] for c in text), dtype=np.int64, count=len(text))
    split = int(0.9 * len(data))
    train, val = data[:split], data[split:]
    rng = np.random.default_rng(1234)
    T, B = config.n_ctx, config.batch_size
    starts = rng.integers(0, len(train) - T - 1, (args.steps, B))
    val_starts = np.random.default_rng(99).integers(0, len(val) - T - 1, 256)
    window = lambda source, s: (source[s[:, None] + np.arange(T)], source[s[:, None] + np.arange(1, T + 1)])

    model = littlebaby.build_model(config, len(vocab)).train()
    initial = {k: v.copy() for k, v in model.parameters.named().items()}
    optimizer = AdamW(model.parameters, betas=(config.beta1, config.beta2), weight_decay=config.weight_decay)

    def val_loss():
        model.eval()
        x, y = window(val, val_starts)
        loss = float(np.mean([model.loss(x[i : i + 64], y[i : i + 64]) for i in range(0, len(x), 64)]))
        model.train()
        return loss

    ours = {0: val_loss()}
    for step in range(args.steps):
        x, y = window(train, starts[step])
        compute_gradients(model, x, y)
        clip_grad_norm(model.grad, config.grad_clip)
        optimizer.step(model.grad, learning_rate(step, args.steps, config.lr, config.min_lr, config.warmup_steps))
        if (step + 1) % args.eval_every == 0:
            ours[step + 1] = val_loss()

    theirs = None
    if args.torch:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = pathlib.Path(tmp)
            np.savez(tmp / "weights.npz", **torch_names(initial, config))
            np.savez(tmp / "data.npz", train=train, val=val, starts=starts, val_starts=val_starts)
            (tmp / "config.json").write_text(
                json.dumps(dict(to_dict(config), vocab_size=len(vocab), steps=args.steps, eval_every=args.eval_every))
            )
            subprocess.run(
                [args.torch, str(HERE / "torch_learning.py"), str(tmp), str(SHARED / "reference")], check=True
            )
            theirs = {int(k): v for k, v in json.loads((tmp / "curve.json").read_text()).items()}

    print(f"config: {json.dumps({k: keys[k] for k in sorted(keys) if k in SHOWN_KEYS})}")
    print(f"{'step':>6} {'littlebaby val':>15} {'pytorch val':>12} {'difference':>11}")
    for step, loss in ours.items():
        other = theirs.get(step) if theirs else None
        diff = f"{loss - other:+11.4f}" if other is not None else f"{'':>11}"
        print(f"{step:>6} {loss:>15.4f} {other if other is not None else float('nan'):>12.4f} {diff}")


if __name__ == "__main__":
    sys.exit(main())
