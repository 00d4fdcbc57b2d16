"""littlebaby's speed: train steps and generation, side by side with PyTorch and the original.

    uv run python benchmarks/bench.py                      # littlebaby only
    uv run python benchmarks/bench.py --torch /work/torchvenv/bin/python --original
    uv run python benchmarks/bench.py --quick              # CI smoke run: tiny sizes, seconds
    uv run python benchmarks/bench.py ... --markdown benchmarks/RESULTS.md
    uv run python benchmarks/bench.py --cli --models B     # also `littlebaby train` end to end

Models (vocab 65, n_ctx 64, n_emb 128, head_size 128, 4 layers):
A pre/mha/mlp 16 heads batch 16; B pre/mha/mlp 4 heads batch 32; C pre/moh/moe
4 heads batch 32; then every (sequence, attention, network) combination at B's size.

A train step is forward + backward + optimizer (AdamW), timed after warm-up;
median and min over the timed steps. GFLOP/s counts the GEMM work (6 N P for
the matrices, 12 T^2 d per batch row and head for attention, causal half not
subtracted) and is compared with the float32 GEMM peak measured in the same
run. Peak memory is what one step allocates (tracemalloc: NumPy reports its
arrays to it). Generation samples batch 1 from one start token, with and
without the KV cache.

--cli times `littlebaby train` (a subprocess, as a user runs it, progress bar
on) for model B's config on the shipped Shakespeare, once with max_steps 5 and
once with 45: the difference over 40 steps is the CLI's time per step, since
start-up, loading, the final val loss and saving cancel. Its excess over the
bare step (forward, backward, AdamW) is what the loop costs around the step:
batch sampling, clipping, statistics, report, progress bar.

PyTorch runs `torch_ref.py` (../shared/reference, or the folder $LITTLEBABY_REFERENCE
names) in the interpreter given by --torch (float32, 2 threads), in a subprocess: this script is its own worker
(`--torch-worker`), so torch never needs to be importable here. The original
(`original_model.py`, float64) runs a few steps only: it is slow.

OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE, if set, can slow NumPy's BLAS here; the
header prints the kernel in use.
"""

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
# ../shared/reference from the repository; LITTLEBABY_REFERENCE names it for a checkout elsewhere (a worktree)
REFERENCE = Path(os.environ.get("LITTLEBABY_REFERENCE", HERE.parent.parent / "shared" / "reference"))
VOCAB = 65
BASE = dict(n_ctx=64, n_emb=128, head_size=128, n_layers=4)
QUICK = dict(n_ctx=16, n_emb=32, head_size=32, n_layers=2)


def models(quick: bool, only=None) -> list:
    """(label, block names and sizes, batch) of every benchmarked model (or of the labels in `only`)."""
    sizes = QUICK if quick else BASE
    heads_a, heads = (4, 2) if quick else (16, 4)
    batch_a, batch = (4, 8) if quick else (16, 32)
    rows = [
        ("A", dict(c_sequence="pre", c_attention="mha", c_network="mlp", n_heads=heads_a, **sizes), batch_a),
        ("B", dict(c_sequence="pre", c_attention="mha", c_network="mlp", n_heads=heads, **sizes), batch),
        ("C", dict(c_sequence="pre", c_attention="moh", c_network="moe", n_heads=heads, **sizes), batch),
    ]
    for sequence in ("pre", "post"):
        for attention in ("mha", "moh"):
            for network in ("mlp", "moe"):
                label = f"{sequence}/{attention}/{network}"
                blocks = dict(c_sequence=sequence, c_attention=attention, c_network=network)
                rows.append((label, dict(blocks, n_heads=heads, **sizes), batch))
    return [row for row in rows if only is None or row[0] in only]


def step_flops(spec: dict, batch: int, matrix_params: int) -> float:
    """GEMM FLOPs of one train step: forward 2 N P, backward 4 N P; attention 6 matmuls of 2 T^2 d."""
    T, H, d = spec["n_ctx"], spec["n_heads"], spec["head_size"] // spec["n_heads"]
    attention = 12 * batch * spec["n_layers"] * H * T * T * d
    return 6 * batch * T * matrix_params + attention


