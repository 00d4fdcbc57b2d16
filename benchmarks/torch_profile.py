"""PyTorch's side of profile_gemm.py: the same work on one thread, run inside the --torch interpreter.

    python benchmarks/torch_profile.py --torch-worker JOB    # JOB: JSON from profile_gemm.py

profile_gemm.py starts this script with the interpreter given by its --torch
(through bench.run_torch), so torch never needs to be importable beside
littlebaby, and littlebaby never inside the torch environment. It prints one
JSON line: seconds per GEMM for the job's shapes and operand layouts (torch's
BLAS is MKL), and torch_ref.py's train step on the job's rows: its forward +
backward and its AdamW step timed bare, and the forward + backward again under
torch.profiler, as self CPU time per operator.
"""

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import REFERENCE, VOCAB, median_seconds  # noqa: E402


def linear_products(torch, shapes, repeats: int) -> list:
    """[[x W, dy W^T, x^T dy] seconds] per (rows, n_in, n_out): profile_gemm's section 2 with W stored (n_in, n_out)."""
    out = []
    for n_rows, n_in, n_out in shapes:
        x, w, dy = torch.randn(n_rows, n_in), torch.randn(n_in, n_out), torch.randn(n_rows, n_out)
        out.append(
            [median_seconds(product, repeats) for product in (lambda: x @ w, lambda: dy @ w.T, lambda: x.T @ dy)]
        )
    return out


def attention_products(torch, rows: int, T: int, H: int, d: int, repeats: int) -> list:
    """Seconds of profile_gemm's six batched matmuls, q, k, v as the same views of one fused (rows, T, 3 H d) array."""
    q, k, v = torch.randn(rows, T, 3, H, d).permute(2, 0, 3, 1, 4)
    used = torch.softmax(torch.randn(rows, H, T, T), dim=-1)
    scores = torch.randn(rows, H, T, T)
    do = torch.randn(rows, H, T, d)
    products = (
        lambda: k @ q.transpose(-1, -2),
        lambda: used @ v,
        lambda: used.transpose(-1, -2) @ do,
        lambda: v @ do.transpose(-1, -2),
        lambda: scores.transpose(-1, -2) @ k,
        lambda: scores @ q,
    )
    return [median_seconds(product, repeats) for product in products]


def train_step(torch, spec: dict, rows: int, repeats: int) -> dict:
    """torch_ref's GPT on `rows` rows: bare forward + backward and AdamW seconds, and self seconds per operator."""
    sys.path.insert(0, str(REFERENCE))
    import torch_ref
    from torch.profiler import ProfilerActivity, profile

    model = torch_ref.GPT(VOCAB, **spec)
    optimizer = torch_ref.make_optimizer(model, lr=1e-4, kind="adamw")
    ids, targets = torch.randint(0, VOCAB, (2, rows, spec["n_ctx"]))

    def forward_backward():
        optimizer.zero_grad(set_to_none=False)
        logits = model(ids)
        torch.nn.functional.cross_entropy(logits.reshape(-1, VOCAB), targets.reshape(-1)).backward()

    forward_backward()
    result = {
        "forward_backward": median_seconds(forward_backward, repeats),
        "optimizer": median_seconds(optimizer.step, repeats),
    }
    with profile(activities=[ProfilerActivity.CPU]) as profiled:
        for _ in range(repeats):
            forward_backward()
    result["ops"] = {event.key: event.self_cpu_time_total / 1e6 / repeats for event in profiled.key_averages()}
    return result


def torch_worker(job: dict) -> dict:
    """Everything profile_gemm.py asks for one model, on one torch thread."""
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(0)
    spec, rows, repeats = job["spec"], job["rows"], job["repeats"]
    H = spec["n_heads"]
    return {
        "version": torch.__version__,
        "linear": linear_products(torch, job["linear"], repeats),
        "attention": attention_products(torch, rows, spec["n_ctx"], H, spec["head_size"] // H, repeats),
        "step": train_step(torch, spec, rows, repeats),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--torch-worker", metavar="JOB", required=True, help="the job, as JSON")
    print(json.dumps(torch_worker(json.loads(parser.parse_args().torch_worker))))
