"""Where a train step's time goes, on this CPU: each suspect measured and printed.

    uv run python benchmarks/profile_gemm.py                 # models A, B, C
    uv run python benchmarks/profile_gemm.py --models B --repeats 5

1. Attention's batched small GEMMs. Each attention forward and backward makes
   six `np.matmul` calls on (B, H, T, d) stacks: B * H GEMMs of T x d x T or
   T x T x d each. They are timed on the step's real operands (views of the
   fused q/k/v, as ops/attention.py gets them) with OpenBLAS on one thread,
   against one large GEMM of the same FLOPs: the same matrices stacked into
   one call ((B H m, k) @ (k, n)), and a square one. What the batched call
   loses to the large ones is per-call overhead and skinny-shape kernels.
2. The linear layers' GEMMs of the step (the shapes recorded from a real
   step), forward and both backward products, against a square GEMM of the
   same FLOPs.
3. Per op, one train step: every function of littlebaby.nn.ops (forward and
   backward apart), each block's own code (what it does between op calls:
   einsums, residual adds), the optimizer, and the rest. Exclusive times:
   a nested op (softmax inside attention) counts for itself only.

Everything runs as one worker of the split step does: OpenBLAS on one thread
and the worker's share of the batch (batch / cores). Timings are medians of
--repeats runs; the CPU and BLAS kernel are printed first.

With --torch PYTHON (an interpreter with torch, as bench.py takes it), PyTorch
does the same on one thread beside every row: the same GEMMs with the same
operand layouts (its BLAS, MKL, against NumPy's OpenBLAS), and in section 4
its train step of torch_ref.py on the same rows, op by op (torch.profiler),
next to littlebaby's by kind of work. That is where a ratio of bench.py comes
from on a CPU: the libraries' GEMMs, or the work around them.
"""

import argparse
import functools
import inspect
import math
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import VOCAB, machine, median_seconds, models, run_torch  # noqa: E402

from littlebaby.config import Config  # noqa: E402
from littlebaby.nn.ops import attention as attention_ops  # noqa: E402
from littlebaby.optim.adamw import AdamW  # noqa: E402
from littlebaby.plugins.resolve import build_model  # noqa: E402
from littlebaby.system import blas  # noqa: E402
from littlebaby.training.step import compute_gradients, cores  # noqa: E402


def table(header, rows) -> None:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    for row in [header, ["-" * w for w in widths], *rows]:
        print(
            "  ".join(str(cell).rjust(w) if i else str(cell).ljust(w) for i, (cell, w) in enumerate(zip(row, widths)))
        )


def gemm_against_large(label, batched, groups, m, k, n, repeats, rng) -> list:
    """A row: the batched call vs one stacked and one square GEMM of the same FLOPs (all one thread)."""
    flops = 2.0 * groups * m * k * n
    stacked_a, stacked_b = rng.standard_normal((groups * m, k), np.float32), rng.standard_normal((k, n), np.float32)
    side = max(1, round((groups * m * k * n) ** (1 / 3)))
    square = rng.standard_normal((side, side), np.float32)
    times = [
        median_seconds(batched, repeats),
        median_seconds(lambda: stacked_a @ stacked_b, repeats),
        median_seconds(lambda: square @ square, repeats),
    ]
    rate = [flops / t / 1e9 for t in times[:2]] + [2.0 * side**3 / times[2] / 1e9]
    row = [
        label,
        f"{groups} x {m}x{k}x{n}",
        f"{times[0] * 1e3:.3f}",
        f"{rate[0]:.0f}",
        f"{times[0] / groups * 1e6:.2f}",
        f"{times[1] * 1e3:.3f}",
        f"{rate[1]:.0f}",
        f"{side}^3 {rate[2]:.0f}",
        f"{times[0] / times[1]:.2f}x",
    ]
    return row, times[0]


def beside_torch(rows, ours, theirs) -> None:
    """Appends PyTorch's ms and littlebaby / PyTorch to each table row (ours, theirs: seconds per row)."""
    for row, mine, torch_seconds in zip(rows, ours, theirs):
        row += [f"{torch_seconds * 1e3:.3f}", f"{mine / torch_seconds:.2f}x"]


TORCH_COLUMNS = ["PyTorch ms", "littlebaby / PyTorch"]


GEMM_HEADER = [
    "GEMM",
    "shape (count x m x k x n)",
    "batched ms",
    "GFLOP/s",
    "us per matrix",
    "stacked ms",
    "GFLOP/s",
    "square GFLOP/s",
    "batched / stacked",
]