def median_min(times) -> tuple:
    return float(np.median(times)) * 1e3, float(np.min(times)) * 1e3


def time_steps(step, warmup: int, steps: int) -> tuple:
    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return median_min(times)


def median_seconds(function, repeats: int) -> float:
    """Median seconds of `repeats` calls, after one untimed call."""
    return time_steps(function, 1, repeats)[0] / 1e3


def gemm_peak(quick: bool) -> float:
    """Best float32 GEMM rate (GFLOP/s) of NumPy on a few shapes, over all cores.

    Two ways of using the cores, the better one counts: OpenBLAS's own threads
    on one GEMM, or one single-threaded GEMM per core in Python threads (what
    a split train step does).
    """
    from concurrent.futures import ThreadPoolExecutor

    from littlebaby.system import blas
    from littlebaby.training.step import cores

    rng = np.random.default_rng(0)
    shapes = [(256, 256, 256)] if quick else [(1024, 1024, 1024), (2048, 128, 512), (2048, 512, 128)]
    repeats = 5 if quick else 30
    n = cores()
    best = 0.0
    with ThreadPoolExecutor(n) as pool:
        for m, k, width in shapes:
            a = rng.standard_normal((m, k), dtype=np.float32)
            b = rng.standard_normal((k, width), dtype=np.float32)
            flops = 2 * m * k * width
            median, _ = time_steps(lambda: a @ b, 3, repeats)
            best = max(best, flops / (median * 1e-3) / 1e9)
            with blas.limit(1):
                median, _ = time_steps(lambda: list(pool.map(lambda _: a @ b, range(n))), 3, repeats)
            best = max(best, n * flops / (median * 1e-3) / 1e9)
    return best


# -- littlebaby --------------------------------------------------------------


def ours_train(spec: dict, batch: int, warmup: int, steps: int) -> dict:
    import tracemalloc

    from littlebaby.config import Config
    from littlebaby.optim.adamw import AdamW
    from littlebaby.plugins.resolve import build_model
    from littlebaby.training.step import compute_gradients, thread_count

    config = Config(batch_size=batch, **spec)
    model = build_model(config, VOCAB).train()
    optimizer = AdamW(model.parameters, weight_decay=config.weight_decay, threads=thread_count(config))
    rng = np.random.default_rng(0)
    ids = rng.integers(0, VOCAB, (batch, config.n_ctx))
    targets = rng.integers(0, VOCAB, (batch, config.n_ctx))

    def step():
        compute_gradients(model, ids, targets)
        optimizer.step(model.grad, 1e-4)

    median, minimum = time_steps(step, warmup, steps)
    tracemalloc.start()
    step()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    matrices = sum(
        int(np.prod(s.shape))
        for name, s in model.parameters.specs.items()
        if len(s.shape) >= 2 and name not in ("wte.weight", "wpe.weight")
    )
    return dict(median=median, min=minimum, flops=step_flops(spec, batch, matrices), peak_mb=peak / 2**20)


def ours_generate(model, n_tokens: int, use_cache: bool, seed: int = 0) -> list:
    """Sample n_tokens after token 0 (batch 1) with littlebaby's own generation loop."""
    from littlebaby.nn.generation import generate  # not at the top: this file also runs in the torch interpreter

    return generate(model, [0], n_tokens, rng=np.random.default_rng(seed), use_cache=use_cache)


def ours_generation(spec: dict, lengths) -> dict:
    from littlebaby.config import Config
    from littlebaby.plugins.resolve import build_model

    model = build_model(Config(**spec), VOCAB).eval()
    result = {}
    ours_generate(model, 20, True)  # warm-up
    for n in lengths:
        for use_cache in (True, False):
            start = time.perf_counter()
            ours_generate(model, n, use_cache)
            result[f"{n}/{'cache' if use_cache else 'nocache'}"] = n / (time.perf_counter() - start)
    return result


# -- through the CLI ----------------------------------------------------------------


def cli_seconds(spec: dict, batch: int, max_steps: int, home: str) -> float:
    """Wall seconds of one `littlebaby train` run in a subprocess."""
    settings = dict(spec, batch_size=batch, max_steps=max_steps)
    command = [sys.executable, "-m", "littlebaby.cli", "train", "--home", home]
    for key, value in settings.items():
        command += ["--set", f"{key}={value}"]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {done.stderr.strip()[-500:]}")
    return seconds


