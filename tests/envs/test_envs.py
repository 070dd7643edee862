"""The Gymnasium envs ``CodeGen-v0`` (tokens) and ``CodeGenLine-v0`` (lines), through the public API.

Every problem here is built in the test (``Problem`` + ``TestCase``), so results do not depend on the
bundled data. Scripted agents replay the canonical solution's remainder after the episode's prefix;
their rewards, outcomes and curriculum info are checked for every stage.
"""

from __future__ import annotations

import multiprocessing
import pickle
import tempfile
import warnings
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from sample_problems import CLASSIFY, MAX_EVEN

import codegym
from codegym.errors import ConfigError, EnvStateError, InvalidActionError, UnknownNameError
from codegym.problems import Problem
from codegym.sandbox import ExecutionResult, Executor, Limits, TestCase

TOKEN = "CodeGen-v0"
LINE = "CodeGenLine-v0"
ENV_IDS = [TOKEN, LINE]
FAST = Limits(cpu_time=1)

# -- problems -------------------------------------------------------------------------------------

ADD = Problem(
    id="add",
    statement="Read two integers a and b on one line; print a + b.",
    tests=(TestCase.stdio("1 2\n", "3\n"), TestCase.stdio("5 7\n", "12\n")),
    canonical_solution="a, b = map(int, input().split())\nprint(a + b)\n",
)

ECHO = Problem(
    id="echo",
    statement="Print the line you read.",
    tests=(TestCase.stdio("hello\n", "hello\n"),),
    canonical_solution="print(input())\n",
)

ALL = [MAX_EVEN, CLASSIFY, ADD, ECHO]


# -- helpers --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def warm_executor(executor: Executor) -> Executor:
    """The session executor with its servers started, so that no sandbox start-up warning (about
    what the OS lets it isolate) lands inside a test that records warnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        executor.run("print(1)\n", [TestCase.stdio("", "1\n")], limits=FAST)
    return executor


@pytest.fixture(autouse=True)
def _private_tempdir(tmp_path, monkeypatch):
    """Pickling an env moves its in-memory curriculum to a temporary file: keep those in tmp_path."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))


def make(env_id: str, executor: Executor, problems=None, **kwargs: Any) -> gym.Env:
    size = {"max_new_tokens": 256} if env_id == TOKEN else {"max_lines": 32}
    kwargs = {"limits": FAST, **size, **kwargs}
    return gym.make(env_id, problems=problems or ALL, split=None, executor=executor, **kwargs)


def actions_for(env: gym.Env, code: str, *, submit: bool = True) -> list[Any]:
    """The actions that write ``code`` (and submit it)."""
    if env.unwrapped.spec.id == TOKEN:
        tokenizer = env.unwrapped.tokenizer
        return tokenizer.encode(code) + ([tokenizer.eos_token_id] if submit else [])
    return code.splitlines() + ([codegym.SUBMIT] if submit else [])


def play(env: gym.Env, actions: list[Any]) -> tuple[float, bool, bool, dict[str, Any]]:
    """Step every action; all but the last must be silent, non-final steps."""
    for action in actions[:-1]:
        _, reward, terminated, truncated, info = env.step(action)
        assert (reward, terminated, truncated, info) == (0.0, False, False, {})
    _, reward, terminated, truncated, info = env.step(actions[-1])
    return reward, terminated, truncated, info


def write(
    env: gym.Env, code: str, **reset_options: Any
) -> tuple[float, bool, bool, dict[str, Any]]:
    env.reset(options=reset_options or None)
    return play(env, actions_for(env, code))


# -- env checker ----------------------------------------------------------------------------------


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_check_env_passes_without_warnings(env_id, warm_executor):
    env = (
        make(env_id, warm_executor, max_new_tokens=16)
        if env_id == TOKEN
        else make(env_id, warm_executor, max_lines=4)
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env.unwrapped)
    assert [str(w.message) for w in caught] == []


def test_stable_baselines3_env_checker(warm_executor):
    sb3_checker = pytest.importorskip("stable_baselines3.common.env_checker")
    sb3_checker.check_env(make(TOKEN, warm_executor, max_new_tokens=16))


