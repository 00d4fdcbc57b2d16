"""The PyTorch side of compare_learning.py; runs in an interpreter that has torch.

    python torch_learning.py WORKDIR REFERENCE_DIR
reads WORKDIR/{config.json, weights.npz, data.npz}, writes WORKDIR/curve.json.
"""

import json
import math
import pathlib
import sys

import numpy as np
import torch

work, reference = pathlib.Path(sys.argv[1]), sys.argv[2]
sys.path.insert(0, reference)
import torch_ref  # noqa: E402

torch.set_num_threads(2)
config = json.loads((work / "config.json").read_text())
weights = np.load(work / "weights.npz", allow_pickle=False)
data = np.load(work / "data.npz", allow_pickle=False)
model = torch_ref.GPT(
    config["vocab_size"],
    config["c_sequence"],
    config["c_attention"],
    config["c_network"],
    config["n_ctx"],
    config["n_emb"],
    config["n_layers"],
    config["head_size"],
    config["n_heads"],
    config["dropout"],
)
state = {k: torch.from_numpy(np.array(weights[k])) for k in weights.files}
missing = set(model.state_dict()) - set(state)
assert not missing, f"weights missing for {sorted(missing)}"
model.load_state_dict(state)
flags = torch_ref.decay_flags(model)
named = dict(model.named_parameters())
groups = [
    {"params": [named[n] for n, d in flags.items() if d], "weight_decay": config["weight_decay"]},
    {"params": [named[n] for n, d in flags.items() if not d], "weight_decay": 0.0},
]
optimizer = torch.optim.AdamW(groups, lr=config["lr"], betas=(config["beta1"], config["beta2"]), eps=1e-8)
T, steps, warmup = config["n_ctx"], config["steps"], config["warmup_steps"]
train, val = torch.from_numpy(data["train"]), torch.from_numpy(data["val"])
offsets = torch.arange(T)


def window(source, starts):
    s = torch.from_numpy(starts)[:, None]
    return source[s + offsets], source[s + offsets + 1]


def lr_at(step):  # the same schedule as littlebaby.training.schedule.learning_rate
    if step < warmup:
        return config["lr"] * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, steps - warmup))
    return config["min_lr"] + 0.5 * (1 + math.cos(math.pi * progress)) * (config["lr"] - config["min_lr"])


@torch.no_grad()
def val_loss():
    model.eval()
    x, y = window(val, data["val_starts"])
    losses = [
        torch.nn.functional.cross_entropy(model(x[i : i + 64]).flatten(0, 1), y[i : i + 64].flatten()).item()
        for i in range(0, len(x), 64)
    ]
    model.train()
    return float(np.mean(losses))


curve = {0: val_loss()}
model.train()
for step in range(steps):
    x, y = window(train, data["starts"][step])
    loss = torch.nn.functional.cross_entropy(model(x).flatten(0, 1), y.flatten())
    optimizer.zero_grad()
    loss.backward()
    if config["grad_clip"]:
        torch.nn.utils.clip_grad_norm_(model.parameters(), config["grad_clip"])
    for group in optimizer.param_groups:
        group["lr"] = lr_at(step)
    optimizer.step()
    if (step + 1) % config["eval_every"] == 0:
        curve[step + 1] = val_loss()
(work / "curve.json").write_text(json.dumps(curve))
