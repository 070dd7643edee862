"""REINFORCE with FGO on CodeGen-v0: a tiny GRU policy, its per-token loss weighted by coverage.

    python examples/fgo_policy_gradient.py --iterations 3

The policy reads the tokens it generated (a GRU) and knows the problem only by a hash of its id
(the GRU's initial state). Episodes start from CCCS's longest canonical prefixes (the default
curriculum). Each iteration samples a batch of episodes and minimises, FGO-style,

    loss = -sum_episodes (R - b) * sum_t token_mask_t * log pi(a_t)  /  sum token_mask

with b a running mean of earlier rewards and token_mask = info["coverage"]["token_mask"]: tokens of
lines no test executed get 0 and leave the loss. Episodes the sandbox failed to score are dropped.
It will not learn to program; it is a correct, readable loop to start from.
"""

from __future__ import annotations

import argparse
import zlib
from collections import Counter

import gymnasium as gym
import torch
from torch import nn

import codegym  # noqa: F401  (registers the env ids)

BUCKETS = 256  # problem ids hash into this many initial GRU states


class Policy(nn.Module):
    def __init__(self, vocab_size: int, dim: int = 64) -> None:
        super().__init__()
        self.problem = nn.Embedding(BUCKETS, dim)  # problem-id hash bucket -> initial state
        self.embed = nn.Embedding(vocab_size, dim)
        self.gru = nn.GRU(dim, dim, batch_first=True)
        self.head = nn.Linear(dim, vocab_size)

    def initial_state(self, problem_id: str) -> torch.Tensor:  # (1, 1, dim)
        bucket = zlib.crc32(problem_id.encode()) % BUCKETS  # the same in every process
        return torch.tanh(self.problem(torch.tensor([[bucket]])))

    def forward(self, tokens: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out, state = self.gru(self.embed(tokens), state)  # tokens (1, T) -> out (1, T, dim)
        return self.head(out), state  # logits (1, T, vocab)


def rollout(env: gym.Env, policy: Policy, start: int, seed: int | None):
    """One episode of sampled tokens; returns (actions, reward, terminal info)."""
    _, info = env.reset(seed=seed)
    state, token, actions = policy.initial_state(info["problem_id"]), start, []
    with torch.no_grad():
        while True:
            logits, state = policy(torch.tensor([[token]]), state)
            token = int(torch.distributions.Categorical(logits=logits[0, -1]).sample())
            actions.append(token)
            _, reward, terminated, truncated, info = env.step(token)
            if terminated or truncated:
                return actions, float(reward), info


def log_probs(policy: Policy, problem_id: str, actions: list[int], start: int) -> torch.Tensor:
    """log pi(a_t | a_<t) of every action, recomputed with gradients in one pass; (T,)."""
    inputs = torch.tensor([[start, *actions[:-1]]])  # (1, T): step t sees the previous token
    logits, _ = policy(inputs, policy.initial_state(problem_id))  # (1, T, vocab)
    return torch.log_softmax(logits[0], dim=-1).gather(1, torch.tensor(actions)[:, None])[:, 0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--episodes", type=int, default=8, help="episodes per iteration")
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    env = gym.make("CodeGen-v0", max_new_tokens=args.max_new_tokens)
    tokenizer = env.unwrapped.tokenizer
    policy = Policy(tokenizer.vocab_size)
    optimizer = torch.optim.Adam(policy.parameters(), lr=3e-3)
    start, baseline = tokenizer.pad_token_id, 0.0  # start: the GRU's input before any token

    for iteration in range(args.iterations):
        batch = []  # (problem id, actions, reward, token mask, outcome)
        for i in range(args.episodes):
            seed = args.seed if iteration == i == 0 else None  # seed once, then go on
            actions, reward, info = rollout(env, policy, start, seed)
            if info["infra_error"]:
                continue  # a sandbox failure says nothing about the program
            mask = torch.as_tensor(info["coverage"]["token_mask"], dtype=torch.float32)
            assert len(mask) == len(actions)  # one entry per action taken, EOS included
            batch.append((info["problem_id"], actions, reward, mask, info["outcome"]))
        if not batch:  # every episode hit a sandbox failure
            continue
        rewards = torch.tensor([b[2] for b in batch])  # (B,)
        advantages = rewards - baseline  # b comes from earlier batches only: no bias
        kept = sum(float(b[3].sum()) for b in batch)
        loss = sum(
            -adv * (mask * log_probs(policy, pid, actions, start)).sum()
            for (pid, actions, _, mask, _), adv in zip(batch, advantages)
        ) / max(kept, 1.0)  # mean over the tokens FGO keeps
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        tokens, outcomes = sum(len(b[1]) for b in batch), Counter(b[4] for b in batch)
        print(
            f"iter {iteration:3d}  loss {loss.item():+.4f}  reward {rewards.mean():+.3f}  "
            f"baseline {baseline:+.3f}  tokens kept {kept:.0f}/{tokens}  {dict(outcomes)}"
        )
        baseline = 0.9 * baseline + 0.1 * rewards.mean().item()


if __name__ == "__main__":
    main()