def attention_gemms(spec: dict, rows: int, repeats: int) -> tuple:
    """Section 1: the six batched matmuls of ops/attention.py, with the step's layouts -> (table rows, seconds)."""
    rng = np.random.default_rng(0)
    T, H = spec["n_ctx"], spec["n_heads"]
    d = spec["head_size"] // H
    qkv = rng.standard_normal((rows, T, 3 * spec["head_size"]), np.float32)
    q, k, v = attention_ops.split_qkv(qkv, H)
    out, weights, used = attention_ops.attention_forward(q, k, v)
    scores = weights.swapaxes(-1, -2).copy()  # keys-major (B, H, S, T), as forward makes it
    do = rng.standard_normal(q.shape, np.float32)
    groups = rows * H
    products = [  # (label, the expression as in attention.py, m, k, n)
        ("fwd scores = k q^T", lambda: k @ q.swapaxes(-1, -2), T, d, T),
        ("fwd o = weights v", lambda: used @ v, T, T, d),
        ("bwd dv = weights^T do", lambda: used.swapaxes(-1, -2) @ do, T, T, d),
        ("bwd dweights = v do^T", lambda: v @ do.swapaxes(-1, -2), T, d, T),
        ("bwd dq = dscores^T k", lambda: scores.swapaxes(-1, -2) @ k, T, T, d),
        ("bwd dk = dscores q", lambda: scores @ q, T, T, d),
    ]
    measured = [gemm_against_large(label, f, groups, m, kk, n, repeats, rng) for label, f, m, kk, n in products]
    return [row for row, _ in measured], [seconds for _, seconds in measured]


PHASES = ("forward", "backward", "outside")


class Profiler:
    """Exclusive time per (label, phase): time inside a wrapped call minus the wrapped calls it makes.

    The phase is the model's forward or backward pass the call happened in ("outside": the loss, the optimizer).
    """

    def __init__(self):
        self.seconds, self.calls, self.stack, self.phase = defaultdict(float), defaultdict(int), [], "outside"
        self.shapes = defaultdict(set)  # label -> what `record` returned for its calls

    def wrap(self, label, function, record=None, phase=None):
        @functools.wraps(function)
        def timed(*args, **kwargs):
            if record is not None:
                self.shapes[label].add(record(*args))
            outer_phase, self.phase = self.phase, phase or self.phase
            key = (label, self.phase)
            self.stack.append(0.0)  # time spent in nested wrapped calls
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - start
                nested = self.stack.pop()
                self.seconds[key] += elapsed - nested
                self.calls[key] += 1
                self.phase = outer_phase
                if self.stack:
                    self.stack[-1] += elapsed

        return timed

    def rows(self, steps: int, step_seconds: float) -> list:
        """Table rows per label: calls, ms per phase and in all, share of the step; slowest first."""
        labels = defaultdict(float)
        for (label, _), seconds in self.seconds.items():
            labels[label] += seconds / steps
        rows = []
        for label, seconds in sorted(labels.items(), key=lambda item: -item[1]):
            calls = sum(self.calls[(label, phase)] for phase in PHASES) // steps
            per_phase = [self.seconds.get((label, phase), 0.0) / steps * 1e3 for phase in PHASES]
            rows.append(
                [
                    label,
                    str(calls),
                    *(f"{ms:.3f}" if ms else "" for ms in per_phase),
                    f"{seconds * 1e3:.3f}",
                    f"{100 * seconds / step_seconds:.1f}%",
                ]
            )
        return rows


def op_label(name: str) -> str:
    """linear_forward -> linear: the phase is a column of the table."""
    for suffix in ("_forward", "_backward"):
        name = name.replace(suffix, "")
    return name


def LINEAR_SHAPE(x, weight, bias=None):
    """(rows, n_in, n_out) of a linear_forward call."""
    return math.prod(x.shape[:-1]), *weight.shape


def patch_ops(profiler) -> list:
    """Every littlebaby.nn.ops function, wherever it was imported by name; returns what to restore."""
    ops = {}
    for module_name, module in list(sys.modules.items()):
        if module_name.startswith("littlebaby.nn.ops."):
            for name, function in inspect.getmembers(module, inspect.isfunction):
                if function.__module__ == module_name:
                    record = LINEAR_SHAPE if name == "linear_forward" else None
                    ops[function] = profiler.wrap(op_label(name), function, record)
    restore = []
    for module_name, module in list(sys.modules.items()):
        if not module_name.startswith("littlebaby"):  # the core and the plugins (littlebaby_*)
            continue
        for name, value in list(vars(module).items()):
            if inspect.isfunction(value) and value in ops:
                restore.append((module, name, value))
                setattr(module, name, ops[value])
    return restore


