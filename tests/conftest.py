from __future__ import annotations

import pytest

from codegym.sandbox import Executor, Limits


@pytest.fixture(scope="session")
def executor():
    """One warm sandbox pool for the whole test session."""
    with Executor(workers=2, limits=Limits(cpu_time=2.0)) as ex:
        yield ex
