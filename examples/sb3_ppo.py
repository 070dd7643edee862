"""Train stable-baselines3's PPO on CodeGen-v0 (token level).

    pip install "codegym[sb3]"
    python examples/sb3_ppo.py --timesteps 2048

SB3's MultiInputPolicy reads the env's Dict of token arrays directly. A generic MLP policy over
raw token ids will not learn to program in minutes; the point is the plumbing: the env checks,
vectorizes and trains under SB3 like any other Gymnasium env. Keep the curriculum's longest
prefixes (the default), so short generated tails can pass.
"""

from __future__ import annotations

import argparse

import gymnasium as gym

import codegym  # noqa: F401  (registers the env ids)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--timesteps", type=int, default=2048)
    parser.add_argument("--n-envs", type=int, default=2)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from stable_baselines3 import PPO
    from stable_baselines3.common.env_checker import check_env
    from stable_baselines3.common.env_util import make_vec_env

    kwargs = {
        "max_new_tokens": args.max_new_tokens,
        "max_prompt_tokens": 256,
        "max_prefix_tokens": 256,
    }
    # make_vec_env asks for render_mode="rgb_array" unless told otherwise; these envs render text.
    vec_kwargs = {**kwargs, "render_mode": None}
    check_env(gym.make("CodeGen-v0", **kwargs))
    env = make_vec_env("CodeGen-v0", n_envs=args.n_envs, seed=args.seed, env_kwargs=vec_kwargs)
    model = PPO(
        "MultiInputPolicy", env, n_steps=256, batch_size=64, n_epochs=2, seed=args.seed, verbose=0
    )
    model.learn(total_timesteps=args.timesteps)

    rewards, outcomes = [], []
    eval_env = gym.make("CodeGen-v0", **kwargs)
    for episode in range(4):
        obs, info = eval_env.reset(seed=1000 + episode)
        done, total = False, 0.0
        while not done:
            action, _ = model.predict(obs, deterministic=False)
            obs, reward, terminated, truncated, info = eval_env.step(int(action))
            total += reward
            done = terminated or truncated
        rewards.append(total)
        outcomes.append(info["outcome"])
    print(f"trained {args.timesteps} steps; evaluation rewards {rewards}, outcomes {outcomes}")


if __name__ == "__main__":
    main()
