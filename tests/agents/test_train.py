"""A short real training run of the tiny preset: parameters change, losses stay finite, it resumes."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

from codegym.agents import PPOConfig  # noqa: E402
from codegym.agents.policy import load_policy  # noqa: E402
from codegym.agents.trainer import train  # noqa: E402


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


def test_short_run_changes_parameters_and_stays_finite(tmp_path):
    config = small_config(tmp_path, eval_every=1, problem_limit=2)
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
    start, _ = load_policy(str(tmp_path / "run" / "tiny-init"), torch.device("cpu"))
    end, _ = load_policy(result.model_path, torch.device("cpu"))
    changed = [
        name
        for (name, a), (_, b) in zip(start.lm.named_parameters(), end.lm.named_parameters())
        if not torch.equal(a, b)
    ]
    assert changed, "training left every parameter unchanged"
    assert (tmp_path / "run" / "tensorboard").exists()

    # Resume: a longer run picks up after the last checkpoint.
    more = train(small_config(tmp_path, iterations=3, problem_limit=2), progress=False)
    assert [s.iteration for s in more.history] == [2]


def test_ablation_switches_are_honoured(tmp_path):
    result = train(
        small_config(tmp_path, iterations=1, curriculum="none", fgo=False), progress=False
    )
    s = result.history[0]
    assert s.fgo_masked_fraction == 0.0
    assert set(s.stage_histogram) == {0}