def cli_step(spec: dict, batch: int, short: int, long: int, repeats: int) -> dict:
    """Milliseconds per step of `littlebaby train`: (run of `long` steps - run of `short`) / (long - short)."""
    with tempfile.TemporaryDirectory() as home:
        cli_seconds(spec, batch, short, home)  # warm-up: file caches, compiled bytecode
        shortest = min(cli_seconds(spec, batch, short, home) for _ in range(repeats))
        longest = min(cli_seconds(spec, batch, long, home) for _ in range(repeats))
    return dict(
        short=short, long=long, short_s=shortest, long_s=longest, per_step=(longest - shortest) / (long - short) * 1e3
    )


# -- PyTorch (run in the torch interpreter) ------------------------------------


def torch_worker(job: dict) -> dict:
    """Runs inside the torch interpreter: train steps and generation of torch_ref's GPT."""
    import torch

    sys.path.insert(0, job["reference"])
    import torch_ref

    torch.set_num_threads(2)
    torch.manual_seed(0)
    out = {"version": torch.__version__, "train": {}, "generation": {}}
    for label, spec, batch in job["models"]:
        spec = dict(spec)
        model = torch_ref.GPT(VOCAB, **spec)
        optimizer = torch_ref.make_optimizer(model, lr=1e-4, kind="adamw")
        ids = torch.randint(0, VOCAB, (batch, spec["n_ctx"]))
        targets = torch.randint(0, VOCAB, (batch, spec["n_ctx"]))

        def step():
            optimizer.zero_grad(set_to_none=False)
            logits = model(ids)
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, VOCAB), targets.reshape(-1))
            loss.backward()
            optimizer.step()

        median, minimum = time_steps(step, job["warmup"], job["steps"])
        out["train"][label] = dict(median=median, min=minimum)
    model = torch_ref.GPT(VOCAB, **job["generation_model"]).eval()
    start_ids = torch.zeros((1, 1), dtype=torch.long)
    model.generate(start_ids, 20)
    for n in job["lengths"]:
        for use_cache in (True, False):
            start = time.perf_counter()
            model.generate(start_ids, n, use_cache=use_cache)
            out["generation"][f"{n}/{'cache' if use_cache else 'nocache'}"] = n / (time.perf_counter() - start)
    return out


def run_torch(python: str, job: dict, script: str = __file__) -> dict | None:
    """The dict `script --torch-worker JOB` prints last, run by the interpreter `python`; None if it cannot run."""
    try:
        done = subprocess.run(
            [python, str(Path(script).resolve()), "--torch-worker", json.dumps(job)],
            capture_output=True,
            text=True,
            timeout=1800,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        print(f"PyTorch skipped: {error}", file=sys.stderr)
        return None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"PyTorch skipped: {python} failed ({last})", file=sys.stderr)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- the original (float64 by accident, slow) ----------------------------------


def original_model(spec: dict):
    """(the original's module, its GPT for spec with seed 0, no dropout, the shared vocabulary)."""
    sys.path.insert(0, str(REFERENCE))
    import contextlib
    import io

    import original_model as original

    np.random.seed(0)
    model = original.GPT(
        spec["c_sequence"],
        spec["c_attention"],
        spec["c_network"],
        spec["n_ctx"],
        spec["n_emb"],
        spec["n_layers"],
        spec["head_size"],
        spec["n_heads"],
        0.0,
    )
    with contextlib.redirect_stdout(io.StringIO()):  # it prints as it grows
        model.expand_embeddings(VOCAB)
    return original, model


def original_train(spec: dict, batch: int, steps: int) -> dict:
    original, model = original_model(spec)
    model.set(True)
    optimizer = original.AdamW(model.parameters(), learning_rate=1e-4)  # parameters() once: it grows for moe
    ids = np.random.randint(0, VOCAB, (batch, spec["n_ctx"]))
    targets = np.random.randint(0, VOCAB, (batch, spec["n_ctx"]))

    def step():
        _, grads = original.value_and_grad(model, ids, targets)
        optimizer.step(grads)

    median, minimum = time_steps(step, 1, steps)
    return dict(median=median, min=minimum)


