"""The real counterpart: transformers loads littlebaby's exports of both families with transformers' own logits.
torch and transformers are never the product's dependencies: with them absent (CI) these tests skip, and they
run in a venv that has them (tests/fixtures/hf/make_fixtures.py says how one is made)."""

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

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
