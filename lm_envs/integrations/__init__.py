"""Bridges from the token envs to the trainers and protocols users already run.

- `lm_envs.integrations.trl`: `to_dataset` (also `lm_envs.to_dataset`), the train / eval split
  of an env's prompts, and `env_reward`, the ``reward_funcs`` entry of TRL's ``GRPOTrainer``
  that reads the env's reward. The ``rollout_func`` that plays the episodes is
  `agents.integrations.trl.make_rollout_func`: it runs the agents' KV-cached rollout engine,
  and ``lm_envs`` does not import ``agents``.
- `lm_envs.integrations.openenv`: an OpenEnv server (``lm-envs serve ENV_ID``) and its client
  (extra ``[serve]``).

The submodules are imported on use; ``import lm_envs`` loads neither TRL, ``datasets`` nor
OpenEnv.
"""

__all__: list[str] = []
