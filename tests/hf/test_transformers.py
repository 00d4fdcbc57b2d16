"""The real counterpart: transformers loads littlebaby's exports of both families, an imported and finetuned run's
included, with the logits littlebaby computes. torch and transformers are never the product's dependencies: with
them absent (CI) these tests skip, and they run in a venv that has them (make_fixtures.py says how one is made)."""

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

import littlebaby

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "hf"


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_transformers_loads_an_export_with_the_same_logits(tmp_path, cli, family):
    torch = pytest.importorskip("torch", reason="torch and transformers are only in the fixture script's venv")
    transformers = pytest.importorskip("transformers", reason="transformers is not installed")
    folder = FIXTURES / family
    expected = load_file(str(folder / "expected.safetensors"))
    assert cli("import-hf", folder, home=tmp_path).returncode == 0
    assert cli("export-hf", "last", "--out", tmp_path / "out", home=tmp_path).returncode == 0
    model = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "out").eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(tmp_path / "out")
    text = json.loads((folder / "expected.json").read_text())["text"]
    assert tokenizer.encode(text) == expected["ids"].tolist()
    with torch.no_grad():
        logits = model(torch.tensor([expected["ids"].tolist()])).logits[0].numpy()
    np.testing.assert_allclose(logits, expected["logits"], atol=1e-4, rtol=0)


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_an_imported_run_finetuned_here_loads_in_transformers_as_littlebaby_computes_it(tmp_path, cli, family):
    torch = pytest.importorskip("torch", reason="torch and transformers are only in the fixture script's venv")
    transformers = pytest.importorskip("transformers", reason="transformers is not installed")
    assert cli("import-hf", FIXTURES / family, home=tmp_path).returncode == 0
    data = tmp_path / "more.txt"
    data.write_text("But soft, what light through yonder window breaks? It is the east.\n" * 30)
    sets = ["--set", "max_steps=3", "--set", "batch_size=2", "--set", "lr=0.01"]
    assert cli("finetune", "last", "--data", data, "--quiet", *sets, home=tmp_path).returncode == 0
    assert cli("export-hf", "last", "--out", tmp_path / "out", home=tmp_path).returncode == 0
    ids = load_file(str(FIXTURES / family / "expected.safetensors"))["ids"]
    ours = littlebaby.load("last", home=tmp_path).model.logits(ids)
    assert not np.allclose(ours, load_file(str(FIXTURES / family / "expected.safetensors"))["logits"], atol=1e-3)
    model = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "out").eval()
    with torch.no_grad():
        theirs = model(torch.tensor([ids.tolist()])).logits[0].numpy()
    np.testing.assert_allclose(theirs, ours, atol=1e-4, rtol=0)
