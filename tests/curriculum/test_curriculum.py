"""CCCS: segmentation of canonical solutions, the per-problem stage schedule, its persistence and
sharing across processes, and the envs' starting stages."""

from __future__ import annotations

import math
import pickle
import tempfile
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from sample_problems import CLASSIFY, MAX_EVEN, MAX_EVEN_SOLUTION

import codegym
from codegym.curriculum import CONDITIONAL_NODES, Curriculum, segment
from codegym.errors import ConfigError, UnknownNameError
from codegym.problems import Problem
from codegym.sandbox import Executor, Limits, TestCase

TOKEN = "CodeGen-v0"
LINE = "CodeGenLine-v0"
FAST = Limits(cpu_time=1)

# Every kind of conditional statement, with comprehensions and a conditional expression that are
# not statements. The numbers are the lines of the conditional statements.
ALL_KINDS = """\
import contextlib
def f(xs):
    total = 0
    for x in xs:
        if x > 0:
            total += x
        elif x < -5:
            total -= 1
    while total > 100:
        total //= 2
    try:
        total = int(total)
    except ValueError:
        pass
    with contextlib.suppress(Exception):
        total += 0
    match total:
        case 0:
            return 0
        case _:
            pass
    ys = [y for y in xs if y]
    return total if ys else -total
async def g(stream, lock):
    async for item in stream:
        pass
    async with lock:
        pass
"""
ALL_KINDS_LINES = (4, 5, 7, 9, 11, 15, 17, 25, 27)


ONE = Problem(
    id="one",
    statement="Print 'pos' for positive n, else 'other'.",
    tests=(TestCase.stdio("1\n", "pos\n"), TestCase.stdio("-1\n", "other\n")),
    canonical_solution='n = int(input())\nif n > 0:\n    print("pos")\nelse:\n    print("other")\n',
)

PROBLEMS = [MAX_EVEN, CLASSIFY, ONE]


def ifs(count: int) -> str:
    return "x = int(input())\n" + "".join(f"if x == {i}:\n    x += 1\n" for i in range(count))


