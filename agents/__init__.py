"""On-policy agents for lm-envs: REINFORCE (RLOO), A2C and PPO over cached LM rollouts."""

from agents.actor_critic import A2C, A2CConfig
from agents.policies import LMActorCritic, MLPActorCritic, forward_with_cache
from agents.ppo import PPO, PPOConfig
from agents.reinforce import REINFORCE, REINFORCEConfig
from agents.returns import discounted_returns, gae, leave_one_out_baseline
from agents.rollout import Rollout
from agents.sampling import process_logits, sample_inverse_cdf

__all__ = [
    "A2C",
    "A2CConfig",
    "PPO",
    "PPOConfig",
    "REINFORCE",
    "REINFORCEConfig",
    "LMActorCritic",
    "MLPActorCritic",
    "Rollout",
    "discounted_returns",
    "forward_with_cache",
    "gae",
    "leave_one_out_baseline",
    "process_logits",
    "sample_inverse_cdf",
]
