"""The pytest plugin of littlebaby.testing, loaded through the `pytest11` entry point.

It adds fixtures for tests of blocks and shows which blocks are installed in
the report header (a plugin's tests that skip because it is not installed say
so there too). It imports littlebaby only when a fixture or the header needs
it, so it costs nothing in other projects' test runs.

Fixtures:
    littlebaby_registry      the installed plugins (a `littlebaby.plugins.registry.Registry`)
    littlebaby_tiny_config   factory: littlebaby_tiny_config(c_attention="mine", ...) -> float64 Config
    littlebaby_tiny_model    factory: littlebaby_tiny_model(c_attention="mine", ...) -> float64 GPT, random weights
"""

import pytest


def pytest_report_header(config):
    from littlebaby.plugins.registry import default_registry

    registry = default_registry()
    kinds = {}
    for entry in registry.entries():
        kinds.setdefault(entry.kind, []).append(entry.name)
    installed = "; ".join(f"{kind} {', '.join(names)}" for kind, names in kinds.items())
    return f"littlebaby blocks: {installed or 'none'}"


@pytest.fixture(scope="session")
def littlebaby_registry():
    from littlebaby.plugins.registry import default_registry

    return default_registry()


@pytest.fixture
def littlebaby_tiny_config(littlebaby_registry):
    from littlebaby.testing import tiny_config

    def make(**overrides):
        return tiny_config(littlebaby_registry, **overrides)

    return make


@pytest.fixture
def littlebaby_tiny_model(littlebaby_registry):
    from littlebaby.testing import tiny_model

    def make(**overrides):
        return tiny_model(littlebaby_registry, **overrides)

    return make
