"""lm-envs: Gymnasium environments in which a language model acts one token at a time.

``import lm_envs`` registers the env ids (lazily: no model, tokenizer or world is loaded until
an env is made), so ``gym.make("lm_envs/TextGeneration-v0", reward={...})`` just works.
"""

from __future__ import annotations

import gymnasium as gym

__version__ = "0.1.0"

# id -> (module, env class, native vector env class used by gym.make_vec)
ENV_ENTRY_POINTS: dict[str, tuple[str, str, str]] = {
    "lm_envs/TextGeneration-v0": ("lm_envs.envs.text_generation", "TextGenerationEnv", "TextGenerationVectorEnv"),
    "lm_envs/TextGeneration-v1": ("lm_envs.envs.text_generation", "TextGenerationEnvV1", "TextGenerationVectorEnvV1"),
    "lm_envs/CustomerServiceQA-v0": ("lm_envs.envs.customer_service", "CustomerServiceQAEnv", "CustomerServiceQAVectorEnv"),
    "lm_envs/CustomerServiceDialog-v0": ("lm_envs.envs.customer_dialog", "CustomerServiceDialogEnv", "CustomerServiceDialogVectorEnv"),
    "lm_envs/CustomerServiceDialog-v1": ("lm_envs.envs.customer_dialog", "CustomerServiceDialogEnvV1", "CustomerServiceDialogVectorEnvV1"),
    "lm_envs/ProductRecommendation-v0": ("lm_envs.envs.recommendation", "ProductRecommendationEnv", "ProductRecommendationVectorEnv"),
    "lm_envs/ProductRecommendationContinuous-v0": ("lm_envs.envs.recommendation", "ProductRecommendationContinuousEnv", "ProductRecommendationContinuousVectorEnv"),
}


def _register_all() -> None:
    for env_id, (module, cls, vector_cls) in ENV_ENTRY_POINTS.items():
        if env_id in gym.registry:
            continue
        gym.register(
            id=env_id,
            entry_point=f"{module}:{cls}",
            vector_entry_point=f"{module}:{vector_cls}",
            # Token envs end episodes themselves (EOS or max_new_tokens fixes the
            # observation length), so no TimeLimit wrapper is added.
            max_episode_steps=None,
        )


_register_all()

ENV_IDS: tuple[str, ...] = tuple(ENV_ENTRY_POINTS)


def env_class(env_id: str) -> type:
    """The env class registered under ``env_id`` (imports its module, makes no env)."""
    from gymnasium.envs.registration import load_env_creator

    entry_point = gym.spec(env_id).entry_point
    return entry_point if isinstance(entry_point, type) else load_env_creator(entry_point)


def is_token_env(env_id: str) -> bool:
    """Whether ``env_id`` is a token env: its class is a `lm_envs.core.TokenEnv` (one action is
    one token id, the reward is a `lm_envs.rewards.make_reward` spec)."""
    from lm_envs.core import TokenEnv

    cls = env_class(env_id)
    return isinstance(cls, type) and issubclass(cls, TokenEnv)


def token_env_ids() -> tuple[str, ...]:
    """The registered lm_envs ids whose env is a token env, in registration order."""
    return tuple(env_id for env_id in ENV_IDS if is_token_env(env_id))


def to_dataset(env_id: str, n: int, *, seed: int, split: str = "train", **env_kwargs):
    """A ``datasets.Dataset`` of ``n`` tasks of a token env, with the ``prompt`` column TRL
    expects and the task fields its rewards read; ``split="train"`` and ``"eval"`` share no
    prompt. See `lm_envs.integrations.trl.to_dataset` (needs ``pip install 'lm-envs[trl]'``)."""
    from lm_envs.integrations.trl import to_dataset as build

    return build(env_id, n, seed=seed, split=split, **env_kwargs)


__all__ = ["ENV_IDS", "__version__", "env_class", "is_token_env", "to_dataset", "token_env_ids"]
