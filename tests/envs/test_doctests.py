"""The ``Examples`` of the env docstrings (their documentation pages) run as written."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["codegym.envs.token_env", "codegym.envs.line_env", "codegym.envs.repair_env"]


@pytest.mark.parametrize("name", MODULES)
def test_env_docstring_examples_run(name):
    module = importlib.import_module(name)
    failed, attempted = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert attempted >= 5, f"{name} has no Examples block"
    assert failed == 0
