"""Batches running at once never pin onto the same CPU, whichever executor (or process, since
the CPU locks are the machine's) they belong to."""

from __future__ import annotations

import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from codegym.sandbox import Executor, TestCase

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux sandbox")

# Long enough for the two batches to overlap; pinned CPUs are held for a batch's duration.
PROGRAM = "import os\nimport time\n\ntime.sleep(0.6)\nprint(sorted(os.sched_getaffinity(0)))\n"
ANY = [TestCase.stdio("", "")]


def _affinities(executor: Executor, tag: str) -> list[frozenset[int]]:
    jobs = [(PROGRAM + f"# {tag} {i}\n", ANY) for i in range(executor.workers)]
    return [frozenset(eval(r.tests[0].stdout)) for r in executor.run_many(jobs)]


def test_two_batches_at_once_never_pin_onto_the_same_cpu():
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        pytest.skip("one CPU: nothing to share")
    with (
        Executor(workers=2, cache_size=0) as first,
        Executor(workers=2, cache_size=0) as second,
        ThreadPoolExecutor(1) as pool,
    ):
        started = pool.submit(_affinities, first, "first")
        time.sleep(0.2)  # the first batch holds its CPUs now
        theirs = _affinities(second, "second")
        mine = started.result()
    pinned_first = {next(iter(a)) for a in mine if len(a) == 1}
    assert len(pinned_first) == 2  # each of the first executor's servers on a CPU of its own
    for affinity in theirs:  # the second's: other CPUs, or unpinned where none is left
        assert len(affinity) == len(cpus) or not affinity & pinned_first, (mine, theirs)
