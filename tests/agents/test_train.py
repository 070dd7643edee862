"""A short real training run of the tiny preset: parameters change, losses stay finite, it resumes."""

from __future__ import annotations

import logging
import math

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

from codegym.agents import PPOConfig  # noqa: E402
from codegym.agents import trainer as trainer_module  # noqa: E402
from codegym.agents.policy import load_policy  # noqa: E402
from codegym.agents.trainer import train  # noqa: E402
from codegym.sandbox import ExecutionResult, Executor, Outcome  # noqa: E402


def small_config(tmp_path, **overrides) -> PPOConfig:
    settings = dict(
        model="tiny",
        sft_steps=4,
        iterations=2,
        episodes_per_iteration=4,
        max_new_tokens=16,
        max_context_tokens=128,
        minibatch_size=2,
        output_dir=str(tmp_path / "run"),
        sandbox_workers=2,
        checkpoint_every=1,
    )
    settings.update(overrides)
    return PPOConfig(**settings)


def test_short_run_changes_parameters_and_stays_finite(tmp_path, caplog):
    # No warm start: the parameters compared below are the ones PPO started from, so only PPO's
    # updates can change them.
    config = small_config(tmp_path, eval_every=1, problem_limit=2, sft_steps=0)
    seen = []
    result = train(config, progress=False, on_evaluation=lambda done, r: seen.append(done))
    assert len(result.history) == 2
    # The fixed evaluation: the starting policy, then after each iteration.
    assert [done for done, _ in result.evaluations] == seen == [0, 1, 2]
    assert all(0.0 <= r.pass_rate <= 1.0 for _, r in result.evaluations)
    for s in result.history:
        for value in (s.policy_loss, s.value_loss, s.entropy, s.approx_kl):
            assert math.isfinite(value)
        assert set(s.seconds) == {"generation", "sandbox", "update"}
        assert sum(s.stage_histogram.values()) > 0
        # the rollout pass rate by start stage, over all the iteration's episodes
        assert sum(n for _, n in s.pass_rate_by_stage.values()) == 4
        assert all(0.0 <= rate <= 1.0 for rate, _ in s.pass_rate_by_stage.values())
        # FGO's diagnostics: the env's masks by outcome, counted over the episodes, agree with
        # the share of the padded batch the policy loss left out (FGO is on here)
        by_outcome = s.fgo_masked_by_outcome
        tokens = sum(n for _, n in by_outcome.values())
        assert tokens > 0 and all(0.0 <= share <= 1.0 for share, _ in by_outcome.values())
        masked = sum(share * n for share, n in by_outcome.values()) / tokens
        assert masked == pytest.approx(s.fgo_masked_fraction, abs=1e-6)
        assert by_outcome.get("compile_error", (0.0, 0))[0] == 0.0  # never ran: all-ones masks
    start, _ = load_policy(str(tmp_path / "run" / "tiny-init"), torch.device("cpu"))
    end, _ = load_policy(result.model_path, torch.device("cpu"))
    changed = [
        name
        for (name, a), (_, b) in zip(start.lm.named_parameters(), end.lm.named_parameters())
        if not torch.equal(a, b)
    ]
    assert changed, "PPO left every parameter unchanged"
    assert (tmp_path / "run" / "tensorboard").exists()

    # Resume: a longer run picks up after the last checkpoint.
    more = train(small_config(tmp_path, iterations=3, problem_limit=2, sft_steps=0), progress=False)
    assert [s.iteration for s in more.history] == [2] and more.resumed_from == 2
    # The same command once more: the run is finished, and it says so instead of training nothing
    # in silence.
    with caplog.at_level(logging.WARNING, logger="codegym.agents.trainer"):
        again = train(small_config(tmp_path, iterations=3, problem_limit=2), progress=False)
    assert again.history == [] and again.resumed_from == 3
    assert "nothing to train" in caplog.text and "finished 3 iterations" in caplog.text


def test_ablation_switches_are_honoured(tmp_path):
    result = train(
        small_config(tmp_path, iterations=1, curriculum="none", fgo=False), progress=False
    )
    s = result.history[0]
    assert s.fgo_masked_fraction == 0.0
    assert set(s.stage_histogram) == {0}
    # what FGO would have masked is still reported, for every episode's tokens
    assert sum(n for _, n in s.fgo_masked_by_outcome.values()) > 0


class _BrokenSandbox(Executor):
    """An executor whose every run fails as the sandbox itself would (a dead server)."""

    def run(self, program, tests_or_problem, **kwargs):  # noqa: ANN001, ANN003, ANN201
        return ExecutionResult(Outcome.INFRA_ERROR, infra_error="sandbox server died")


def test_an_iteration_of_only_infrastructure_errors_updates_nothing_and_goes_on(tmp_path):
    broken = _BrokenSandbox(workers=1)
    try:
        config = small_config(
            tmp_path,
            sft_steps=0,
            problem_limit=2,
            max_new_tokens=8,
            env_kwargs={"executor": broken},
        )
        result = train(config, progress=False)
    finally:
        broken.close()
    assert [s.iteration for s in result.history] == [0, 1]
    for s in result.history:
        assert s.dropped_infra_errors == 4 and s.pass_rate == 0.0 and s.policy_loss == 0.0


def test_minibatch_order_changes_from_iteration_to_iteration(tmp_path, monkeypatch):
    # Record which episodes (by position in the iteration's batch) form each minibatch.
    orders: list[list[int]] = []
    batch: list = []
    real_update, real_score = trainer_module._ppo_update, trainer_module.score_sequences

    def spy_update(model, optimizer, tokenizer, episodes, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        batch[:] = [id(e.actions) for e in episodes]
        orders.append([])
        return real_update(model, optimizer, tokenizer, episodes, *args, **kwargs)

    def spy_score(model, contexts, generated, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        if orders and len(generated) < len(batch):  # a minibatch, not the whole batch
            orders[-1].extend(batch.index(id(g)) for g in generated)
        return real_score(model, contexts, generated, *args, **kwargs)

    monkeypatch.setattr(trainer_module, "_ppo_update", spy_update)
    monkeypatch.setattr(trainer_module, "score_sequences", spy_score)
    train(small_config(tmp_path, sft_steps=0, problem_limit=2, max_new_tokens=8), progress=False)
    assert len(orders) == 2 and all(sorted(o) == [0, 0, 1, 1, 2, 2, 3, 3] for o in orders)
    assert orders[0] != orders[1], "every iteration shuffled its minibatches the same way"
