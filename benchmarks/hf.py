"""GPT-2 124M in littlebaby beside transformers: import, load, cached generation, memory, a finetune step.

    uv run python benchmarks/hf.py --torch /work/torchvenv/bin/python          # GPT-2 124M's shape
    uv run python benchmarks/hf.py --torch /work/torchvenv/bin/python --quick  # a small shape, seconds

The torch interpreter (any venv with torch and transformers) writes a GPT-2 folder with random weights in
GPT-2 124M's shape (12 layers, n_embd 768, 12 heads, n_positions 1024, vocab 50257: a byte-level BPE tokenizer
trained on the shipped texts, padded with added tokens to 50257) and measures transformers on it; this script
imports it with `littlebaby import-hf` and measures littlebaby. Each measurement runs in a process of its own,
so its peak memory (ru_maxrss) is its own. Generation: batch 1, float32, greedy, 256 new tokens after an
8-token prompt, with the KV cache, tokens per second (median of --repeats). The finetune step: batch 4 x 256
tokens, forward, backward and AdamW (median of --steps after one warm-up). Both sides use --threads threads.
"""

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TEXTS = [HERE.parent / "core" / "littlebaby" / "data" / name for name in ("shakespeare.txt", "sophocles.txt")]
FULL = {"n_embd": 768, "n_layer": 12, "n_head": 12, "n_positions": 1024, "vocab": 50257}
QUICK = {"n_embd": 64, "n_layer": 2, "n_head": 4, "n_positions": 512, "vocab": 1000}


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- the torch side (run in the torch interpreter) -------------------------------------------------------
def make_folder(folder: Path, shape: dict):
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    library = Tokenizer(models.BPE())
    library.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    library.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=shape["vocab"] - 1,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    library.train_from_iterator([path.read_text() for path in TEXTS], trainer)
    missing = shape["vocab"] - library.get_vocab_size()
    library.add_tokens([f"<|pad{i}|>" for i in range(missing)])
    fast = PreTrainedTokenizerFast(tokenizer_object=library, eos_token="<|endoftext|>", bos_token="<|endoftext|>")
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=len(fast),
        n_positions=shape["n_positions"],
        n_embd=shape["n_embd"],
        n_layer=shape["n_layer"],
        n_head=shape["n_head"],
    )
    GPT2LMHeadModel(config).save_pretrained(folder, safe_serialization=True)
    fast.save_pretrained(folder)


def torch_measure(folder: Path, what: str, args) -> dict:
    import torch
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    load = time.perf_counter() - started
    if what == "generate":
        model.eval()
        prompt = torch.arange(8)[None] + 100
        rates = []
        with torch.no_grad():
            for _ in range(args.repeats):
                started = time.perf_counter()
                out = model.generate(
                    prompt,
                    max_new_tokens=args.new_tokens,
                    min_new_tokens=args.new_tokens,
                    do_sample=False,
                    use_cache=True,
                    pad_token_id=0,
                )
                rates.append((out.shape[1] - 8) / (time.perf_counter() - started))
        return {"load_seconds": load, "tokens_per_second": statistics.median(rates), "peak_mib": peak_mib()}
    model.train()
    config = model.config
    model.config.resid_pdrop = model.config.embd_pdrop = model.config.attn_pdrop = 0.0
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    ids = torch.randint(0, config.vocab_size, (4, 257), generator=torch.Generator().manual_seed(0))
    times = []
    for _ in range(args.steps + 1):
        started = time.perf_counter()
        loss = model(ids[:, :-1], labels=ids[:, :-1]).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - started)
    return {"step_seconds": statistics.median(times[1:]), "peak_mib": peak_mib()}


# -- the littlebaby side ---------------------------------------------------------------------------------
def littlebaby_measure(home: Path, what: str, args) -> dict:
    import numpy as np

    import littlebaby
    from littlebaby.nn.generation import generate
    from littlebaby.optim import AdamW
    from littlebaby.training.step import compute_gradients

    started = time.perf_counter()
    config, tokenizer, model = littlebaby.load("last", home=home)
    load = time.perf_counter() - started
    if what == "generate":
        prompt = list(range(100, 108))
        rates = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            out = generate(model, prompt, args.new_tokens, temperature=0.0, rng=np.random.default_rng(0))
            rates.append(len(out) / (time.perf_counter() - started))
        return {"load_seconds": load, "tokens_per_second": statistics.median(rates), "peak_mib": peak_mib()}
    model.train()
    optimizer = AdamW(model.parameters, threads=args.threads)
    ids = np.random.default_rng(0).integers(0, model.vocab_size, (4, 257))
    times = []
    for _ in range(args.steps + 1):
        started = time.perf_counter()
        compute_gradients(model, ids[:, :-1], ids[:, 1:])
        optimizer.step(model.grad, 1e-4)
        times.append(time.perf_counter() - started)
    return {"step_seconds": statistics.median(times[1:]), "peak_mib": peak_mib()}


def worker(python: str, *argv) -> dict:
    done = subprocess.run([python, __file__, *argv], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"worker {' '.join(argv)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--torch", required=True, help="a Python with torch and transformers")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--new-tokens", type=int, default=256)
    parser.add_argument("--worker", nargs=3, metavar=("SIDE", "WHAT", "PATH"))
    args = parser.parse_args()
    if args.worker:
        side, what, path = args.worker
        if side == "make":
            make_folder(Path(path), QUICK if what == "quick" else FULL)
            print(json.dumps({}))
        else:
            measure = torch_measure if side == "torch" else littlebaby_measure
            print(json.dumps(measure(Path(path), what, args)))
        return
    common = [
        "--threads",
        str(args.threads),
        "--repeats",
        str(args.repeats),
        "--steps",
        str(args.steps),
        "--new-tokens",
        str(args.new_tokens),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        folder, home = Path(tmp) / "gpt2", Path(tmp) / "home"
        worker(args.torch, "--torch", args.torch, "--worker", "make", "quick" if args.quick else "full", str(folder))
        weights = (folder / "model.safetensors").stat().st_size / 2**20
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "littlebaby.cli", "import-hf", str(folder), "--home", str(home)],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            sys.exit(done.stderr)
        imported = time.perf_counter() - started
        results = {}
        for what in ("generate", "step"):
            for side, python, path in (("torch", args.torch, folder), ("littlebaby", sys.executable, home)):
                results[side, what] = worker(python, "--torch", args.torch, *common, "--worker", side, what, str(path))
    shape = QUICK if args.quick else FULL
    print(
        f"GPT-2 shape {shape}, weights {weights:.0f} MiB; {cpu_name()}, {args.threads} threads, "
        f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', 'unset')}, load {os.getloadavg()[0]:.1f}"
    )
    print(f"littlebaby import-hf (a process, as a user runs it): {imported:.1f} s")
    rows = [
        ("load the model, s", "load_seconds", "generate", False),
        ("cached generation, tokens/s", "tokens_per_second", "generate", True),
        ("peak memory while generating, MiB", "peak_mib", "generate", False),
        ("finetune step 4 x 256, s", "step_seconds", "step", False),
        ("peak memory while finetuning, MiB", "peak_mib", "step", False),
    ]
    print("| measure | littlebaby | transformers | littlebaby / transformers |\n|---|---|---|---|")
    for label, key, what, _ in rows:
        ours, theirs = results["littlebaby", what][key], results["torch", what][key]
        print(f"| {label} | {ours:.3g} | {theirs:.3g} | {ours / theirs:.2f}x |")
    print(f"generation memory / weights: {results['littlebaby', 'generate']['peak_mib'] / weights:.2f}x")


if __name__ == "__main__":
    main()
