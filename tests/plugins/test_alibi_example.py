"""The docs' ALiBi example (a score-bias attention) through the kit, from its folder, without installing it.

tests/plugins/test_plugin_install.py installs the same folder into a fresh venv and runs its own test file.
"""

import importlib.util
from pathlib import Path

import numpy as np

from littlebaby.testing import block_suite

FOLDER = Path(__file__).resolve().parents[2] / "docs" / "example_alibi"
spec = importlib.util.spec_from_file_location("littlebaby_attention_alibi", FOLDER / "littlebaby_attention_alibi.py")
alibi = importlib.util.module_from_spec(spec)
spec.loader.exec_module(alibi)

TestALiBi = block_suite("attention", "alibi", plugin=alibi)
TestALiBiWithoutPositions = block_suite("attention", "alibi", plugin=alibi, options={"c_position": "none"})


def test_the_bias_is_what_the_paper_gives():
    bias = alibi.alibi_bias(2.0 ** -np.arange(1, 5), 3, 5, np.float64)  # 4 heads: slopes 1/2, 1/4, 1/8, 1/16
    assert bias.shape == (4, 3, 5)
    assert bias[1, 0].tolist() == [-0.5, -0.25, 0.0, 0.0, 0.0]  # query at position 2, head 1 (slope 1/4)
    assert bias[0, 2].tolist() == [-2.0, -1.5, -1.0, -0.5, 0.0]  # the newest query sees every key
