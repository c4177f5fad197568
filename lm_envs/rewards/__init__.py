"""Composable rewards: a registry of factories, configured by data.

```python
from lm_envs.rewards import make_reward
reward = make_reward({"sentiment": 1.0, "keywords": 0.5, "repetition": -0.5})
totals, terms = reward.score(prompts, completions, keywords=[["battery", "screen"], ...])
```

Built-ins (``name``: kwargs; task fields read):

| name | kwargs | task fields | range |
|---|---|---|---|
| ``sentiment`` | ``target="positive"`` | ``sentiment_target`` | [-1, 1] |
| ``keywords`` | ``keywords=None`` | ``keywords`` | [0, 1] |
| ``length`` | ``min_words=5, max_words=30, falloff=None`` | | [0, 1] |
| ``repetition`` | ``n=2`` | | [0, 1) (a penalty: weight it < 0) |
| ``bleu`` | ``tokenize="13a", lowercase=False`` | ``references`` | [0, 1] |
| ``rouge`` | ``rouge_type="rougeL", use_stemmer=False`` | ``references`` | [0, 1] |
| ``fluency`` | ``model="tiny-shop", tokenizer=None, device="cpu", batch_size=16, floor=-20.0`` | | [floor, 0] |
| ``fluent_sentiment`` | ``target="positive", model="tiny-shop", low=-8.0, high=-4.0, ...`` | ``sentiment_target`` | [0, 1] |
| ``similarity`` | ``encoder=None, batch_size=64`` | ``references`` | [-1, 1] |
| ``facts`` | ``penalty=1.0`` | ``facts`` | [-1, 1] |
| ``wrong_facts`` | ``cap=5`` | ``facts`` | [0, cap] (a penalty: weight it < 0) |
| ``outcome`` | ``success=1.0, failure=-1.0, truncated=0.0`` | ``outcome`` | one of those |
| ``turns`` | | ``turns`` | [0, inf) (a cost: weight it < 0) |

Every reward function ignores keyword arguments it does not read, as TRL requires.

A reward registered with ``register_reward`` at the top level of an importable module also
works in ``lm-envs bench``'s worker processes: each worker imports the modules that registered
the rewards its runs use (``reward_names`` lists them from a spec).
"""

from lm_envs.rewards.base import RewardFunction, as_text_list, check_texts, task_field, text_lists
from lm_envs.rewards.registry import (
    REWARDS,
    CompositeReward,
    RewardFactory,
    RewardSpec,
    make_reward,
    register_reward,
    reward_names,
)

# Importing the built-in modules registers their rewards; none imports torch or loads a model.
from lm_envs.rewards import dialog, facts, lexical, model_based, overlap, sentiment  # noqa: E402,F401  isort: skip

__all__ = [
    "REWARDS",
    "CompositeReward",
    "RewardFactory",
    "RewardFunction",
    "RewardSpec",
    "as_text_list",
    "check_texts",
    "make_reward",
    "register_reward",
    "reward_names",
    "task_field",
    "text_lists",
]
