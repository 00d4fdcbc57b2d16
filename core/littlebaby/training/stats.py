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

    Neighbouring tensors of one group lie side by side in the flat buffer, so
    the buffer is a few runs of one group each: a run's sum of squares is one
    BLAS dot product of its slice with itself (no squared copy of the buffer),
    and a small 0/1 matrix sums the runs into groups in float64.
    """

    def __init__(self, parameters, part: slice | None = None):
        """part: the norms are of that part of the buffer alone, given as a buffer of its own (a sharded
        optimizer's part: summed over the processes, they are the whole buffer's)."""
        names = sorted(parameters.offsets, key=parameters.offsets.get)
        starts = [parameters.offsets[n] for n in names] + [parameters.size]
        runs = []  # [group, start, end] of each run of one group's tensors
        for name, start, end in zip(names, starts, starts[1:]):
            if runs and runs[-1][0] == group_of(name) and runs[-1][2] == start:
                runs[-1][2] = end
            else:
                runs.append([group_of(name), start, end])
        part = part or slice(0, parameters.size)
        within = lambda at: min(max(at - part.start, 0), part.stop - part.start)
        self.runs = [slice(within(start), within(end)) for _, start, end in runs]
        self.groups = [g for g in GROUPS if any(run[0] == g for run in runs)]
        self.membership = np.array([[run[0] == g for run in runs] for g in self.groups], dtype=np.float64)

    def squared_norms(self, flat) -> np.ndarray:
        """Per-group sum of squares of a flat buffer."""
        per_run = np.array([float(flat[run] @ flat[run]) for run in self.runs])
        return self.membership @ per_run

    def step_stats(self, grad, weight_sq, update) -> dict:
        """{group: {"grad_norm", "update_ratio"}} for one optimizer step.

        weight_sq: `squared_norms` of the parameters before the step; update: their change (flat).
        """
        return self.ratios(self.squared_norms(grad), weight_sq, self.squared_norms(update))

    def ratios(self, grad_sq, weight_sq, update_sq) -> dict:
        """step_stats from the per-group sums of squares of the gradient, the weights and the update."""
        return {
            g: {
                "grad_norm": float(np.sqrt(grad_sq[i])),
                "update_ratio": float(np.sqrt(update_sq[i] / max(weight_sq[i], 1e-30))),
            }
            for i, g in enumerate(self.groups)
        }