def test_stable_baselines3_make_vec_env_works_unchanged(warm_executor):
    """SB3's make_vec_env asks for render_mode="rgb_array": the env warns, turns rendering off
    and plays on."""
    env_util = pytest.importorskip("stable_baselines3.common.env_util")
    with pytest.warns(UserWarning, match="render_mode='rgb_array' is not one of"):
        vec = env_util.make_vec_env(
            TOKEN,
            n_envs=2,
            env_kwargs={
                "problems": ALL,
                "split": None,
                "executor": warm_executor,
                "max_new_tokens": 8,
                "limits": FAST,
            },
        )
    obs = vec.reset()
    assert obs["prompt"].shape[0] == 2
    obs, rewards, dones, infos = vec.step(np.array([5, 6]))
    assert rewards.shape == (2,) and not dones.any()
    assert vec.get_attr("render_mode") == [None, None]
    assert vec.env_method("render") == [None, None]
    vec.close()


# -- scripted agents ------------------------------------------------------------------------------


def test_test_problems_have_several_stages(warm_executor):
    env = make(LINE, warm_executor)
    core = env.unwrapped.core
    assert core.curriculum.n_stages(MAX_EVEN.id) == 3
    assert core.curriculum.n_stages(CLASSIFY.id) == 2


@pytest.mark.parametrize("env_id", ENV_IDS)
@pytest.mark.parametrize("problem", [MAX_EVEN, CLASSIFY], ids=lambda p: p.id)
def test_canonical_remainder_passes_at_every_stage(env_id, problem, warm_executor):
    env = make(env_id, warm_executor)
    n_stages = env.unwrapped.core.curriculum.n_stages(problem.id)
    assert n_stages >= 2
    for stage in range(n_stages):
        _, info = env.reset(options={"problem_id": problem.id, "stage": stage})
        assert (info["problem_id"], info["stage"], info["n_stages"]) == (
            problem.id,
            stage,
            n_stages,
        )
        prefix = info["prefix"]
        assert problem.canonical_solution.startswith(prefix)
        if stage == 0:
            assert prefix == problem.starter_code
        remainder = problem.canonical_solution[len(prefix) :]
        reward, terminated, truncated, info = play(env, actions_for(env, remainder))
        assert (reward, terminated, truncated) == (1.0, True, False), info["outcome"]
        assert info["outcome"] == "passed"
        assert info["passed"] is True
        assert info["pass_fraction"] == 1.0
        assert info["infra_error"] is False
        assert info["curriculum"]["stage"] == stage
        assert info["curriculum"]["n_stages"] == n_stages
        assert info["program"] == problem.canonical_solution
        assert info["generated"] == remainder
        assert [t["outcome"] for t in info["tests"]] == ["passed"] * len(problem.tests)
        assert isinstance(info["result"], ExecutionResult)
        assert info["truncated_program"] is False


def test_longer_stages_give_longer_prefixes(warm_executor):
    env = make(LINE, warm_executor)
    prefixes = [
        env.reset(options={"problem_id": MAX_EVEN.id, "stage": k})[1]["prefix"] for k in range(3)
    ]
    assert prefixes[0] == ""
    assert len(prefixes[0]) < len(prefixes[1]) < len(prefixes[2])
    assert prefixes[1].endswith("for x in xs:\n")  # cut inside a block, before its `if`
    assert prefixes[2].endswith("total += x\n")  # cut before the last `if`


PENALTIES = [
    pytest.param("print(3)\n", "wrong_answer", -0.3, 0.5, id="wrong-answer"),
    pytest.param(
        "a, b = map(int, input().split())\nprint(a / 0)\n",
        "runtime_error",
        -0.6,
        0.0,
        id="runtime-error",
    ),
    pytest.param("while True:\n    pass\n", "timeout", -0.6, 0.0, id="infinite-loop"),
    pytest.param("print(1 +\n", "compile_error", -1.0, 0.0, id="syntax-error"),
]


