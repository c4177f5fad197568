"""Roll the default tiny-shop policy through every registered env and print text and rewards.

This is the small demo behind ``lm-envs demo``. Token envs are played by the same
evaluation loop and KV-cached actor the agents use (`agents.evaluation.evaluate_policy`),
sampling from the policy with a seeded generator; the recommender by its fixed baselines.
"""

from __future__ import annotations

import gymnasium as gym
from gymnasium.envs.registration import load_env_creator

import lm_envs

__all__ = ["run_demo"]

MAX_DEMO_EPISODES = 64  # per env: the demo prints every episode


def _demo_token_env(env_id: str, model: object, *, policy_name: str, episodes: int, seed: int,
                    temperature: float) -> None:
    import torch

    from agents.actors import ActorPolicy
    from agents.base import make_policy
    from agents.envs import make_vector_env
    from agents.evaluation import evaluate_policy

    env = make_vector_env(env_id, num_envs=min(episodes, 8), env_kwargs={"tokenizer": policy_name})
    try:
        policy = make_policy(model, env, temperature=temperature)
        act = ActorPolicy(policy, env, generator=torch.Generator().manual_seed(seed))
        played = evaluate_policy(env, act, episodes, seed=seed)
    finally:
        env.close()
    print(f"=== {env_id} ({policy_name}) ===")
    for episode in played:
        shown = ", ".join(f"{k}={v:+.3f}" for k, v in episode.reward_terms.items())
        print(f"prompt:     {str(episode.prompt).strip()}")
        print(f"completion: {str(episode.completion).strip()}")
        print(f"reward:     {episode.episode_return:+.3f} ({shown})\n")


def _demo_recommender(env_id: str, *, episodes: int, seed: int) -> None:
    from agents.baselines import BASELINES, evaluate_baseline

    print(f"=== {env_id} (built-in policies; items are actions, no text) ===")
    for name in BASELINES:
        result = evaluate_baseline(name, n_episodes=max(episodes, 8), seed=seed, num_envs=8)
        print(f"{name:<8} mean return {result.mean:7.3f} over {len(result.returns)} sessions")
    print()


def run_demo(*, policy_name: str = "tiny-shop", episodes: int = 2, seed: int = 0, temperature: float = 0.9,
             model: object | None = None) -> None:
    """Print ``episodes`` sampled episodes of every token env and the recommender baselines.

    ``model`` is ``policy_name``'s causal LM when the caller has loaded it already.

    Raises:
        ValueError: ``episodes`` is not in ``[1, MAX_DEMO_EPISODES]`` or ``temperature <= 0``.
    """
    if isinstance(episodes, bool) or not isinstance(episodes, int) or not 1 <= episodes <= MAX_DEMO_EPISODES:
        raise ValueError(f"episodes must be an int in [1, {MAX_DEMO_EPISODES}]; got {episodes!r}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0; got {temperature!r}")
    from lm_envs.core import TokenEnv
    from lm_envs.models import load_policy

    if model is None:
        model = load_policy(policy_name)
    for env_id in lm_envs.ENV_IDS:
        env_class = load_env_creator(gym.spec(env_id).entry_point)
        if issubclass(env_class, TokenEnv):
            _demo_token_env(env_id, model, policy_name=policy_name, episodes=episodes, seed=seed,
                            temperature=temperature)
        elif env_id == "lm_envs/ProductRecommendation-v0":
            _demo_recommender(env_id, episodes=episodes, seed=seed)
        # the continuous recommender shares that simulator and its baselines