@pytest.fixture(autouse=True)
def _private_tempdir(tmp_path, monkeypatch):
    """Pickling an in-memory curriculum moves it to a temporary file: keep those in tmp_path."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))


# -- segmentation ---------------------------------------------------------------------------------


def test_conditional_statement_kinds():
    names = {node.__name__ for node in CONDITIONAL_NODES}
    assert {"If", "For", "AsyncFor", "While", "Try", "With", "AsyncWith", "Match"} <= names
    assert not names & {"IfExp", "comprehension", "ListComp", "FunctionDef", "ClassDef"}


def test_segmentation_counts_every_conditional_statement():
    seg = segment(ALL_KINDS)
    assert seg.conditional_lines == ALL_KINDS_LINES  # elif counts; comprehension/ternary do not
    assert seg.n_stages == 3  # ceil(sqrt(9))
    assert seg.cut_lines == (None, ALL_KINDS_LINES[5], ALL_KINDS_LINES[8])


@pytest.mark.parametrize("count", range(0, 18))
def test_stage_count_is_ceil_sqrt_of_the_conditionals(count):
    seg = segment(ifs(count))
    assert len(seg.conditional_lines) == count
    assert seg.n_stages == max(1, math.ceil(math.sqrt(count)))


def test_one_conditional_gives_one_stage():
    seg = segment(ONE.canonical_solution)
    assert seg.conditional_lines == (2,)
    assert seg.n_stages == 1
    assert seg.prefix(0) == ""


@pytest.mark.parametrize("source", ["print(1)\n", "", "def f(:\n    if x:\n        pass\n"])
def test_sources_without_conditionals_or_unparseable_have_one_stage(source):
    seg = segment(source)
    assert seg.n_stages == 1
    assert seg.prefix(0) == ""


@pytest.mark.parametrize(
    "source", [ALL_KINDS, MAX_EVEN_SOLUTION, CLASSIFY.canonical_solution, ifs(10)]
)
def test_stage_prefixes_are_cut_before_conditional_lines(source):
    seg = segment(source)
    lines = source.splitlines(keepends=True)
    assert seg.prefix(0) == ""
    assert seg.cut_lines[0] is None
    assert seg.cut_lines[-1] == seg.conditional_lines[-1]  # the longest prefix: before the last one
    previous = 0
    for stage in range(1, seg.n_stages):
        cut = seg.cut_lines[stage]
        assert cut in seg.conditional_lines
        prefix = seg.prefix(stage)
        assert prefix == "".join(lines[: cut - 1])
        assert source.startswith(prefix)
        assert len(prefix) > previous  # higher stages give longer prefixes
        previous = len(prefix)
    with pytest.raises(IndexError):
        seg.prefix(seg.n_stages)
    with pytest.raises(IndexError):
        seg.prefix(-1)


def test_start_code_is_the_stage_prefix_or_the_starter_code_ending_in_a_newline():
    seg = segment(MAX_EVEN_SOLUTION)
    assert seg.start_code(0) == ""
    assert seg.start_code(0, "def f(xs):") == "def f(xs):\n"  # the full task: the starter code
    assert seg.start_code(0, "def f(xs):\n") == "def f(xs):\n"
    last = seg.n_stages - 1
    assert seg.start_code(last, "ignored") == seg.prefix(last) and seg.prefix(last).endswith("\n")


def test_stage_prefixes_of_a_three_stage_solution():
    seg = segment(MAX_EVEN_SOLUTION)
    assert seg.conditional_lines == (4, 5, 8, 9, 11)
    assert seg.cut_lines == (None, 9, 11)
    lines = MAX_EVEN_SOLUTION.splitlines(keepends=True)
    assert seg.prefix(1) == "".join(lines[:8])  # ends with "for x in xs:\n": cut inside the loop
    assert seg.prefix(2) == "".join(lines[:10])


# -- the schedule ---------------------------------------------------------------------------------


def test_cccs_starts_at_the_longest_prefix_and_moves_on_success():
    cur = Curriculum(PROBLEMS, window=4, threshold=0.5)
    assert [cur.n_stages(p.id) for p in PROBLEMS] == [3, 2, 1]
    assert cur.stage(MAX_EVEN.id) == 2
    assert cur.stage(ONE.id) == 0
    # below the threshold: no move, however many episodes
    for success in [False, False, True, False, False, False, True, False]:
        assert cur.record(MAX_EVEN.id, 2, success) == 2
    # last 4: F, T, F, T: the moving average reaches the threshold, one stage toward the full task
    assert cur.record(MAX_EVEN.id, 2, True) == 1
    assert cur.stage(MAX_EVEN.id) == 1
    # the history restarts at the new stage: window successes are needed again
    for _ in range(3):
        assert cur.record(MAX_EVEN.id, 1, True) == 1
    assert cur.record(MAX_EVEN.id, 1, True) == 0
    # stage 0 is final
    for _ in range(8):
        assert cur.record(MAX_EVEN.id, 0, True) == 0
    assert cur.stage_histogram() == {0: 2, 1: 1}


def test_cccs_ignores_episodes_at_other_stages():
    cur = Curriculum(PROBLEMS, window=2)
    for _ in range(5):
        assert cur.record(MAX_EVEN.id, 0, True) == 2
        assert cur.record(MAX_EVEN.id, 1, True) == 2
    assert cur.state_dict()["problems"].get(MAX_EVEN.id, {"history": []})["history"] == []


def test_replay_starts_a_share_of_episodes_at_stages_already_passed():
    rng = np.random.default_rng(0)
    cur = Curriculum(PROBLEMS, window=1, replay=0.5)
    # nothing passed yet: every start is the current stage
    assert {cur.start_stage(MAX_EVEN.id, rng) for _ in range(50)} == {2}
    cur.record(MAX_EVEN.id, 2, True)
    cur.record(MAX_EVEN.id, 1, True)
    assert cur.stage(MAX_EVEN.id) == 0
    starts = [cur.start_stage(MAX_EVEN.id, rng) for _ in range(2000)]
    share = {s: starts.count(s) / len(starts) for s in (0, 1, 2)}
    assert abs(share[0] - 0.5) < 0.05 and abs(share[1] - 0.25) < 0.05, share
    # a replayed episode never moves the problem
    cur.record(MAX_EVEN.id, 1, False)
    assert cur.stage(MAX_EVEN.id) == 0
    # the other modes never replay
    none = Curriculum(PROBLEMS, mode="none", replay=0.5)
    assert {none.start_stage(MAX_EVEN.id, rng) for _ in range(50)} == {0}
    with pytest.raises(ConfigError, match=r"replay must be in \[0, 1\), got 1"):
        Curriculum(PROBLEMS, replay=1)


def test_fixed_and_none_modes_never_move():
    none = Curriculum(PROBLEMS, mode="none", window=1)
    fixed = Curriculum(PROBLEMS, mode=1, window=1)
    high = Curriculum(PROBLEMS, mode=7)
    for _ in range(3):
        assert none.record(MAX_EVEN.id, 0, True) == 0
        assert fixed.record(MAX_EVEN.id, 1, True) == 1
    assert [none.stage(p.id) for p in PROBLEMS] == [0, 0, 0]
    assert [fixed.stage(p.id) for p in PROBLEMS] == [1, 1, 0]
    assert [high.stage(p.id) for p in PROBLEMS] == [2, 1, 0]  # clamped to the last stage


def test_curriculum_errors():
    with pytest.raises(
        UnknownNameError, match="unknown curriculum mode 'ccs'; did you mean 'cccs'"
    ):
        Curriculum(PROBLEMS, mode="ccs")
    with pytest.raises(ConfigError, match="stage must be >= 0, got -2"):
        Curriculum(PROBLEMS, mode=-2)
    with pytest.raises(ConfigError, match="curriculum must be 'cccs', 'none' or a stage number"):
        Curriculum(PROBLEMS, mode=True)
    with pytest.raises(ConfigError, match=r"threshold must be in \(0, 1\], got 0"):
        Curriculum(PROBLEMS, threshold=0)
    with pytest.raises(ConfigError, match="window must be >= 1, got 0"):
        Curriculum(PROBLEMS, window=0)
    cur = Curriculum(PROBLEMS)
    with pytest.raises(
        UnknownNameError, match="unknown problem id 'max-eve'; did you mean 'max-even'"
    ):
        cur.stage("max-eve")


def test_save_and_load_round_trip(tmp_path):
    cur = Curriculum(PROBLEMS, window=2)
    for _ in range(2):
        cur.record(MAX_EVEN.id, 2, True)
    cur.record(MAX_EVEN.id, 1, True)
    cur.record(CLASSIFY.id, 1, False)
    path = tmp_path / "curriculum.json"
    cur.save(path)

    other = Curriculum(PROBLEMS, window=2)
    other.load(path)
    assert other.state_dict() == cur.state_dict()
    assert [other.stage(p.id) for p in PROBLEMS] == [1, 1, 0]
    assert other.state_dict()["problems"][MAX_EVEN.id]["history"] == [1]
    # and the loaded history counts: one more success at stage 1 completes the window
    assert other.record(MAX_EVEN.id, 1, True) == 0

    # states of problems the curriculum does not know are dropped on load
    fewer = Curriculum([CLASSIFY], window=2)
    fewer.load(path)
    assert set(fewer.state_dict()["problems"]) == {CLASSIFY.id}


def test_file_backed_curricula_share_progress(tmp_path):
    path = tmp_path / "shared.json"
    a = Curriculum(PROBLEMS, window=2, state_path=path)
    b = Curriculum(PROBLEMS, window=2, state_path=path)
    a.record(MAX_EVEN.id, 2, True)
    b.record(MAX_EVEN.id, 2, True)  # completes the window started by a
    assert a.stage(MAX_EVEN.id) == b.stage(MAX_EVEN.id) == 1
    late = Curriculum(PROBLEMS, window=2, state_path=path)  # reads the existing file
    assert late.stage(MAX_EVEN.id) == 1


def test_pickling_moves_an_in_memory_curriculum_to_a_shared_file(tmp_path):
    cur = Curriculum(PROBLEMS, window=2)
    assert cur.state_path is None
    cur.record(MAX_EVEN.id, 2, True)
    copy = pickle.loads(pickle.dumps(cur))
    assert cur.state_path is not None
    assert copy.state_path == cur.state_path
    assert cur.state_path.startswith(str(tmp_path))
    assert copy.state_dict() == cur.state_dict()  # the state made the move
    copy.record(MAX_EVEN.id, 2, True)  # the copy completes the window...
    assert cur.stage(MAX_EVEN.id) == 1  # ...and the original sees it


# -- the envs' starting stages --------------------------------------------------------------------


def make(env_id: str, executor: Executor, **kwargs: Any) -> gym.Env:
    size = {"max_new_tokens": 256} if env_id == TOKEN else {"max_lines": 32}
    return gym.make(
        env_id, problems=PROBLEMS, split=None, executor=executor, limits=FAST, **size, **kwargs
    )


def solve(env: gym.Env, problem: Problem, **options: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Reset on ``problem`` and write the canonical remainder; returns the reset and final infos."""
    _, start = env.reset(options={"problem_id": problem.id, **options})
    remainder = problem.canonical_solution[len(start["prefix"]) :]
    if env.unwrapped.spec.id == TOKEN:
        tokenizer = env.unwrapped.tokenizer
        actions: list[Any] = tokenizer.encode(remainder) + [tokenizer.eos_token_id]
    else:
        actions = remainder.splitlines() + [codegym.SUBMIT]
    for action in actions:
        _, reward, terminated, truncated, info = env.step(action)
    assert (reward, terminated, truncated, info["outcome"]) == (1.0, True, False, "passed")
    return start, info