@pytest.mark.parametrize("env_id", ENV_IDS)
@pytest.mark.parametrize(("code", "outcome", "reward", "fraction"), PENALTIES)
def test_wrong_programs_earn_stepcoder_penalties(
    env_id, code, outcome, reward, fraction, warm_executor
):
    env = make(env_id, warm_executor, limits=Limits(cpu_time=0.5))
    got, terminated, truncated, info = write(env, code, problem_id=ADD.id)
    assert (got, terminated, truncated) == (reward, True, False)
    assert info["outcome"] == outcome
    assert info["passed"] is False
    assert info["pass_fraction"] == fraction
    assert info["program"] == code


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_named_and_custom_rewards(env_id, warm_executor):
    half = "print(3)\n"  # passes the first of ADD's two tests
    env = make(env_id, warm_executor, reward="pass_fraction")
    assert write(env, half, problem_id=ADD.id)[0] == 0.5
    assert write(env, ADD.canonical_solution, problem_id=ADD.id)[0] == 1.0

    env = make(env_id, warm_executor, reward="binary")
    assert write(env, half, problem_id=ADD.id)[0] == 0.0
    assert write(env, "print(1 +\n", problem_id=ADD.id)[0] == 0.0
    assert write(env, ADD.canonical_solution, problem_id=ADD.id)[0] == 1.0

    seen: list[ExecutionResult] = []

    def custom(result: ExecutionResult) -> float:
        seen.append(result)
        return 10 * result.pass_fraction - len(result.tests)

    env = make(env_id, warm_executor, reward=custom)
    reward, terminated, _, info = write(env, half, problem_id=ADD.id)
    assert (reward, terminated) == (3.0, True)
    assert len(seen) == 1 and seen[0] is info["result"]


def test_token_truncation_runs_and_scores_the_program(warm_executor):
    code = ADD.canonical_solution
    probe = make(TOKEN, warm_executor)
    n_tokens = len(probe.unwrapped.tokenizer.encode(code))

    # The limit falls on the last token: the complete program is run and passes.
    env = make(TOKEN, warm_executor, max_new_tokens=n_tokens)
    env.reset(options={"problem_id": ADD.id})
    reward, terminated, truncated, info = play(env, actions_for(env, code, submit=False))
    assert (reward, terminated, truncated) == (1.0, False, True)
    assert info["outcome"] == "passed"
    assert info["truncated_program"] is True
    assert len(info["coverage"]["token_mask"]) == n_tokens  # no end-of-sequence action was taken

    # The limit falls mid-line: the unfinished program is still run and scored.
    k = len(probe.unwrapped.tokenizer.encode("a, b = map("))
    env = make(TOKEN, warm_executor, max_new_tokens=k)
    env.reset(options={"problem_id": ADD.id})
    reward, terminated, truncated, info = play(env, actions_for(env, code, submit=False)[:k])
    assert (reward, terminated, truncated) == (-1.0, False, True)
    assert info["outcome"] == "compile_error"
    assert info["generated"] == "a, b = map("
    assert len(info["coverage"]["token_mask"]) == k


def test_line_truncation_runs_and_scores_the_program(warm_executor):
    env = make(LINE, warm_executor, max_lines=2)
    env.reset(options={"problem_id": ADD.id})
    reward, terminated, truncated, info = play(env, ADD.canonical_solution.splitlines())
    assert (reward, terminated, truncated) == (1.0, False, True)
    assert info["outcome"] == "passed"
    assert info["pass_fraction"] == 1.0
    assert info["truncated_program"] is True
    assert len(info["coverage"]["line_mask"]) == 2


def test_registered_step_limit_still_scores_the_program(warm_executor):
    env = make(LINE, warm_executor, max_lines=65)  # above the registered max_episode_steps=64
    assert env.unwrapped.max_steps == 64
    with pytest.warns(UserWarning, match="max_lines=65 exceeds CodeGenLine-v0's registered"):
        env.reset(options={"problem_id": ECHO.id})
    for _ in range(63):
        env.step("pass")
    _, reward, terminated, truncated, info = env.step("print(input())")
    assert truncated
    assert info.get("outcome") == "passed"
    assert reward == 1.0


# -- seeding, pickling, vectorization -------------------------------------------------------------


def random_actions(env_id: str, env: gym.Env, rng: np.random.Generator) -> Any:
    if env_id == TOKEN:
        tokenizer = env.unwrapped.tokenizer
        if rng.random() < 0.15:
            return tokenizer.eos_token_id
        return int(rng.integers(env.unwrapped.action_space.n))
    lines = ["x = input()", "print(x)", "print(3)", "a, b = map(int, input().split())", "  oops"]
    if rng.random() < 0.25:
        return codegym.SUBMIT
    return lines[int(rng.integers(len(lines)))]


