"""Fixtures every test directory shares: one warm sandbox pool for the session.

Starting sandbox servers costs a second or more each, so tests take ``executor`` (or
``warm_executor``) rather than making their own ``Executor``, unless a test is about the
executor's own settings or life cycle.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest

from codegym.sandbox import Executor, Limits, TestCase


@pytest.fixture(scope="session")
def executor() -> Iterator[Executor]:
    """One warm sandbox pool for the whole test session."""
    with Executor(workers=2, limits=Limits(cpu_time=2.0)) as ex:
        yield ex


@pytest.fixture(scope="session")
def warm_executor(executor: Executor) -> Executor:
    """The session executor with its servers started, so that the sandbox's one-time start-up
    warning (what the OS lets it isolate) does not land inside a test that records warnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        executor.run("print(1)\n", [TestCase.stdio("", "1\n")], limits=Limits(cpu_time=1.0))
    return executor
