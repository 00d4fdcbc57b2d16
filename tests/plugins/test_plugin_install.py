"""End to end from the outside: pip install a plugin into a fresh venv, name it in a config, train.

A temporary venv gets the core and the six built-in plugins from this repo,
then the GQA plugin, then the docs' example plugin, each with
`pip install --no-deps --no-build-isolation --no-index` (no network: numpy and
the other dependencies come from this project's environment through a .pth
file that shows its third-party packages but none of its littlebaby ones).
Through the `littlebaby` CLI: `c_attention: gqa` fails with the one-line
install hint, then after `pip install ./plugins/attention_gqa` it is listed,
trains and generates, and after uninstalling it the error is back. The docs'
example is installed the same way and its three-line test file is run with
the venv's pytest, so docs/plugins.md cannot rot. The MLA plugin is installed
and trained the same way.
"""

import json
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILT_INS = ("sequence_pre", "sequence_post", "attention_mha", "attention_moh", "network_mlp", "network_moe")
CONFIG = {  # tiny, so two steps and 20 tokens take a moment
    "c_attention": "gqa",
    "n_kv_heads": 2,
    "n_ctx": 16,
    "n_emb": 16,
    "head_size": 16,
    "n_heads": 4,
    "n_layers": 1,
    "batch_size": 4,
    "eval_interval": 1,
    "eval_windows": 2,
    "warmup_steps": 1,
    "threads": 1,
}
TEXT = "To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer\n" * 20


class Venv:
    def __init__(self, root: Path):
        self.root = root
        self.path = root / "venv"
        self.bin = self.path / "bin"
        self.env = {
            "PATH": f"{self.bin}:/usr/bin:/bin",
            "HOME": str(root),
            "OMP_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1",
        }

    def run(self, *args, cwd=None):
        return subprocess.run(args, cwd=cwd or self.root, env=self.env, capture_output=True, text=True, timeout=120)

    def pip(self, *args):
        done = self.run(str(self.bin / "python"), "-m", "pip", "--disable-pip-version-check", *args)
        assert done.returncode == 0, done.stderr
        return done

    def install(self, *paths):
        return self.pip("install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index", *map(str, paths))

    def littlebaby(self, *args):
        return self.run(str(self.bin / "littlebaby"), *args)


def third_party_packages(root: Path) -> Path:
    """A folder of links to this environment's packages except littlebaby's own (and their .pth hooks)."""
    deps = root / "deps"
    deps.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if entry.name.lower().startswith(("littlebaby", "_littlebaby", "__editable__")) or entry.suffix == ".pth":
            continue
        (deps / entry.name).symlink_to(entry)
    return deps


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    root = tmp_path_factory.mktemp("install")
    # a copy of the sources, as a user's checkout: building writes build/ and *.egg-info into it
    source = root / "repo"
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info", "build", ".venv", "tests")
    for part in ("core", "plugins"):
        shutil.copytree(REPO / part, source / part, ignore=skip)
    for part in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / part, source / part)
    shutil.copytree(REPO / "docs" / "example_plugin", root / "author", ignore=skip)  # a third party's own folder
    shutil.copytree(REPO / "docs" / "example_alibi", root / "alibi", ignore=skip)

    venv = Venv(root)
    subprocess.run([sys.executable, "-m", "venv", str(venv.path)], check=True, timeout=120)
    purelib = venv.run(str(venv.bin / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])")
    (Path(purelib.stdout.strip()) / "_littlebaby_test_deps.pth").write_text(f"{third_party_packages(root)}\n")
    # the venv's own setuptools is too old for the license field; the project's (>= 77) is on the .pth path
    venv.pip("uninstall", "--quiet", "--yes", "setuptools")
    venv.install(source, *(source / "plugins" / name for name in BUILT_INS))
    (root / "config.json").write_text(json.dumps(CONFIG))
    example = {key: value for key, value in CONFIG.items() if key != "n_kv_heads"}
    (root / "sharedkv.json").write_text(json.dumps({**example, "c_attention": "sharedkv", "temperature": 2.0}))
    (root / "mla.json").write_text(json.dumps({**example, "c_attention": "mla", "kv_latent": 8}))
    (root / "alibi.json").write_text(json.dumps({**example, "c_attention": "alibi", "c_position": "none"}))
    (root / "data.txt").write_text(TEXT)
    venv.source = source
    return venv


def train(venv, *extra, config="config.json", home="home"):
    return venv.littlebaby(
        "train", "--config", config, "--data", "data.txt", "--home", home, "--quiet", "--set", "max_steps=2", *extra
    )


def assert_one_line_install_hint(done):
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "pip install littlebaby-attention-gqa" in lines[0]


