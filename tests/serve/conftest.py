"""A live `littlebaby serve` on a free localhost port, over a home with one tiny trained run."""

import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

pytest.importorskip("starlette", reason="the serve extra is not installed (uv sync --all-extras)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def littlebaby(*args, home, **kwargs):
    return subprocess.run(
        [sys.executable, "-m", "littlebaby.cli", *map(str, args), "--home", str(home)],
        capture_output=True,
        text=True,
        timeout=300,
        **kwargs,
    )


def start_server(home, *extra):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "littlebaby.cli", "serve", "--home", str(home), "--port", str(port), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(url + "/v1/models", timeout=1)
            return process, url
        except OSError:
            if process.poll() is not None:
                raise AssertionError(process.stderr.read())
            time.sleep(0.05)
    raise AssertionError("the server did not answer")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("served")
    trained = littlebaby("train", "--config", "tiny", "--quiet", "--set", "max_steps=30", home=home)
    assert trained.returncode == 0, trained.stderr
    process, url = start_server(home)
    import openai

    yield home, url, openai.OpenAI(base_url=url + "/v1", api_key="none", max_retries=0)
    process.send_signal(signal.SIGTERM)
    started = time.monotonic()
    process.wait(timeout=10)
    assert time.monotonic() - started < 5, "SIGTERM stops the server within seconds"


@pytest.fixture
def cli():
    return littlebaby


@pytest.fixture
def launch():
    return start_server
