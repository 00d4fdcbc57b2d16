"""The OpenAI API of `littlebaby serve`, through the official `openai` client and raw HTTP, on a live server."""

import json
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

openai = pytest.importorskip("openai", reason="the openai client is a dev dependency (uv sync)")


def generated(home, prompt, seed, max_tokens=24, temperature=0.8) -> str:
    """What `littlebaby generate` prints after the prompt."""
    settings_ = ["--prompt", prompt, "--seed", seed, "--max-tokens", max_tokens, "--temperature", temperature]
    command = [sys.executable, "-m", "littlebaby.cli", "generate", "last", *map(str, settings_), "--no-save"]
    done = subprocess.run(command + ["--home", str(home)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout[len(prompt) :].rstrip("\n")


def test_models_lists_the_runs_and_last(server):
    home, _, client = server
    models = client.models.list().data
    ids = [model.id for model in models]
    assert ids[0] == "last" and len(ids) == 2 and (home / "configs" / f"config_{ids[1]}.json").exists()
    assert models[1].model_extra["name"] == "tiny max_steps=30"  # the readable name beside the GUID
    by_name = client.completions.create(model="tiny max_steps=30", prompt="A", max_tokens=5, seed=1)
    assert (
        by_name.choices[0].text
        == client.completions.create(model="last", prompt="A", max_tokens=5, seed=1).choices[0].text
    )


def test_a_seeded_completion_is_what_generate_prints(server):
    home, _, client = server
    reply = client.completions.create(model="last", prompt="ROMEO:", max_tokens=24, seed=7, temperature=0.8)
    assert reply.choices[0].text == generated(home, "ROMEO:", 7)
    assert reply.choices[0].finish_reason == "length" and reply.usage.completion_tokens == 24


def test_streaming_gives_the_same_text_piece_by_piece(server):
    _, _, client = server
    whole = client.completions.create(model="last", prompt="ROMEO:", max_tokens=24, seed=5).choices[0].text
    chunks = list(client.completions.create(model="last", prompt="ROMEO:", max_tokens=24, seed=5, stream=True))
    assert len(chunks) > 2 and "".join(chunk.choices[0].text for chunk in chunks) == whole
    assert chunks[-1].choices[0].finish_reason == "length"


def test_chat_is_the_plain_transcript_continued(server):
    home, _, client = server
    reply = client.chat.completions.create(
        model="last", messages=[{"role": "user", "content": "Who art thou?"}], max_tokens=16, seed=3, temperature=0.8
    )
    assert reply.choices[0].message.content == generated(home, "User: Who art thou?\nAssistant:", 3, 16)
    chunks = list(
        client.chat.completions.create(
            model="last",
            messages=[{"role": "user", "content": "Who art thou?"}],
            max_tokens=16,
            seed=3,
            temperature=0.8,
            stream=True,
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == reply.choices[0].message.content


def test_a_stop_sequence_ends_the_text_before_it(server):
    _, _, client = server
    free = client.completions.create(model="last", prompt="ROMEO:", max_tokens=24, seed=9).choices[0].text
    stop = free[10:12]
    cut = client.completions.create(model="last", prompt="ROMEO:", max_tokens=24, seed=9, stop=[stop]).choices[0]
    assert cut.text == free[: free.index(stop)] and cut.finish_reason == "stop"


def test_concurrent_requests_never_mix(server):
    _, _, client = server

    def ask(seed):
        return client.completions.create(model="last", prompt="KING:", max_tokens=20, seed=seed).choices[0].text

    alone = [ask(seed) for seed in range(6)]
    with ThreadPoolExecutor(6) as pool:
        together = list(pool.map(ask, [*range(6), *range(6)]))
    assert together == alone + alone


def raw(url, path, body=None, method="POST", headers=None):
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url + path, data=data, method=method, headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.mark.parametrize(
    "body, status, said",
    [
        (b"{not json", 400, "not valid JSON"),
        (b'{"model": "last", "prompt": "x", "temperature": NaN}', 400, "not valid JSON"),
        ([1, 2], 400, "JSON object"),
        ({"model": "nobody", "prompt": "x"}, 404, "no run"),
        ({"prompt": "x"}, 404, "model"),
        ({"model": "last", "prompt": "x", "max_tokens": -1}, 400, "max_tokens"),
        ({"model": "last", "prompt": "x", "max_tokens": 10**12}, 400, "max_tokens"),
        ({"model": "last", "prompt": "x", "max_tokens": "5"}, 400, "max_tokens"),
        ({"model": "last", "prompt": "x", "temperature": "hot"}, 400, "temperature"),
        ({"model": "last", "prompt": "x", "temperature": 1e300}, 400, "temperature"),
        (b'{"model": "last", "prompt": "x", "temperature": Infinity}', 400, "not valid JSON"),
        ({"model": "last", "prompt": 5}, 400, "prompt"),
        ({"model": "last", "prompt": "x", "top_p": 0.5}, 400, "top_p"),
        ({"model": "last", "prompt": "x", "n": 2}, 400, "n must be 1"),
        ({"model": "last", "prompt": "x", "stop": ["a", "b", "c", "d", "e"]}, 400, "stop"),
        ({"model": "last", "prompt": "x", "seed": -1}, 400, "seed"),
        ({"model": "last", "prompt": "x", "stream": "yes"}, 400, "stream"),
    ],
)
def test_a_bad_request_is_a_4xx_with_a_json_error(server, body, status, said):
    _, url, client = server
    code, answer = raw(url, "/v1/completions", body)
    assert code == status and said in answer["error"]["message"], answer
    assert client.models.list().data  # and the server goes on serving


def test_a_body_too_large_is_refused_from_its_header_before_it_is_read(server):
    import http.client

    _, url, client = server
    connection = http.client.HTTPConnection(url.removeprefix("http://"), timeout=10)
    connection.putrequest("POST", "/v1/completions")
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Content-Length", str(500 << 20))  # 500 MB announced, none sent
    connection.endheaders()
    answer = connection.getresponse()
    assert answer.status == 413 and "over" in json.loads(answer.read())["error"]["message"]
    assert client.models.list().data


def test_unknown_paths_and_methods_are_json_errors(server):
    _, url, _ = server
    assert raw(url, "/nowhere", method="GET")[0] == 404
    code, answer = raw(url, "/v1/models", {"x": 1})
    assert code == 405 and "error" in answer


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.dictionaries(
        st.sampled_from(["model", "prompt", "max_tokens", "temperature", "top_k", "stop", "seed", "stream", "n"]),
        st.one_of(
            st.none(),
            st.booleans(),
            st.integers(-5, 40),
            st.floats(allow_nan=False),
            st.text(max_size=8),
            st.lists(st.text(max_size=3), max_size=5),
        ),
    )
)
def test_no_body_makes_a_server_error(server, body):
    _, url, _ = server
    body = {"model": "last", "max_tokens": 4, **body, "stream": False}
    code, answer = raw(url, "/v1/completions", body)
    assert code < 500, answer


def test_another_host_than_this_machine_is_a_warning(tmp_path, launch):
    process, _ = launch(tmp_path, "--host", "0.0.0.0")
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=10)
    assert "littlebaby: warning: serving on 0.0.0.0" in err
