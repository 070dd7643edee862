"""The fixed stage evaluation, SFT contexts that match the env's, tempered scoring."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

import gymnasium as gym  # noqa: E402

import codegym  # noqa: E402, F401
from codegym.agents.evaluate import (  # noqa: E402
    evaluation_envs,
    stage_evaluation,
    stage_tasks,
    unexecuted_code,
)
from codegym.agents.policy import SEPARATOR, build_context, load_policy, score_sequences  # noqa: E402
from codegym.agents.tiny import build_tiny, sft_examples  # noqa: E402
from codegym.curriculum import Curriculum, segment  # noqa: E402
from codegym.problems import load  # noqa: E402

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    path = build_tiny(load(split="train"), str(tmp_path_factory.mktemp("tiny")), seed=0)
    return load_policy(path, CPU)


@pytest.fixture(scope="module")
def problems():
    return load(split="train")[:3]


def test_sft_contexts_are_the_contexts_the_env_gives(tiny, problems):
    # The env keeps the statement's first tokens; a warm start on any other cut trains the model
    # on contexts no episode shows it (the bug behind a 0% full-task pass rate after SFT).
    _, tokenizer = tiny
    limit = 64
    examples = sft_examples(problems, tokenizer, limit)
    env = gym.make(
        "CodeGen-v0", problems=problems, split=None, tokenizer=tokenizer, curriculum="none",
        max_new_tokens=4, max_prompt_tokens=limit, max_prefix_tokens=limit,
    )  # fmt: skip
    sep = tokenizer.encode(SEPARATOR, add_special_tokens=False)
    tasks = stage_tasks(problems)
    assert len(tasks) == len(examples)
    for (pid, stage), (context, _) in zip(tasks, examples):
        obs, _ = env.reset(options={"problem_id": pid, "stage": stage})
        statement = obs["prompt"][: int(obs["prompt_len"][0])].tolist()
        prefix = obs["prefix"][: int(obs["prefix_len"][0])].tolist()
        assert context == build_context(statement, prefix, sep, limit), (pid, stage)
    env.close()


def test_stage_tasks_cover_every_stage(problems):
    tasks = stage_tasks(problems)
    for p in problems:
        stages = [s for pid, s in tasks if pid == p.id]
        assert stages == list(range(segment(p.canonical_solution).n_stages))


def test_stage_evaluation_is_fixed_and_leaves_the_training_curriculum_alone(tiny, problems):
    model, tokenizer = tiny
    # The trainer's env settings, training curriculum included: the evaluation envs are made from
    # them as the trainer makes them, and must not feed that curriculum. (Every forced start at a
    # problem's current stage would be recorded in it, so sharing it changes its state.)
    training = Curriculum(problems, mode="cccs", window=1, threshold=0.01)
    env_kwargs = dict(
        problems=problems, split=None, tokenizer=tokenizer, curriculum=training,
        max_new_tokens=6, max_prompt_tokens=64, max_prefix_tokens=64,
    )  # fmt: skip
    before = training.state_dict()
    envs = evaluation_envs(env_kwargs, 4)
    runs = [
        stage_evaluation(
            model,
            tokenizer,
            envs,
            problems,
            samples=2,
            temperature=1.0,
            seed=3,
            max_context=64,
            device=CPU,
        )  # fmt: skip
        for _ in range(2)
    ]
    first, second = runs
    assert first.episodes == 2 * len(stage_tasks(problems))
    assert first.passed == second.passed  # same seed, same model: the same measurement
    assert set(first.passed) == set(stage_tasks(problems))
    assert 0.0 <= first.pass_rate <= 1.0 and 0.0 <= first.full_task <= 1.0
    assert set(first.by_stage) == {s for _, s in stage_tasks(problems)}
    assert "full task" in first.summary()
    assert training.state_dict() == before
    for env in envs:
        env.close()


def test_unexecuted_code_counts_every_start_by_outcome(tiny, problems):
    model, tokenizer = tiny
    env_kwargs = dict(
        problems=problems, split=None, tokenizer=tokenizer, curriculum="none",
        max_new_tokens=24, max_prompt_tokens=64, max_prefix_tokens=64,
    )  # fmt: skip
    envs = evaluation_envs(env_kwargs, 4)
    common = dict(samples=0, seed=1, max_context=64, device=CPU)
    report = unexecuted_code(model, tokenizer, envs, problems, **common)
    greedy = stage_evaluation(model, tokenizer, envs, problems, **common)
    for env in envs:
        env.close()
    # greedy: the same episodes as the fixed evaluation, so the same passes
    assert report.total("episodes") == len(stage_tasks(problems)) == greedy.episodes
    assert report.episodes.get("passed", 0) == round(sum(greedy.passed.values()))
    for outcome, n in report.episodes.items():
        assert 0 <= report.with_unexecuted[outcome] <= n
        assert 0 <= report.unexecuted_tokens[outcome] <= report.tokens[outcome]
        # an episode with masked tokens has an unexecuted line, and the other way round
        assert (report.unexecuted_tokens[outcome] > 0) == (report.with_unexecuted[outcome] > 0)
    assert report.unexecuted_tokens.get("compile_error", 0) == 0  # never ran: nothing singled out
    assert report.table().splitlines()[-1].startswith("all")


def test_scoring_uses_the_sampling_temperature(tiny):
    model, tokenizer = tiny
    contexts, generated = [[5, 6, 7], [8, 9]], [[10, 11], [12]]
    for temperature in (1.0, 0.5):
        scored = score_sequences(
            model, contexts, generated, tokenizer.pad_token_id, CPU, temperature=temperature
        )
        with torch.no_grad():
            logits = model.lm(input_ids=torch.tensor([contexts[0] + generated[0]])).logits[0]
        expected = torch.log_softmax(logits[2:4] / temperature, -1)
        expected = expected.gather(-1, torch.tensor([[10], [11]])).squeeze(-1)
        assert scored["logprobs"][0].tolist() == pytest.approx(expected.tolist(), abs=1e-5)
