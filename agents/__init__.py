"""Agents for lm-envs: REINFORCE (RLOO), A2C and PPO over cached LM rollouts, DDPG, and
supervised fine-tuning (SFT) on demonstrations.

```python
from agents import PPO, PPOConfig
agent = PPO("lm_envs/TextGeneration-v1", policy="tiny-shop",
            config=PPOConfig(num_envs=8, n_steps=64, minibatch_size=128, kl_coef=0.05, adaptive_kl=True),
            seed=0, env_kwargs={"max_new_tokens": 24})
agent.learn(50_000)
agent.metrics                 # one row per update (pandas)
agent.evaluate(32)            # reward_mean, reward/<term>, success_rate, samples
agent.save("runs/ppo"); PPO.load("runs/ppo")
PPO("CartPole-v1").learn(100_000)   # classic envs get an MLP actor-critic
DDPG("lm_envs/ProductRecommendation-v0").learn(40_000)   # Wolpertinger over item embeddings
```

Evaluating any policy, a plain callable included, is ``agents.evaluation.evaluate_policy``
(``ActorPolicy`` wraps an actor-critic for it); recommender baselines (random, most popular,
myopic oracle, planner) live in `agents.baselines`.
"""

from agents.actor_critic import A2C, A2CConfig
from agents.actors import ActorPolicy
from agents.ddpg import DDPG, DDPGConfig
from agents.evaluation import evaluate_policy, summarize
from agents.options import LMOptions
from agents.policies import LMActorCritic, MLPActorCritic, forward_with_cache
from agents.ppo import PPO, PPOConfig
from agents.reinforce import REINFORCE, REINFORCEConfig
from agents.returns import discounted_returns, gae, leave_one_out_baseline
from agents.rollout import Rollout
from agents.sampling import process_logits, sample_inverse_cdf
from agents.sft import SFT, SFTConfig

__all__ = [
    "A2C",
    "DDPG",
    "PPO",
    "REINFORCE",
    "SFT",
    "A2CConfig",
    "ActorPolicy",
    "DDPGConfig",
    "LMActorCritic",
    "LMOptions",
    "MLPActorCritic",
    "PPOConfig",
    "REINFORCEConfig",
    "Rollout",
    "SFTConfig",
    "discounted_returns",
    "evaluate_policy",
    "forward_with_cache",
    "gae",
    "leave_one_out_baseline",
    "process_logits",
    "sample_inverse_cdf",
    "summarize",
]
