"""Shared fixtures of the run tests: a tiny trained run and some Greek text to finetune on."""

import pytest

from littlebaby import api

# Greek, as in Sophocles' Antigone: every letter is new to a Shakespeare vocabulary
GREEK = "ΑΝΤΙΓΟΝΗ\nΙσμήνη, αδελφούλα μου, εσύ αγαπημένο κεφαλάκι.\nΞέρεις νάμεινε απ’ τον Οιδίποδα κακό\n" * 12


@pytest.fixture
def greek_file(tmp_path):
    path = tmp_path / "greek.txt"
    path.write_text(GREEK, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """(home, run name) of a tiny config trained for a few steps on the shipped Shakespeare."""
    home = tmp_path_factory.mktemp("home")
    result = api.train("tiny", overrides={"max_steps": 4}, home=home)
    return home, result.name