def original_generation(spec: dict, n_tokens: int) -> float:
    _, model = original_model(spec)
    start = time.perf_counter()
    model.generate(None, None, True, n_tokens)
    return n_tokens / (time.perf_counter() - start)


# -- report ----------------------------------------------------------------------


def machine() -> str:
    from littlebaby.system import blas

    cpu = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from littlebaby.training.step import cores

    env = ", ".join(f"{k}={os.environ[k]}" for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ)
    return (
        f"{cpu}, {cores()} cores; Python {platform.python_version()}, NumPy {np.__version__}, "
        f"OpenBLAS kernel {blas.kernel() or 'unknown'}, {blas.threads() or '?'} BLAS threads"
        + (f"; {env}" if env else "")
    )


def table(header, rows) -> list:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def report(args, peak, train, generation, torch, original, loads, cli=None) -> str:
    def ratio(a, b):
        return f"{a / b:.2f}x"

    lines = [
        f"Date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"Machine: {machine()}",
        f"Command: {' '.join(['python', 'benchmarks/bench.py'] + sys.argv[1:])}",
        f"Load average before / after: {loads[0]:.2f} / {loads[1]:.2f}",
        f"float32 GEMM peak (NumPy, this run): {peak:.0f} GFLOP/s",
        "",
        "## Train step",
        "",
    ]
    header = ["model", "batch", "median ms", "min ms", "tokens/s", "GFLOP/s", "% of GEMM peak", "peak MB"]
    if torch:
        header += [f"PyTorch {torch['version']} ms", "littlebaby / PyTorch"]
    if original:
        header += ["original ms", "speed-up vs original"]
    rows = []
    for label, spec, batch in models(args.quick, args.only):
        result = train[label]
        rate = result["flops"] / (result["median"] * 1e-3) / 1e9
        row = [
            label,
            str(batch),
            f"{result['median']:.1f}",
            f"{result['min']:.1f}",
            f"{batch * spec['n_ctx'] / (result['median'] * 1e-3):,.0f}",
            f"{rate:.0f}",
            f"{100 * rate / peak:.0f}%",
            f"{result['peak_mb']:.0f}",
        ]
        if torch:
            theirs = torch["train"][label]["median"]
            row += [f"{theirs:.1f}", ratio(result["median"], theirs)]
        if original:
            if label in original["train"]:
                theirs = original["train"][label]["median"]
                row += [f"{theirs:.0f}", f"{theirs / result['median']:.0f}x"]
            else:
                row += ["", ""]
        rows.append(row)
    lines += table(header, rows)
    lines += ["", "## Generation (model B, batch 1, tokens/s)", ""]
    header = ["tokens", "with cache", "without cache", "cache speed-up"]
    if torch:
        header += ["PyTorch with cache", "PyTorch without cache", "littlebaby / PyTorch (cache)"]
    if original:
        header += ["original with cache"]
    rows = []
    for n in args.lengths:
        cached, uncached = generation[f"{n}/cache"], generation[f"{n}/nocache"]
        row = [str(n), f"{cached:,.0f}", f"{uncached:,.0f}", ratio(cached, uncached)]
        if torch:
            theirs = torch["generation"][f"{n}/cache"]
            row += [f"{theirs:,.0f}", f"{torch['generation'][f'{n}/nocache']:,.0f}", ratio(cached, theirs)]
        if original:
            row += [f"{original['generation'][n]:,.0f}" if n in original["generation"] else ""]
        rows.append(row)
    lines += table(header, rows)
    if cli:
        lines += ["", f"## Through the CLI (littlebaby train, model {cli['label']}, per step)", ""]
        header = [
            "model",
            "runs",
            f"{cli['short']} steps s",
            f"{cli['long']} steps s",
            "CLI ms per step",
            "bare step ms",
            "overhead around the step",
        ]
        overhead = cli["per_step"] / cli["bare"] - 1.0
        lines += table(
            header,
            [
                [
                    cli["label"],
                    f"min of {cli['repeats']}",
                    f"{cli['short_s']:.3f}",
                    f"{cli['long_s']:.3f}",
                    f"{cli['per_step']:.1f}",
                    f"{cli['bare']:.1f}",
                    f"{100 * overhead:+.1f}%",
                ]
            ],
        )
    return "\n".join(lines) + "\n"


