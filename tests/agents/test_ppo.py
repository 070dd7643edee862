"""The PPO maths: GAE, masked statistics, and FGO's effect on gradients."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from codegym.agents.ppo import (  # noqa: E402
    approx_kl,
    damp_negative,
    gae,
    masked_mean,
    masked_whiten,
    policy_loss,
    token_rewards,
    value_loss,
)


def test_gae_matches_hand_computed_values():
    rewards = torch.tensor([[0.0, 0.0, 1.0], [0.0, 2.0, 0.0]])
    values = torch.tensor([[0.5, 0.6, 0.7], [0.2, 0.4, 9.9]])
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
    adv, ret = gae(rewards, values, mask, gamma=1.0, lam=0.9)
    # Row 0: deltas 0.1, 0.1, 0.3 -> A2 = 0.3, A1 = 0.1 + 0.9 * 0.3, A0 = 0.1 + 0.9 * A1.
    expected0 = [0.1 + 0.9 * (0.1 + 0.9 * 0.3), 0.1 + 0.9 * 0.3, 0.3]
    # Row 1: the padded step contributes nothing; the value after the last real token is 0.
    expected1 = [0.2 + 0.9 * 1.6, 1.6, 0.0]
    assert adv[0].tolist() == pytest.approx(expected0)
    assert adv[1].tolist() == pytest.approx(expected1)
    assert ret[0].tolist() == pytest.approx([a + v for a, v in zip(expected0, [0.5, 0.6, 0.7])])
    assert ret[1, 2].item() == 0.0


def test_gae_with_discount():
    adv, _ = gae(
        torch.tensor([[1.0, 1.0]]), torch.zeros(1, 2), torch.ones(1, 2), gamma=0.5, lam=1.0
    )
    assert adv[0].tolist() == pytest.approx([1.5, 1.0])


def test_masked_mean_and_whiten_ignore_padding():
    x = torch.tensor([[1.0, 3.0, 100.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0]])
    assert masked_mean(x, mask).item() == pytest.approx(2.0)
    w = masked_whiten(x, mask)
    assert w[0, :2].tolist() == pytest.approx([-1.0, 1.0], abs=1e-4)
    assert w[0, 2].item() == 0.0
    assert masked_mean(x, torch.zeros_like(mask)).item() == 0.0


def test_token_rewards_put_the_task_reward_on_the_last_real_token():
    lp = torch.tensor([[-1.0, -1.0, 0.0]])
    ref = torch.tensor([[-1.5, -1.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0]])
    r = token_rewards(torch.tensor([1.0]), lp, ref, mask, kl_beta=0.1)
    assert r[0].tolist() == pytest.approx([-0.05, 1.0, 0.0])


def test_fgo_mask_zeroes_the_gradient_of_masked_tokens():
    logits = torch.randn(1, 4, 7, requires_grad=True)
    actions = torch.tensor([[1, 2, 3, 4]])
    logprobs = torch.log_softmax(logits, -1).gather(-1, actions[..., None]).squeeze(-1)
    old = logprobs.detach() + 0.01
    advantages = torch.tensor([[1.0, -2.0, 0.5, 3.0]])
    fgo = torch.tensor([[1.0, 0.0, 1.0, 0.0]])  # tokens 1 and 3 are on unexecuted lines
    loss, _ = policy_loss(logprobs, old, advantages, fgo, clip_range=0.2)
    loss.backward()
    grad_norms = logits.grad.abs().sum(-1)[0]
    assert grad_norms[1].item() == 0.0 and grad_norms[3].item() == 0.0
    assert grad_norms[0].item() > 0 and grad_norms[2].item() > 0


def test_damped_negative_advantages_push_failed_tokens_less():
    logits = torch.randn(1, 3, 7, requires_grad=True)
    actions = torch.tensor([[1, 2, 3]])
    advantages = torch.tensor([[1.0, -2.0, -0.5]])
    assert damp_negative(advantages, 0.25).tolist() == [[1.0, -0.5, -0.125]]

    def grad_norms(scale: float) -> torch.Tensor:
        logits.grad = None
        logprobs = torch.log_softmax(logits, -1).gather(-1, actions[..., None]).squeeze(-1)
        loss, _ = policy_loss(
            logprobs, logprobs.detach(), damp_negative(advantages, scale), torch.ones(1, 3), 0.2
        )
        loss.backward()
        return logits.grad.abs().sum(-1)[0]

    full, none = grad_norms(1.0), grad_norms(0.0)
    assert none[0].item() == pytest.approx(full[0].item()) and none[0].item() > 0
    assert none[1].item() == 0.0 and none[2].item() == 0.0 and full[1].item() > 0


def test_negative_advantage_scale_is_checked():
    from codegym.agents import PPOConfig
    from codegym.errors import ConfigError

    assert PPOConfig(negative_advantage_scale=0.0).negative_advantage_scale == 0.0
    for bad in (-0.1, 1.5):
        with pytest.raises(
            ConfigError, match=f"negative_advantage_scale must be in \\[0, 1\\], got {bad}"
        ):
            PPOConfig(negative_advantage_scale=bad)


def test_clipping_and_value_loss():
    lp = torch.log(torch.tensor([[2.0]]))  # ratio 2 against old log-prob 0
    loss, frac = policy_loss(
        lp, torch.zeros(1, 1), torch.ones(1, 1), torch.ones(1, 1), clip_range=0.2
    )
    assert loss.item() == pytest.approx(-1.2) and frac.item() == 1.0
    v = value_loss(
        torch.tensor([[2.0]]), torch.tensor([[0.0]]), torch.tensor([[1.0]]), torch.ones(1, 1), 0.2
    )
    assert v.item() == pytest.approx(0.5 * max((2 - 1) ** 2, (0.2 - 1) ** 2))
    assert approx_kl(torch.zeros(1, 3), torch.zeros(1, 3), torch.ones(1, 3)).item() == 0.0
