"""Per-character losses: equal to the model's own cross-entropy, windows for long text, the CLI view."""

import os
import subprocess
import sys
from html.parser import HTMLParser

import numpy as np
import pytest

from littlebaby import api
from littlebaby.errors import UserError
from littlebaby.look import surprise as token_losses
from littlebaby.nn.ops.loss import cross_entropy, token_cross_entropy


@pytest.fixture(scope="module")
def loaded(tiny_run):
    home, name = tiny_run
    return api.load(name, home=home)


def expected_at(model, inputs, targets, start, j):
    """The model's cross-entropy on target j, read in the window of inputs start .. j."""
    return cross_entropy(model.logits(inputs[start : j + 1])[-1:], targets[j : j + 1])[0]


def test_short_text_losses_are_the_models_cross_entropy(loaded):
    config, tokenizer, model = loaded
    text = "ROMEO: my love!"
    assert len(text) < config.n_ctx
    pairs = api.token_losses(loaded, text)
    assert "".join(char for char, _ in pairs) == text
    targets = tokenizer.encode(text)
    inputs = np.concatenate([[tokenizer.start_id()], targets[:-1]])
    # the mean is the model's own loss on the whole sequence, each loss its own position's
    assert np.mean([loss for _, loss in pairs]) == pytest.approx(model.loss(inputs[None], targets[None]), abs=1e-9)
    for j, (_, loss) in enumerate(pairs):
        assert loss == pytest.approx(expected_at(model, inputs, targets, 0, j), abs=1e-9)