KEPT_SECTION = "\n## Why the fast paths"  # hand-written notes in RESULTS.md that a new run keeps


def write_markdown(path: Path, text: str) -> None:
    old = path.read_text() if path.exists() else ""
    kept = old[old.index(KEPT_SECTION) :] if KEPT_SECTION in old else ""
    path.write_text("# littlebaby benchmark\n\n" + text.replace("\n## ", "\n### ") + kept)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, a few steps: a smoke run for CI")
    parser.add_argument(
        "--torch", metavar="PYTHON", help="an interpreter with torch: run the PyTorch twin side by side"
    )
    parser.add_argument("--original", action="store_true", help="also time the original notebook's model (slow)")
    parser.add_argument("--steps", type=int, help="timed steps per model (default 15, quick 3)")
    parser.add_argument("--warmup", type=int, help="untimed steps first (default 3, quick 1)")
    parser.add_argument("--original-steps", type=int, default=3, help="timed steps of the original (default 3)")
    parser.add_argument("--models", metavar="LABELS", help="comma-separated subset, e.g. A,B,C or pre/moh/moe")
    parser.add_argument("--cli", action="store_true", help="also time `littlebaby train` end to end per step (model B)")
    parser.add_argument("--markdown", metavar="PATH", help="also write the results as Markdown to PATH")
    parser.add_argument("--torch-worker", metavar="JOB", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.torch_worker:
        print(json.dumps(torch_worker(json.loads(args.torch_worker))))
        return 0
    args.steps = args.steps or (3 if args.quick else 15)
    args.warmup = args.warmup or (1 if args.quick else 3)
    args.lengths = (20, 50) if args.quick else (200, 1000)
    args.only = args.models.split(",") if args.models else None

    loads = [os.getloadavg()[0]]
    peak = gemm_peak(args.quick)
    train = {}
    for label, spec, batch in models(args.quick, args.only):
        train[label] = ours_train(spec, batch, args.warmup, args.steps)
        print(f"littlebaby {label}: {train[label]['median']:.1f} ms", file=sys.stderr)
    b_spec = models(args.quick)[1][1]
    generation = ours_generation(b_spec, args.lengths)
    torch = None
    if args.torch:
        job = dict(
            reference=str(REFERENCE),
            models=models(args.quick, args.only),
            warmup=args.warmup,
            steps=args.steps,
            lengths=args.lengths,
            generation_model=b_spec,
        )
        torch = run_torch(args.torch, job)
    original = None
    if args.original:
        if (REFERENCE / "original_model.py").exists():
            original = {"train": {}, "generation": {}}
            for label, spec, batch in models(args.quick, args.only)[:3]:
                if label not in ("A", "B", "C"):
                    continue
                original["train"][label] = original_train(spec, batch, args.original_steps)
                print(f"original {label}: {original['train'][label]['median']:.0f} ms", file=sys.stderr)
            original["generation"][args.lengths[0]] = original_generation(b_spec, args.lengths[0])
        else:
            print(f"original skipped: no {REFERENCE / 'original_model.py'}", file=sys.stderr)
    cli = None
    if args.cli:
        label, spec, batch = models(args.quick)[1]  # B: the default `littlebaby train` model
        short, long = (2, 6) if args.quick else (5, 45)
        repeats = 1 if args.quick else 2
        cli = dict(cli_step(spec, batch, short, long, repeats), label=label, repeats=repeats)
        cli["bare"] = (
            train[label]["median"] if label in train else ours_train(spec, batch, args.warmup, args.steps)["median"]
        )
        print(f"littlebaby train {label}: {cli['per_step']:.1f} ms per step, bare {cli['bare']:.1f}", file=sys.stderr)
    loads.append(os.getloadavg()[0])
    text = report(args, peak, train, generation, torch, original, loads, cli)
    print(text)
    if args.markdown:
        write_markdown(Path(args.markdown), text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