def step_profile(spec: dict, rows: int, repeats: int) -> tuple:
    """Section 3 (and the linear shapes of section 2): one worker's train step, op by op.

    Returns (bare step seconds, profiled step seconds, the profiler holding per-label totals over `repeats` steps).
    """
    config = Config(batch_size=rows, threads=1, **spec)
    model = build_model(config, VOCAB).train()
    optimizer = AdamW(model.parameters, weight_decay=config.weight_decay)
    rng = np.random.default_rng(0)
    ids, targets = rng.integers(0, VOCAB, (2, rows, config.n_ctx))

    def step():
        compute_gradients(model, ids, targets)
        optimizer.step(model.grad, 1e-4)

    bare = median_seconds(step, repeats)
    profiler = Profiler()
    restore = patch_ops(profiler)
    for block in model.every_block:
        for method in ("forward", "backward"):
            phase = method if block is model else None
            block.__dict__[method] = profiler.wrap(
                f"{type(block).__name__} (own code)", getattr(block, method), phase=phase
            )
    optimizer.step = profiler.wrap("optimizer (AdamW)", optimizer.step)
    try:
        step()  # warm-up, and records the linear shapes
        profiler.seconds.clear(), profiler.calls.clear()
        start = time.perf_counter()
        for _ in range(repeats):
            step()
        total = (time.perf_counter() - start) / repeats
    finally:
        for module, name, original in restore:
            setattr(module, name, original)
    return bare, total, profiler


def linear_gemms(shapes, repeats: int) -> tuple:
    """Section 2: forward x W, backward dy W^T and x^T dy, per linear shape of the step -> (table rows, seconds)."""
    rng = np.random.default_rng(0)
    rows, seconds = [], []
    for n_rows, n_in, n_out in shapes:
        x = rng.standard_normal((n_rows, n_in), np.float32)
        w = rng.standard_normal((n_in, n_out), np.float32)
        dy = rng.standard_normal((n_rows, n_out), np.float32)
        for label, product, m, k, n in (
            (f"fwd x W ({n_in}->{n_out})", lambda: x @ w, n_rows, n_in, n_out),
            (f"bwd dy W^T ({n_in}->{n_out})", lambda: dy @ w.T, n_rows, n_out, n_in),
            (f"bwd x^T dy ({n_in}->{n_out})", lambda: x.T @ dy, n_in, n_rows, n_out),
        ):
            row, batched = gemm_against_large(label, product, 1, m, k, n, repeats, rng)
            rows.append(row[:2] + row[2:4] + row[7:8])
            seconds.append(batched)
    return rows, seconds


# Kinds of work, to set the two step profiles side by side: littlebaby's op labels (section 3)
# and the prefixes of PyTorch's operators that do the same work. Softmax counts as attention on
# both sides wherever it is (moh's and moe's gates too); a block's own einsums are "everything else".
KINDS = [
    ("linear layers (GEMMs, bias)", {"linear", "column_sum"}, ("aten::mm", "aten::addmm")),
    (
        "attention (products, softmax)",
        {"attention", "softmax", "split_qkv", "merge_qkv", "split_heads", "merge_heads", "causal_mask"},
        ("aten::_scaled_dot_product", "aten::_softmax"),
    ),
    ("GELU", {"gelu"}, ("aten::gelu",)),
    ("layer norm", {"layernorm", "row_mean"}, ("aten::native_layer_norm",)),
    ("loss", {"cross_entropy"}, ("aten::_log_softmax", "aten::nll_loss")),
]


def side_by_side(profiler, repeats: int, theirs: dict) -> list:
    """Section 4's rows: ms per kind of work in littlebaby's profiled step and PyTorch's (theirs: torch_profile's
    "step"), the rest, the optimizer."""
    ours = defaultdict(float)
    for (label, _), seconds in profiler.seconds.items():
        ours[label] += seconds / repeats
    optimizer = ours.pop("optimizer (AdamW)", 0.0)
    torch_ops = dict(theirs["ops"])
    rows = []
    for kind, labels, prefixes in KINDS:
        mine = sum(ours.pop(label, 0.0) for label in labels)
        matched = [op for op in torch_ops if op.startswith(prefixes)]
        rows.append((kind, mine, sum(torch_ops.pop(op) for op in matched)))
    rows.append(("everything else (block code, copies, autograd)", sum(ours.values()), sum(torch_ops.values())))
    rows.append(("optimizer (AdamW, timed alone for PyTorch)", optimizer, theirs["optimizer"]))
    rows.append(("step", sum(row[1] for row in rows), sum(row[2] for row in rows)))
    return [
        [
            kind,
            f"{mine * 1e3:.3f}",
            f"{torch_seconds * 1e3:.3f}",
            f"{mine / torch_seconds:.2f}x" if torch_seconds else "",
        ]
        for kind, mine, torch_seconds in rows
    ]


