"""BPE training stays fast and stoppable: text without whitespace, and a signal while the trainer runs."""

import signal
import subprocess
import sys
import time

import pytest

bpe = pytest.importorskip("littlebaby_tokenizer_bpe", reason="the bpe tokenizer plugin is not installed")


def test_a_text_without_whitespace_trains_in_linear_time():
    started = time.perf_counter()
    tokenizer = bpe.ByteBPE.train(["ab" * 200_000], bpe.Options(vocab_size=300))  # one 400 KB "word"
    assert time.perf_counter() - started < 20  # about 0.1 s; it took minutes when a piece could be the whole word
    assert tokenizer.decode(tokenizer.encode("abab" * 1000)) == "abab" * 1000


def test_a_signal_stops_the_trainer_at_once():
    script = (
        "import signal, sys\n"
        "import littlebaby_tokenizer_bpe as bpe\n"
        "from littlebaby.text.source import shipped_text\n"
        "def stop(signum, frame): raise KeyboardInterrupt\n"
        "signal.signal(signal.SIGTERM, stop)\n"
        "text = shipped_text() * 20\n"
        "print('training', flush=True)\n"
        "try:\n"
        "    bpe.ByteBPE.train([text], bpe.Options(vocab_size=4096))\n"
        "except KeyboardInterrupt:\n"
        "    sys.exit(143)\n"
    )
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline() == "training\n"
    time.sleep(2.0)  # inside the Rust trainer by now (it takes ~20 s here)
    process.send_signal(signal.SIGTERM)
    sent = time.monotonic()
    assert process.wait(timeout=30) == 143
    assert time.monotonic() - sent < 3, "the stop waited for the trainer to finish"