def test_long_text_every_character_has_half_a_window_of_context(loaded):
    config, tokenizer, model = loaded
    text = ("First Citizen:\nBefore we proceed any further, hear me speak.\n" * 2)[: 3 * config.n_ctx + 5]
    pairs = api.token_losses(loaded, text)
    assert len(pairs) == len(text)
    targets = tokenizer.encode(text)
    inputs = np.concatenate([[tokenizer.start_id()], targets[:-1]])
    for j, (_, loss) in enumerate(pairs):
        if j < config.n_ctx:  # the first window: the whole text before it
            candidates = [0]
        else:  # a window ending at j of at most n_ctx and at least n_ctx / 2 + 1 characters
            candidates = range(j + 1 - config.n_ctx, j + 1 - config.n_ctx // 2)
        assert any(abs(loss - expected_at(model, inputs, targets, s, j)) < 1e-9 for s in candidates), j


def test_windows_cover_every_target_once():
    for n in (1, 5, 16, 17, 40, 100):
        for n_ctx in (1, 2, 7, 16):
            covered = []
            for start, first, end in token_losses.windows(n, n_ctx):
                assert 0 <= start <= first < end <= n and end - start <= n_ctx
                covered += range(first, end)
            assert covered == list(range(n))


def test_token_cross_entropy_mean_is_the_training_loss():
    rng = np.random.default_rng(0)
    logits, targets = rng.normal(size=(3, 5, 11)) * 4, rng.integers(0, 11, size=(3, 5))
    per_token = token_cross_entropy(logits, targets)
    assert per_token.shape == (3, 5) and (per_token > 0).all()
    assert per_token.mean() == pytest.approx(cross_entropy(logits, targets)[0], abs=1e-12)


def test_unknown_character_and_empty_text(loaded):
    with pytest.raises(UserError, match="'€'"):
        api.token_losses(loaded, "ROMEO €")
    with pytest.raises(UserError, match="empty"):
        api.token_losses(loaded, "")


def test_html_escapes_the_text():
    pairs = [("<", 0.1), ("s", 5.0), (">", 1.5), ("&", 2.5), ('"', 3.5), ("\n", 0.7)]
    page = token_losses.to_html(pairs, title="a <b> & c")
    assert "<s>" not in page and "&lt;" in page and "&gt;" in page and "&amp;" in page
    assert "<title>a &lt;b&gt; &amp; c</title>" in page
    # the tooltip of the quote character may not close its attribute
    assert 'title="&#x27;&quot;&#x27;: 3.500 nats"' in page
    # parsed as HTML, the spans in <pre> hold the text, character by character, with its losses as tooltips
    assert PreSpans.of(page) == [
        ("<", "'<': 0.100 nats"),
        ("s", "'s': 5.000 nats"),
        (">", "'>': 1.500 nats"),
        ("&", "'&': 2.500 nats"),
        ('"', "'\"': 3.500 nats"),
        ("⏎\n", "'\\n': 0.700 nats"),
    ]


class PreSpans(HTMLParser):
    """(text, title) of each span inside <pre>."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.in_pre, self.spans = False, []

    @classmethod
    def of(cls, page):
        parser = cls()
        parser.feed(page)
        return [tuple(span) for span in parser.spans]

    def handle_starttag(self, tag, attrs):
        self.in_pre |= tag == "pre"
        if self.in_pre and tag == "span":
            self.spans.append(["", dict(attrs)["title"]])

    def handle_endtag(self, tag):
        self.in_pre &= tag != "pre"

    def handle_data(self, data):
        if self.in_pre and self.spans:
            self.spans[-1][0] += data


def test_levels_and_ansi():
    assert [token_losses.level(x) for x in (0.0, 0.49, 0.5, 1.9, 3.99, 4.0, 20.0)] == [0, 0, 1, 2, 4, 5, 5]
    coloured = token_losses.to_ansi([("a", 0.1), ("\n", 5.0)])
    assert coloured == "\x1b[30;48;5;157ma\x1b[0m\x1b[30;48;5;203m \x1b[0m\n\x1b[30;48;5;203m\x1b[0m"


def test_digits_sit_under_their_characters():
    pairs = [("a", 0.4), ("\t", 9.7), ("\n", 2.6), ("b", 12.0), (" ", 1.2)]
    assert token_losses.to_digits(pairs) == "a⇥⏎\n093\nb \n91"


def surprise(*args, cwd, env=None):
    return subprocess.run(
        [sys.executable, "-m", "littlebaby.cli", "surprise", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        env=env,
    )


def test_cli_digits_when_not_a_terminal_and_html_page(tiny_run, tmp_path, loaded):
    home, name = tiny_run
    text = "ROMEO: 'love'\n& fear"
    done = surprise(name, "--text", text, "--home", home, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "\x1b[" not in done.stdout  # stdout is a pipe: no colour
    lines = done.stdout.splitlines()
    expected = api.token_losses(loaded, text)
    # each line of the text, then under each character its loss in whole nats
    assert lines[0] == "ROMEO: 'love'⏎" and lines[2] == "& fear"
    assert list(lines[1] + lines[3]) == [str(min(9, round(loss))) for _, loss in expected]
    assert lines[4].startswith("mean loss ") and f" nats over {len(text)} characters; hardest: " in lines[4]

    scene = tmp_path / "scene.txt"
    scene.write_text("ROMEO:\nIs she fair & true?\n", encoding="utf-8")  # '&' is the one HTML character Shakespeare has
    done = surprise("last", "--file", scene, "--out", tmp_path / "scene.html", "--home", home, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    page = (tmp_path / "scene.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "&amp;" in page
    assert [text for text, _ in PreSpans.of(page)] == [
        "⏎\n" if c == "\n" else c for c in scene.read_text(encoding="utf-8")
    ]


def test_cli_colours_a_terminal_unless_no_color(tiny_run, tmp_path):
    home, name = tiny_run
    script = (
        "import sys, pty, os; code = pty.spawn([sys.executable, '-m', 'littlebaby.cli', 'surprise', 'last',"
        f" '--text', 'ROMEO:', '--home', {str(home)!r}]); sys.exit(os.waitstatus_to_exitcode(code))"
    )
    if sys.platform == "win32":
        pytest.skip("no pty on Windows")
    for no_color, coloured in ((None, True), ("1", False)):
        env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
        if no_color:
            env["NO_COLOR"] = no_color
        done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, timeout=120, env=env)
        assert done.returncode == 0, done.stderr
        assert (b"\x1b[30;48;5;" in done.stdout) == coloured


def test_cli_mistakes_are_one_line(tiny_run, tmp_path):
    home, _ = tiny_run
    for args in (
        ["last", "--text", "ROMEO €", "--home", home],
        ["last", "--file", tmp_path / "missing.txt", "--home", home],
        ["last", "--home", home],
        ["last", "--text", "a", "--file", "b", "--home", home],
    ):
        done = surprise(*args, cwd=tmp_path)
        assert done.returncode == 2 and done.stderr.count("\n") == 1 and done.stdout == "", args


def test_byte_pair_tokens_join_back_to_the_text(tmp_path):
    pytest.importorskip("littlebaby_tokenizer_bpe", reason="the bpe tokenizer plugin is not installed")
    result = api.train("tiny", overrides={"max_steps": 2, "c_tokenizer": "bpe"}, home=tmp_path)
    config, tokenizer, model = loaded = api.load(result.name, home=tmp_path)
    text = "ROMEO: my love\nis here"
    pairs = api.token_losses(loaded, text)
    targets = tokenizer.encode(text)
    assert "".join(token for token, _ in pairs) == text and len(pairs) == len(targets) < len(text)
    inputs = np.concatenate([[tokenizer.start_id()], targets[:-1]])
    assert np.mean([loss for _, loss in pairs]) == pytest.approx(model.loss(inputs[None], targets[None]), abs=1e-6)
    lines = token_losses.to_digits(pairs).splitlines()
    assert lines[0] == "ROMEO: my love⏎" and lines[2] == "is here" and len(lines[1]) <= len(lines[0])
    # the CLI counts them as what they are: tokens, not characters
    done = surprise(result.name, "--text", text, "--home", tmp_path, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f" nats over {len(targets)} tokens; hardest: " in done.stdout.splitlines()[-1]
    done = surprise(result.name, "--text", text, "--out", tmp_path / "page.html", "--home", tmp_path, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f" nats over {len(targets)} tokens; " in (tmp_path / "page.html").read_text(encoding="utf-8")


def test_a_character_the_run_lacks_is_asked_out_of_the_text_not_a_prompt(tiny_run, tmp_path):
    # surprise's text is no prompt: the fix said "remove it from the prompt"
    home, _ = tiny_run
    done = surprise("last", "--text", "ROMEO €", "--home", home, cwd=tmp_path)
    assert (
        "character '€' (at position 6) is not in the model's vocabulary" in done.stderr and "prompt" not in done.stderr
    )