@pytest.mark.parametrize(
    ("env_id", "curriculum", "window"),
    [(LINE, "cccs", 8), (TOKEN, None, 2)],
    ids=["line-default-cccs", "token-custom-window"],
)
def test_repeated_success_moves_the_start_to_stage_0(env_id, curriculum, window, executor):
    if curriculum is None:
        curriculum = Curriculum(PROBLEMS, window=window)
    env = make(env_id, executor, curriculum=curriculum)
    stages = []
    for _ in range(2 * window + 2):
        start, end = solve(env, MAX_EVEN)
        assert end["curriculum"]["stage"] == start["stage"]
        stages.append(start["stage"])
    assert stages == [2] * window + [1] * window + [0, 0]
    assert end["curriculum"]["next_stage"] == 0
    assert env.unwrapped.core.curriculum.stage(MAX_EVEN.id) == 0


@pytest.mark.parametrize("env_id", [TOKEN, LINE])
def test_curriculum_none_always_starts_from_the_starter_code(env_id, executor):
    env = make(env_id, executor, curriculum="none")
    for _ in range(3):
        start, end = solve(env, CLASSIFY)
        assert start["stage"] == 0
        assert start["prefix"] == CLASSIFY.starter_code
        assert end["curriculum"]["next_stage"] == 0
        start, _ = solve(env, MAX_EVEN)
        assert (start["stage"], start["prefix"]) == (0, "")