def test_gqa_is_an_error_before_install_trains_after_and_is_an_error_again_after_uninstall(venv):
    assert_one_line_install_hint(train(venv))
    assert not (venv.root / "home").exists() or not any((venv.root / "home").iterdir())

    venv.install(venv.source / "plugins" / "attention_gqa")
    listed = venv.littlebaby("plugins")
    assert listed.returncode == 0 and "gqa" in listed.stdout and "littlebaby-attention-gqa" in listed.stdout

    bad_option = train(venv, "--set", "n_kv_heads=0")  # a plugin's option is validated like a core key
    assert bad_option.returncode == 2 and len(bad_option.stderr.strip().splitlines()) == 1
    assert "n_kv_heads must be positive" in bad_option.stderr

    trained = train(venv)
    assert trained.returncode == 0, trained.stderr
    generated = venv.littlebaby("generate", "last", "--home", "home", "--max-tokens", "20", "--seed", "1")
    assert generated.returncode == 0, generated.stderr
    assert len(generated.stdout.strip()) > 0

    venv.pip("uninstall", "--quiet", "--yes", "littlebaby-attention-gqa")
    assert_one_line_install_hint(train(venv))
    assert_one_line_install_hint(venv.littlebaby("generate", "last", "--home", "home", "--max-tokens", "5"))


def test_docs_example_plugin_installs_passes_its_tests_and_trains(venv):
    venv.install(venv.root / "author")
    listed = venv.littlebaby("plugins")
    assert "sharedkv" in listed.stdout, listed.stdout + listed.stderr

    tested = venv.run(
        str(venv.bin / "python"),
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "test_sharedkv.py",
        cwd=venv.root / "author",
    )
    assert tested.returncode == 0, tested.stdout[-3000:]
    assert " passed" in tested.stdout and " failed" not in tested.stdout

    trained = train(venv, config="sharedkv.json", home="home_sharedkv")
    assert trained.returncode == 0, trained.stderr


def test_docs_alibi_example_installs_passes_its_tests_trains_and_generates_past_its_window(venv):
    venv.install(venv.root / "alibi")
    pytest = (str(venv.bin / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider")
    tested = venv.run(*pytest, "test_alibi.py", cwd=venv.root / "alibi")
    assert tested.returncode == 0, tested.stdout[-3000:]
    assert " passed" in tested.stdout and " failed" not in tested.stdout
    trained = train(venv, config="alibi.json", home="home_alibi")
    assert trained.returncode == 0, trained.stderr
    window = json.loads((venv.root / "alibi.json").read_text())["n_ctx"]
    generated = venv.littlebaby(
        "generate", "last", "--home", "home_alibi", "--max-tokens", str(3 * window), "--seed", "1", "--no-save"
    )
    assert generated.returncode == 0 and len(generated.stdout) >= 3 * window, generated.stderr


def test_mla_installs_trains_and_generates(venv):
    venv.install(venv.source / "plugins" / "attention_mla")
    trained = train(venv, config="mla.json", home="home_mla")
    assert trained.returncode == 0, trained.stderr
    generated = venv.littlebaby("generate", "last", "--home", "home_mla", "--max-tokens", "20", "--seed", "1")
    assert generated.returncode == 0 and generated.stdout.strip(), generated.stderr


def test_docs_show_the_alibi_example_as_it_is():
    blocks = (REPO / "docs" / "plugins.md").read_text().split("```")[1::2]  # the fenced code blocks
    module = REPO / "docs" / "example_alibi" / "littlebaby_attention_alibi.py"
    code = module.read_text().split('"""', 2)[2].strip()
    assert any(block.removeprefix("python").strip() == code for block in blocks), f"docs/plugins.md lacks {module}"


def test_docs_show_the_example_as_it_is():
    docs = (REPO / "docs" / "plugins.md").read_text()
    blocks = docs.split("```")[1::2]  # the fenced code blocks
    example = REPO / "docs" / "example_plugin"
    module = example / "littlebaby_attention_sharedkv.py"
    code = module.read_text().split('"""', 2)[2].strip()  # without the module docstring
    assert any(block.removeprefix("python").strip() == code for block in blocks), (
        f"docs/plugins.md does not show {module} as it is"
    )
    toml = "\n".join(line for line in (example / "pyproject.toml").read_text().splitlines() if not line.startswith("#"))
    assert any(block.removeprefix("toml").strip() == toml.strip() for block in blocks), (
        "docs/plugins.md does not show the example's pyproject.toml"
    )
    test_file = (example / "test_sharedkv.py").read_text().split('"""', 2)[2].strip()
    assert any(block.removeprefix("python").strip() == test_file for block in blocks)


def test_a_new_plugin_folder_installs_passes_its_own_test_and_trains(venv):
    made = venv.littlebaby("new-plugin", "network", "fresh", "--out", "fresh")
    assert made.returncode == 0, made.stderr
    venv.install(venv.root / "fresh")
    assert "littlebaby-network-fresh" in venv.littlebaby("plugins").stdout
    tested = venv.run(
        str(venv.bin / "python"),
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-k",
        "gradients or roundtrip",
        "test_fresh.py",
        cwd=venv.root / "fresh",
    )
    assert tested.returncode == 0 and " passed" in tested.stdout, tested.stdout[-3000:]
    example = {key: value for key, value in CONFIG.items() if key != "n_kv_heads"}
    (venv.root / "fresh.json").write_text(json.dumps({**example, "c_attention": "mha", "c_network": "fresh"}))
    trained = train(venv, config="fresh.json", home="home_fresh")
    assert trained.returncode == 0, trained.stderr