def top_torch_ops(theirs: dict, count: int = 12) -> list:
    """PyTorch's slowest operators of the forward + backward, by self time (theirs: torch_profile's "step")."""
    ops = sorted(theirs["ops"].items(), key=lambda item: -item[1])[:count]
    return [[name, f"{seconds * 1e3:.3f}"] for name, seconds in ops]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--models", default="A,B,C", metavar="LABELS", help="comma-separated, from bench.py (default A,B,C)"
    )
    parser.add_argument("--repeats", type=int, default=10, help="timed runs per measurement (median; default 10)")
    parser.add_argument("--quick", action="store_true", help="bench.py's tiny sizes, 2 repeats: a smoke run")
    parser.add_argument(
        "--torch", metavar="PYTHON", help="an interpreter with torch: PyTorch beside every row, and section 4"
    )
    args = parser.parse_args(argv)
    repeats = 2 if args.quick else args.repeats
    print(f"Machine: {machine()}")
    print(
        f"Each measurement: one BLAS thread, median of {repeats}; batch = one worker's share (batch / {cores()} cores)"
    )
    with blas.limit(1):
        for label, spec, batch in models(args.quick, args.models.split(",")):
            rows = max(1, batch // cores())
            T, H = spec["n_ctx"], spec["n_heads"]
            blocks = f"{spec['c_sequence']}/{spec['c_attention']}/{spec['c_network']}"
            print(f"\n=== model {label} ({blocks}, {rows} rows of {T} tokens, {H} heads of {spec['head_size'] // H})")
            attention_rows, attention_seconds = attention_gemms(spec, rows, repeats)
            bare, total, profiler = step_profile(spec, rows, repeats)
            shapes = sorted(profiler.shapes[op_label("linear_forward")])
            linear_rows, linear_seconds = linear_gemms(shapes, repeats)
            theirs = None
            if args.torch:
                job = dict(spec=spec, rows=rows, repeats=repeats, linear=[list(shape) for shape in shapes])
                theirs = run_torch(args.torch, job, script=str(Path(__file__).resolve().parent / "torch_profile.py"))
            extra = TORCH_COLUMNS if theirs else []
            if theirs:
                beside_torch(attention_rows, attention_seconds, theirs["attention"])
                beside_torch(
                    linear_rows, linear_seconds, [seconds for triple in theirs["linear"] for seconds in triple]
                )
            print("\n1. Attention's batched matmuls vs one large GEMM of the same FLOPs\n")
            table(GEMM_HEADER + extra, attention_rows)
            print("\n2. The linear layers' GEMMs vs a square GEMM of the same FLOPs\n")
            table(["GEMM", "shape (1 x m x k x n)", "ms", "GFLOP/s", "square GFLOP/s"] + extra, linear_rows)
            print(f"\n3. One train step, per op: {bare * 1e3:.2f} ms bare, {total * 1e3:.2f} ms profiled\n")
            rows_out = profiler.rows(repeats, total)
            rest = total - sum(profiler.seconds.values()) / repeats
            rows_out.append(
                [
                    "rest (grad zeroing, loss scaling, calls)",
                    "",
                    "",
                    "",
                    "",
                    f"{rest * 1e3:.3f}",
                    f"{100 * rest / total:.1f}%",
                ]
            )
            table(["op or block", "calls", "forward ms", "backward ms", "outside ms", "ms", "% of step"], rows_out)
            if theirs:
                step = theirs["step"]
                print(
                    f"\n4. Beside PyTorch {theirs['version']} (torch_ref.py, one thread, the same rows): its step "
                    f"{(step['forward_backward'] + step['optimizer']) * 1e3:.2f} ms bare, littlebaby's "
                    f"{bare * 1e3:.2f} ms "
                    f"({bare / (step['forward_backward'] + step['optimizer']):.2f}x); both profiled, by kind of work\n"
                )
                table(
                    ["kind of work", "littlebaby ms", "PyTorch ms", "littlebaby / PyTorch"],
                    side_by_side(profiler, repeats, step),
                )
                print("\nPyTorch's slowest operators (forward + backward, self time)\n")
                table(["operator", "ms"], top_torch_ops(step))
    return 0


if __name__ == "__main__":
    sys.exit(main())