def rollout(env_id: str, executor: Executor, seed: int, episodes: int) -> list[Any]:
    env = (
        make(env_id, executor, max_new_tokens=12)
        if env_id == TOKEN
        else make(env_id, executor, max_lines=4)
    )
    rng = np.random.default_rng(1234)
    trace: list[Any] = []
    for episode in range(episodes):
        obs, info = env.reset(seed=seed if episode == 0 else None)
        trace.append(("reset", obs, info["problem_id"], info["stage"]))
        done = False
        while not done:
            obs, reward, terminated, truncated, info = env.step(random_actions(env_id, env, rng))
            done = terminated or truncated
            trace.append(
                (
                    "step",
                    obs,
                    reward,
                    terminated,
                    truncated,
                    info.get("outcome"),
                    info.get("problem_id"),
                )
            )
    return trace


def assert_same(a: Any, b: Any) -> None:
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            assert_same(a[key], b[key])
    elif isinstance(a, (tuple, list)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y)
    elif isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b)
    else:
        assert a == b


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_seeded_rollouts_repeat_exactly(env_id, warm_executor):
    first = rollout(env_id, warm_executor, seed=7, episodes=3)
    second = rollout(env_id, warm_executor, seed=7, episodes=3)
    assert_same(first, second)
    assert sum(1 for step in first if step[0] == "reset") == 3
    assert any(step[0] == "step" and step[5] is not None for step in first)  # episodes were scored


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_seed_decides_the_problem_sequence(env_id, warm_executor):
    env = make(env_id, warm_executor)

    def problems(seed: int) -> list[str]:
        ids = [env.reset(seed=seed)[1]["problem_id"]]
        return ids + [env.reset()[1]["problem_id"] for _ in range(7)]

    assert problems(3) == problems(3)
    assert len({tuple(problems(s)) for s in range(4)}) > 1


def test_envs_pickle_and_the_copies_play_on(warm_executor):
    fresh = {env_id: make(env_id, warm_executor) for env_id in ENV_IDS}  # never reset
    started = {env_id: make(env_id, warm_executor) for env_id in ENV_IDS}  # mid-episode
    actions = {}
    for env_id, env in started.items():
        env.reset(options={"problem_id": ADD.id})
        actions[env_id] = actions_for(env, ADD.canonical_solution)
        env.step(actions[env_id][0])
    # One pickle for all four, so the copies share one (new) executor: one sandbox start-up.
    copies = pickle.loads(
        pickle.dumps([[e.unwrapped for e in d.values()] for d in (fresh, started)])
    )
    for env_id, fresh_copy, started_copy in zip(ENV_IDS, *copies):
        assert type(fresh_copy) is type(fresh[env_id].unwrapped)
        fresh_copy.reset(options={"problem_id": ADD.id})
        assert play(fresh_copy, actions[env_id])[:3] == (1.0, True, False)

        rest = actions[env_id][1:]
        original = play(started[env_id].unwrapped, rest)
        copied = play(started_copy, rest)
        assert original[:3] == copied[:3] == (1.0, True, False)
        assert original[3]["program"] == copied[3]["program"] == ADD.canonical_solution


def test_token_env_runs_under_async_vector_env():
    def make_env() -> gym.Env:
        return gym.make(
            TOKEN,
            problems=[ADD],
            split=None,
            executor=Executor(workers=1),
            limits=FAST,
            max_new_tokens=64,
        )

    envs = gym.vector.AsyncVectorEnv([make_env, make_env])
    try:
        obs, info = envs.reset(seed=0)
        assert obs["generated"].shape == (2, 64)
        assert list(info["problem_id"]) == [ADD.id, ADD.id]
        tokenizer = codegym.envs.CodeTokenizer()
        actions = tokenizer.encode(ADD.canonical_solution) + [tokenizer.eos_token_id]
        for action in actions[:-1]:
            obs, reward, terminated, truncated, info = envs.step(np.array([action, action]))
            assert not terminated.any() and not truncated.any()
        assert list(obs["generated_len"][:, 0]) == [len(actions) - 1] * 2
        obs, reward, terminated, truncated, info = envs.step(np.array([actions[-1], actions[-1]]))
        assert list(reward) == [1.0, 1.0]
        assert terminated.all()
        assert list(info["outcome"]) == ["passed", "passed"]
    finally:
        envs.close()


