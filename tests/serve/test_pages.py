"""The web app in a real browser: Debian's headless Chromium, driven by Playwright, against a live server."""

import shutil
import subprocess
import sys

import pytest

playwright = pytest.importorskip("playwright.sync_api", reason="playwright is a dev dependency (uv sync)")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium: .ci/run installs it (apt-get install chromium)")
# as the machine's probe starts it: no sandbox (root), no GPU, and nothing that reaches past localhost
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser):
    opened = browser.new_page()
    errors = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    yield opened
    opened.close()
    assert not [e for e in errors if "status of 400" not in e], errors  # a refusal the page shows is not a fault


def test_the_runs_table_sorts_by_keyboard_and_follows_a_new_run(server, page):
    home, url, _ = server
    page.goto(url + "/")
    page.wait_for_selector("#runs tbody tr")
    assert page.locator("#runs tbody tr").count() == 1
    steps = page.locator("th[data-key=steps]")
    steps.locator("button").focus()
    page.keyboard.press("Enter")
    assert steps.get_attribute("aria-sort") == "ascending"
    page.keyboard.press("Enter")
    assert steps.get_attribute("aria-sort") == "descending"
    command = [sys.executable, "-m", "littlebaby.cli", "train", "--config", "tiny", "--quiet", "--home", str(home)]
    trained = subprocess.run(command + ["--set", "max_steps=20", "--name", "a second run"], capture_output=True)
    assert trained.returncode == 0, trained.stderr
    page.wait_for_function("document.querySelectorAll('#runs tbody tr').length === 2", timeout=15000)
    assert "a second run" in page.inner_text("#runs tbody")


def test_a_run_page_draws_its_curves_and_streams_what_the_api_gives(server, page):
    _, url, client = server
    page.goto(url + "/run.html?run=last")
    page.wait_for_selector("#loss .main-svg")
    page.wait_for_selector("#lr .main-svg")
    assert "parameters" in page.inner_text("#parameters")
    page.fill("#prompt", "KING:")
    page.fill("#max-tokens", "40")
    page.fill("#seed", "4")
    page.get_by_role("button", name="Generate").click()
    page.wait_for_selector("#completion[data-done=true]", timeout=30000)
    said = client.completions.create(model="last", prompt="KING:", max_tokens=40, seed=4, temperature=0.8)
    assert page.inner_text("#completion") == "KING:" + said.choices[0].text


def test_attention_and_surprise_are_drawn_for_what_is_typed(server, page):
    _, url, _ = server
    page.goto(url + "/run.html?run=last")
    page.fill("#attention-prompt", "ROMEO: hi")
    page.get_by_role("button", name="Show attention").click()
    page.wait_for_selector("#attention .main-svg")
    page.fill("#surprise-input", "ROMEO")
    page.get_by_role("button", name="Score each token").click()
    page.wait_for_selector("#surprise-text span")
    assert page.locator("#surprise-text span").count() == len("ROMEO")  # a character tokenizer: one span each
    page.fill("#head", "99")
    page.get_by_role("button", name="Show attention").click()
    page.wait_for_selector("#attention.error")
    assert "head must be from 0 to" in page.inner_text("#attention")


def test_the_attention_map_redraws_for_another_head(server, page):
    _, url, _ = server
    page.goto(url + "/run.html?run=last")
    page.fill("#attention-prompt", "ROMEO: my love")
    weights = []
    for head in ("0", "1"):
        page.fill("#head", head)
        page.get_by_role("button", name="Show attention").click()
        page.wait_for_selector(f"#attention[data-shown='0/{head}']")
        weights.append(page.evaluate("document.getElementById('attention').data[0].z"))
    assert weights[0] != weights[1] and len(weights[0]) == len("ROMEO: my love")


def test_a_curve_grows_while_its_run_trains(server, page):
    home, url, _ = server
    command = [
        sys.executable,
        "-m",
        "littlebaby.cli",
        "train",
        "--config",
        "tiny",
        "--quiet",
        "--home",
        str(home),
        "--name",
        "growing",
        "--set",
        "max_steps=100000",
        "--set",
        "eval_interval=200",
    ]
    trainer = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert trainer.stdout.readline().startswith("run "), trainer.stderr.read()
        page.goto(url + "/run.html?run=growing")
        page.wait_for_function("document.getElementById('loss').data?.[0]?.x?.length > 0", timeout=60000)
        first = page.evaluate("document.getElementById('loss').data[0].x.length")
        page.wait_for_function(f"document.getElementById('loss').data[0].x.length > {first}", timeout=60000)
        assert "running" in page.inner_text("#status")
    finally:
        trainer.terminate()
        trainer.communicate(timeout=60)


def test_the_gates_of_moh_are_drawn_beside_its_attention(server, page):
    home, url, _ = server
    command = [sys.executable, "-m", "littlebaby.cli", "train", "--config", "tiny", "--quiet", "--home", str(home)]
    done = subprocess.run(command + ["--set", "max_steps=5", "--set", "c_attention=moh", "--name", "gated"])
    assert done.returncode == 0
    page.goto(url + "/run.html?run=gated")
    page.get_by_role("button", name="Show attention").click()
    page.wait_for_selector("#gates .main-svg")
    assert "heads gate" in page.inner_text("#gates")
