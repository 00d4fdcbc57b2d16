"""Per-step statistics of parameter groups for the training report: gradient norms and
update-to-weight ratios of the embedding, attention, network, norm and head parameters.

Training asks for them every step, so they are computed from the flat buffers
(params.py) without copying a tensor.
"""

import numpy as np

# how a parameter name maps to a group of the table and the report
GROUPS = ("embedding", "attention", "network", "norm", "head")


def group_of(name: str) -> str:
    if name.startswith(("wte.", "wpe.")):
        return "embedding"
    if name.startswith("head."):
        return "head"
    if ".attention." in name:
        return "attention"
    if ".network." in name:
        return "network"
    return "norm"  # the sequence blocks' LayerNorms and ln_f


class GroupStats:
    """Per-group gradient norms and update-to-weight ratios from the flat buffers, cheaply.

    Squared norms of every tensor come from one `np.add.reduceat` over the
    flat buffer; a small 0/1 matrix sums them into groups.
    """

    def __init__(self, parameters):
        names = sorted(parameters.offsets, key=parameters.offsets.get)
        self.starts = np.array([parameters.offsets[n] for n in names])
        self.groups = [g for g in GROUPS if any(group_of(n) == g for n in names)]
        self.membership = np.array([[group_of(n) == g for n in names] for g in self.groups], dtype=np.float64)

    def squared_norms(self, flat) -> np.ndarray:
        """Per-group sum of squares of a flat buffer."""
        per_tensor = np.add.reduceat(np.square(flat, dtype=np.float64), self.starts)
        return self.membership @ per_tensor

    def step_stats(self, grad, weight_sq, update) -> dict:
        """{group: {"grad_norm", "update_ratio"}} for one optimizer step.

        weight_sq: `squared_norms` of the parameters before the step; update: their change (flat).
        """
        grad_sq = self.squared_norms(grad)
        update_sq = self.squared_norms(update)
        return {g: {"grad_norm": float(np.sqrt(grad_sq[i])),
                    "update_ratio": float(np.sqrt(update_sq[i] / max(weight_sq[i], 1e-30)))}
                for i, g in enumerate(self.groups)}