@pytest.mark.filterwarnings("ignore:.*(Worker|Traceback|Raising):UserWarning")
def test_line_env_refuses_shared_memory_up_front():
    def make_env() -> gym.Env:
        return gym.make(
            LINE, problems=[ADD], split=None, executor=Executor(workers=1), limits=FAST, max_lines=4
        )

    with pytest.raises(ValueError, match="shared_memory=False"):
        gym.vector.AsyncVectorEnv([make_env, make_env])
    envs = gym.vector.AsyncVectorEnv([make_env, make_env], shared_memory=False)  # as it says
    try:
        envs.reset(seed=0, options={"problem_id": ADD.id})
        line = "a, b = map(int, input().split())"
        obs, *_ = envs.step((line, line))
        assert obs["code"] == (line + "\n", line + "\n")
    finally:
        envs.close(terminate=True)


@pytest.mark.filterwarnings("ignore:.*(Worker|Traceback|Raising):UserWarning")
@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork")
def test_forked_workers_do_not_share_the_parents_sandbox_servers():
    from codegym.sandbox import default_executor

    def make_env() -> gym.Env:  # no executor=: the envs use codegym's default executor
        return gym.make(LINE, problems=[ECHO], split=None, max_lines=4)

    warm = make_env()  # the parent uses (and so starts) the default executor first
    assert write(warm, ECHO.canonical_solution)[3]["outcome"] == "passed"
    envs = gym.vector.AsyncVectorEnv(
        [make_env, make_env],
        context="fork",
        shared_memory=False,
        autoreset_mode=gym.vector.AutoresetMode.DISABLED,
    )
    try:
        for i in range(10):
            envs.reset(seed=i)
            # distinct programs every time (no cache hits): env 0 passes, env 1 prints a wrong answer
            envs.step((f"print(input())  # {i}", f"print({i} + 100)"))
            envs.step_async((codegym.SUBMIT, codegym.SUBMIT))
            # a worker that lost its reply to the other one would wait for it for a long time
            *_, info = envs.step_wait(timeout=20)
            assert list(info["outcome"]) == ["passed", "wrong_answer"], f"episode {i}"
    finally:
        envs.close(terminate=True)
        default_executor().close()  # the next user gets a fresh one


# -- bad input ------------------------------------------------------------------------------------


def test_token_env_rejects_bad_actions(warm_executor):
    env = make(TOKEN, warm_executor)
    env.reset(options={"problem_id": ADD.id})
    vocab = env.unwrapped.action_space.n
    with pytest.raises(
        InvalidActionError, match=rf"token id {vocab} is outside the vocabulary 0\.\.{vocab - 1}"
    ):
        env.step(vocab)
    with pytest.raises(InvalidActionError, match="outside the vocabulary"):
        env.step(-1)
    with pytest.raises(InvalidActionError, match=r"integer token id, got 3\.0 \(float\)"):
        env.step(3.0)
    with pytest.raises(InvalidActionError, match=r"integer token id, got 'a' \(str\)"):
        env.step("a")
    with pytest.raises(InvalidActionError, match="integer token id"):
        env.step(True)
    # none of the rejected actions was taken; numpy integers and 1-element arrays are fine
    env.step(np.int64(5))
    obs, *_ = env.step(np.array([6]))
    assert obs["generated_len"][0] == 2
    assert obs["generated"][:2].tolist() == [5, 6]


