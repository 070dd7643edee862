"""Shared fixtures for the problem-model, loader, validation and CLI tests.

The files under ``fixtures/`` are small hand-written examples of each real layout:

- ``codegym/``: codegym JSONL (``problem_from_record`` schema) plus malformed variants
- ``apps_plus/``: APPS+ ``data.json`` (a JSON list of records) plus a malformed one
- ``apps_rows/``: APPS rows in the ``codeparrot/apps`` layout, as ``.jsonl``
- ``apps_dir/``, ``apps_dir_bad/``: the original APPS directory layout (``train/0000/...``)
- ``humaneval/``: HumanEval JSONL (the ``.jsonl.gz`` variant is written per test in ``tmp_path``)
- ``unknown/``: a JSON file of unrelated records
- ``validate/``: problem sets for ``validate_problems`` and ``codegym problems validate``
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from codegym.sandbox import Executor, Limits


@pytest.fixture(scope="session")
def problems_executor() -> Iterator[Executor]:
    """One sandbox executor for these tests: starting its servers costs seconds, so they share
    warm ones (and its result cache)."""
    with Executor(workers=2, limits=Limits(cpu_time=2), coverage=False) as ex:
        yield ex
