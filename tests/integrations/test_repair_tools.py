"""``RepairTools``, called the way TRL's ``environment_factory`` calls it: built with no arguments
by a factory, ``reset(**row)``, tool calls, ``get_reward()``."""

from __future__ import annotations

import functools
import inspect
import warnings

import pytest

from codegym.errors import ConfigError
from codegym.integrations.repair_tools import RepairTools
from codegym.problems import load
from codegym.sandbox import Executor, Limits, TestCase

CAESAR = "intro-a-001"  # bundled; its first two tests are the statement's examples


@pytest.fixture(scope="module")
def factory(executor: Executor):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        executor.run("print(1)\n", [TestCase.stdio("", "1\n")])
    return functools.partial(RepairTools, executor=executor, limits=Limits(cpu_time=1))


@pytest.fixture(scope="module")
def caesar():
    return next(p for p in load("bundled") if p.id == CAESAR)


def row(problem_id: str = CAESAR) -> dict:
    return {"prompt": [{"role": "user", "content": "Solve it."}], "problem_id": problem_id}


def test_the_factory_needs_no_arguments():
    tools = RepairTools()
    assert "Caesar" in tools.reset(**row())


def test_a_rollout_that_repairs_and_submits(factory, caesar):
    tools = factory()
    assert tools.get_reward is not None
    assert tools.run_tests("print(1)\n").startswith("No problem is set")
    prompt = tools.reset(**row())
    assert caesar.statement.splitlines()[0] in prompt and "run_tests(code)" in prompt
    broken = caesar.canonical_solution.replace("% 26", "% 25", 1)
    text = tools.run_tests("k = int(input())\nprint(input())\n")
    assert "Wrong answer" in text and "Expected output:\nKhoor, Zruog!" in text
    text = tools.run_tests("def f(:\n")
    assert "does not compile" in text
    assert "Submitted" in tools.submit(caesar.canonical_solution)
    assert tools.get_reward() == 1.0
    assert "episode is over" in tools.run_tests(broken)
    assert tools.get_reward() == 1.0


def test_passing_the_visible_tests_ends_the_rollout(factory, caesar):
    tools = factory()
    tools.reset(**row())
    text = tools.run_tests(caesar.canonical_solution)
    assert "passed all 2 visible tests" in text and "this program is the one scored" in text
    assert "episode is over" in tools.submit("print(1)\n")
    assert tools.get_reward() == 1.0


def test_turns_run_out_and_the_last_program_is_scored(factory):
    tools = functools.partial(factory, max_turns=2, reward="pass_fraction")()
    tools.reset(**row())
    tools.run_tests("print(1)\n")
    assert "no turns are left" in tools.run_tests("print(2)\n")
    assert tools.get_reward() == 0.0


def test_rollouts_without_a_submission_and_bad_calls(factory):
    tools = factory()
    tools.reset(**row())
    assert tools.run_tests(5).startswith("code must be a string")
    assert tools.run_tests("x\x00").startswith("Not run:")
    assert tools.get_reward() == -1.0  # nothing scored: as a program that does not compile
    tools.reset(**row())  # a new rollout starts clean
    tools.submit("k = int(input())\nprint(input())\n")
    assert tools.get_reward() == pytest.approx(-0.3)
    with pytest.raises(ConfigError, match="needs a 'problem_id' column"):
        tools.reset(prompt="x")


def test_the_tools_have_the_signatures_and_docstrings_trl_needs(factory):
    tools = factory()
    public = {n for n, m in inspect.getmembers(tools, inspect.ismethod) if not n.startswith("_")}
    assert public == {"reset", "run_tests", "submit", "get_reward"}
    for name in ("run_tests", "submit"):
        hints = inspect.get_annotations(getattr(RepairTools, name), eval_str=True)
        assert hints == {"code": str, "return": str}
    utils = pytest.importorskip("transformers.utils")
    for name in ("run_tests", "submit"):
        schema = utils.get_json_schema(getattr(tools, name))
        assert schema["function"]["name"] == name
        assert schema["function"]["parameters"]["properties"]["code"]["type"] == "string"
        assert schema["function"]["parameters"]["required"] == ["code"]
        assert schema["function"]["parameters"]["properties"]["code"]["description"]


def test_a_sandbox_failure_is_not_charged_to_the_model(caesar, caplog):
    from faults import kill_server_during

    sleepy = "import time\ntime.sleep(3)\n"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        executor = Executor(workers=1, cache_size=0, limits=Limits(cpu_time=1))
        executor.run("print(1)\n", [TestCase.stdio("", "1\n")])
    with executor:
        tools = RepairTools(executor=executor)
        tools.reset(**row())
        text = kill_server_during(executor, lambda: tools.submit(sleepy))
        assert "infrastructure reasons" in text and "does not count" in text
        with caplog.at_level("WARNING", logger="codegym.integrations.repair_tools"):
            assert tools.get_reward() == 0.0  # not -1: nothing the model did was judged
        assert "sandbox failed" in caplog.text
        assert "Submitted" in tools.submit(caesar.canonical_solution)  # the rollout goes on
        assert tools.get_reward() == 1.0