def test_line_env_rejects_bad_actions(warm_executor):
    env = make(LINE, warm_executor, max_line_chars=20)
    env.reset(options={"problem_id": ADD.id})
    with pytest.raises(InvalidActionError, match="must be a str .* got int"):
        env.step(5)
    with pytest.raises(InvalidActionError, match=r"contains '\\n'.*no newline"):
        env.step("x = 1\ny = 2")
    with pytest.raises(InvalidActionError, match="contains"):
        env.step("x = 1\r")
    with pytest.raises(InvalidActionError, match="line of 21 characters exceeds max_line_chars=20"):
        env.step("x" * 21)
    obs, *_ = env.step("\tx = 1")  # tabs are fine
    assert obs["code"] == "\tx = 1\n"


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_step_before_reset_and_after_the_end(env_id, warm_executor):
    env = make(env_id, warm_executor)
    first = 5 if env_id == TOKEN else "pass"
    with pytest.raises(EnvStateError, match=r"before reset\(\)"):
        env.unwrapped.step(first)
    write(env, ADD.canonical_solution, problem_id=ADD.id)
    with pytest.raises(EnvStateError, match=r"after the episode ended; call reset\(\)"):
        env.step(first)
    env.reset()
    env.step(first)  # fine again


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_bad_reset_options(env_id, warm_executor):
    env = make(env_id, warm_executor)
    with pytest.raises(UnknownNameError, match="unknown problem_id 'ad'; did you mean 'add'"):
        env.reset(options={"problem_id": "ad"})
    with pytest.raises(
        ConfigError, match="stage must be an int in 0..2 for problem 'max-even', got 3"
    ):
        env.reset(options={"problem_id": MAX_EVEN.id, "stage": 3})
    with pytest.raises(ConfigError, match=r"unknown reset option\(s\) \['stages'\]"):
        env.reset(options={"stages": 1})


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_bad_constructor_arguments(env_id, warm_executor):
    with pytest.raises(
        UnknownNameError, match="unknown reward 'stepcodr'; did you mean 'stepcoder'"
    ):
        make(env_id, warm_executor, reward="stepcodr")
    with pytest.raises(
        UnknownNameError, match="unknown curriculum mode 'ccs'; did you mean 'cccs'"
    ):
        make(env_id, warm_executor, curriculum="ccs")
    with pytest.raises(ConfigError, match="reward must be a name or a callable"):
        make(env_id, warm_executor, reward=5)
    with pytest.raises(ConfigError, match="stage must be >= 0, got -1"):
        make(env_id, warm_executor, curriculum=-1)
    with pytest.raises(ConfigError, match="render_mode must be one of"):
        env_class = gym.envs.registration.load_env_creator(gym.spec(env_id).entry_point)
        env_class(problems=ALL, split=None, render_mode=3)  # gymnasium.make itself fails on it
    with pytest.raises(ConfigError, match=r"problems\[0\] is a str"):
        gym.make(env_id, problems=["add"], split=None)
    size = "max_new_tokens" if env_id == TOKEN else "max_lines"
    with pytest.raises(ConfigError, match=f"{size} must be a positive int, got 0"):
        make(env_id, warm_executor, **{size: 0})


# -- rendering ------------------------------------------------------------------------------------


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_ansi_render_shows_statement_prefix_coverage_and_outcome(env_id, warm_executor):
    env = make(env_id, warm_executor, render_mode="ansi")
    _, info = env.reset(options={"problem_id": MAX_EVEN.id, "stage": 2})
    text = env.render()
    assert MAX_EVEN.statement in text
    assert "stage 2/2" in text
    for line in info["prefix"].splitlines():
        assert line in text
    assert "outcome" not in text

    # MAX_EVEN's tests never have n == 0: the generated `print(0)` is not executed.
    play(env, actions_for(env, MAX_EVEN.canonical_solution[len(info["prefix"]) :]))
    text = env.render()
    lines = text.splitlines()
    assert "  + if n == 0:" in lines
    assert "  -     print(0)" in lines
    assert "  - else:" not in lines and "  + else:" in lines  # `else:` takes its body's mask
    assert "  +     print(best, total)" in lines
    assert "outcome: passed" in text


# -- problems served with a broken canonical solution ----------------------------------------------


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_a_broken_canonical_solution_is_warned_about_once(env_id, warm_executor):
    broken = Problem(
        id=f"broken-{env_id}",
        statement="Print the line you read.",
        tests=(TestCase.stdio("hello\n", "hello\n"),),
        canonical_solution="x = input()\nif x:\n    print(x.upper())\n",
    )
    env = make(env_id, warm_executor, problems=[broken, ADD])
    with pytest.warns(
        UserWarning, match=f"problem 'broken-{env_id}': its canonical solution fails"
    ):
        env.reset(options={"problem_id": broken.id})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # checked once per process: no second warning
        env.reset(options={"problem_id": broken.id})
        env.reset(options={"problem_id": ADD.id})  # a sound solution: never a warning
        make(env_id, warm_executor, problems=[broken]).reset()
