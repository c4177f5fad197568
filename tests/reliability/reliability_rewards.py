"""A custom reward registered at the top level of an importable module, as users do."""

from __future__ import annotations

from lm_envs.rewards import register_reward


@register_reward("reliability_shouting")
def shouting():
    def reward(prompts, completions, **kw):
        return [sum(c.isupper() for c in text) / max(len(text), 1) for text in completions]

    return reward