@pytest.mark.parametrize("env_id", [TOKEN, LINE])
def test_fixed_curriculum_always_starts_there(env_id, executor):
    env = make(env_id, executor, curriculum=1)
    for _ in range(3):
        start, _ = solve(env, MAX_EVEN)
        assert start["stage"] == 1
        assert start["prefix"] == segment(MAX_EVEN.canonical_solution).prefix(1)
        start, _ = solve(env, ONE)  # a one-stage problem starts at its only stage
        assert start["stage"] == 0


def test_curriculum_is_shared_across_async_vector_env_workers(tmp_path):
    problems = [CLASSIFY]
    cur = Curriculum(problems, state_path=tmp_path / "cur.json", window=4)
    executor = Executor(workers=1)  # a configuration: each worker starts its own

    def make_env() -> gym.Env:
        return gym.make(
            LINE, problems=problems, split=None, curriculum=cur, executor=executor, limits=FAST
        )

    # shared_memory=False: CodeGenLine-v0's observations do not fit shared memory (see tests/envs);
    # autoreset disabled: every episode starts with an explicit reset.
    envs = gym.vector.AsyncVectorEnv(
        [make_env, make_env],
        shared_memory=False,
        autoreset_mode=gym.vector.AutoresetMode.DISABLED,
    )
    try:
        starts = []
        for _ in range(3):
            _, info = envs.reset(options={"problem_id": CLASSIFY.id})
            starts.append(list(info["stage"]))
            if starts[-1] == [0, 0]:
                break
            prefix = info["prefix"][0]
            assert list(info["prefix"]) == [prefix, prefix]
            for line in CLASSIFY.canonical_solution[len(prefix) :].splitlines():
                envs.step((line, line))
            _, reward, terminated, _, info = envs.step((codegym.SUBMIT, codegym.SUBMIT))
            assert list(reward) == [1.0, 1.0] and terminated.all()
    finally:
        envs.close()
    # Each worker succeeded twice at stage 1: neither filled the window of 4 alone, together they did.
    assert starts == [[1, 1], [1, 1], [0, 0]]
    assert cur.stage(CLASSIFY.id) == 0
    assert cur.state_dict()["problems"][CLASSIFY.id] == {"stage": 0, "history": []}
