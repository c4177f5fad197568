"""Any lm-envs token env inside TRL's ``GRPOTrainer``: a ``rollout_func`` built on the agents'
KV-cached env-in-the-loop rollout engine.

```python
from trl import GRPOConfig, GRPOTrainer
from lm_envs import to_dataset
from agents.integrations.trl import env_reward, make_rollout_func

env_id = "lm_envs/CustomerServiceQA-v0"
trainer = GRPOTrainer(model=model_dir, reward_funcs=env_reward, train_dataset=to_dataset(env_id, 256, seed=0),
                      args=GRPOConfig(...), processing_class=tokenizer, rollout_func=make_rollout_func(env_id))
trainer.train()
```

The contract (TRL 1.16, ``GRPOTrainer._generate``): ``rollout_func(prompts, trainer)`` gets
the dataset prompts of this process, each already repeated ``num_generations`` times by TRL's
sampler, and returns one completion per prompt as ``{"prompt_ids", "completion_ids",
"logprobs", ...}``; ``env_mask`` (1 on the model's tokens, 0 on tokens the env wrote) is
taken out of the extra fields and masks the loss, and the other extra fields reach the reward
functions as keyword arguments.

What the rollout returns, per completion:

- ``prompt_ids``: the env's prompt tokens (what the model was conditioned on: on the dialog,
  the chat-template rendering of the system and opening messages);
- ``completion_ids``: every token after the prompt, the agent's and, on the dialog, the
  simulated customer's replies; ``env_mask`` is 0 on the customer's tokens, so they are
  context for the loss, never its target;
- ``logprobs``: the log-probability of each agent token under the sampling distribution
  (temperature, top-k and top-p from the trainer's ``GRPOConfig``); 0.0 where ``env_mask``
  is 0;
- ``env_return`` (the episode's return), ``env_reward_terms``, ``env_success``,
  ``task_index`` and the fields of the task played (they replace the dataset columns of the
  same names; a dialog prompt shared by several tasks is played as one of them, drawn with
  the rollout's generator, and the reward functions then see that task's fields).

`env_reward` (``reward_funcs=env_reward``) gives the env's own reward;
`env_reward_term` one raw term. The episodes are played by `agents.rollout.Rollout` with
the trainer's current model wrapped as an `agents.policies.LMActorCritic` (no dropout change,
eval mode during the rollout, the trainer's mode restored after): the prompts are prefilled
once (repeated prompts of a GRPO group once for the group), then each step feeds only the new
tokens through the KV cache, and the env steps every row in one batched call.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch

from agents.envs import make_vector_env
from agents.options import check_cache_mode
from agents.policies import LMActorCritic
from agents.rollout import Rollout
from lm_envs.integrations.trl import (
    ENV_RETURN,
    ENV_REWARD_TERMS,
    ENV_SUCCESS,
    ENV_TASK_INDEX,
    env_reward,
    env_reward_term,
    env_tasks,
    tasks_by_prompt,
    to_dataset,
)

__all__ = ["EnvRollout", "env_reward", "env_reward_term", "make_rollout_func", "to_dataset"]


class EnvRollout:
    """The ``rollout_func`` of ``trl.GRPOTrainer`` for the token env ``env_id``: one episode
    per prompt, played by the trainer's current model. See the module doc for what it returns.

    Args:
        env_id: a registered token env id; its tasks must include the dataset's prompts
            (make the dataset with ``lm_envs.to_dataset(env_id, ..., **env_kwargs)``).
        seed: seeds the sampling generator, the env resets and the choice among tasks that
            share a prompt; the same seed, weights and prompts give the same rollouts.
        cache_mode: ``"per_row"`` or ``"rebuild"``, see `agents.kv_cache`.
        env_kwargs: the env's keyword arguments (``reward``, ``max_new_tokens``, ``data``, ...).
    """

    def __init__(self, env_id: str, *, seed: int = 0, cache_mode: str = "per_row", env_kwargs: dict[str, Any] | None = None) -> None:
        check_cache_mode(cache_mode)
        self.env_id = env_id
        self.env_kwargs = dict(env_kwargs or {})
        self.seed = int(seed)
        self.cache_mode = cache_mode
        template = gym.make(env_id, **self.env_kwargs)
        self.env = template.unwrapped
        self.tasks = env_tasks(template)
        self.prompt_tasks = tasks_by_prompt(self.tasks)
        self.rng = np.random.default_rng(self.seed)
        self.calls = 0
        self.rollouts: dict[int, Rollout] = {}  # one per batch size (train and eval may differ)
        self.policy: LMActorCritic | None = None
        self.policy_key: tuple[Any, ...] = ()
        self.generator: torch.Generator | None = None
        self.checked_tokenizer: int | None = None

    # ------------------------------------------------------------------ checks and set-up
    def task_index(self, prompt: Any) -> int:
        """The task a dataset prompt names (one of several that share it, drawn with the rollout's rng)."""
        if not isinstance(prompt, str):
            raise TypeError(
                f"the env rollout takes text prompts (the 'prompt' column of lm_envs.to_dataset); got {type(prompt).__name__}"
            )
        indices = self.prompt_tasks.get(prompt)
        if indices is None:
            raise ValueError(
                f"prompt {prompt[:80]!r}... is not a task of {self.env_id}; build the dataset with "
                f"lm_envs.to_dataset({self.env_id!r}, n, seed=..., **env_kwargs) and the same env_kwargs"
            )
        return indices[0] if len(indices) == 1 else int(indices[int(self.rng.integers(len(indices)))])

    def check_trainer(self, trainer: Any) -> None:
        """Raise if the trainer's tokenizer or settings do not fit the env (checked once per tokenizer)."""
        processing = getattr(trainer, "processing_class", None)
        tokenizer = getattr(processing, "tokenizer", processing)
        if tokenizer is not None and id(tokenizer) != self.checked_tokenizer:
            if tokenizer.get_vocab() != self.env.tokenizer.get_vocab():
                raise ValueError(
                    f"the trainer's processing_class has a different vocabulary than {self.env_id}'s tokenizer "
                    f"({len(tokenizer)} vs {self.env.vocab_size} tokens); pass the env's tokenizer as processing_class, "
                    "or tokenizer=... in env_kwargs"
                )
            self.checked_tokenizer = id(tokenizer)
        args = trainer.args
        budget = getattr(args, "max_completion_length", None)
        if budget is not None and self.env.max_new_tokens > budget:
            raise ValueError(
                f"{self.env_id} has max_new_tokens={self.env.max_new_tokens} (agent and env tokens together), "
                f"above GRPOConfig.max_completion_length={budget}; raise max_completion_length or pass max_new_tokens "
                "in env_kwargs"
            )
        if float(getattr(args, "repetition_penalty", 1.0)) != 1.0 or getattr(args, "min_p", None) is not None:
            raise ValueError("the env rollout samples with temperature, top_k and top_p only; unset repetition_penalty and min_p")

    def policy_for(self, model: torch.nn.Module, args: Any) -> LMActorCritic:
        """The trainer's model as the rollout's policy, with the trainer's sampling settings."""
        top_k = int(getattr(args, "top_k", 0) or 0)
        top_p = float(getattr(args, "top_p", 1.0) or 1.0)
        key = (id(model), float(args.temperature), top_k, top_p)
        if self.policy is None or key != self.policy_key:
            was_training = model.training
            policy = LMActorCritic(
                model, temperature=float(args.temperature), top_k=top_k or None,
                top_p=top_p if top_p < 1.0 else None, disable_dropout=False,
            )  # fmt: skip
            device = next(model.parameters()).device
            policy.value_head.to(device)  # unused here (GRPO has no critic), but the actor reads its device
            model.train(was_training)
            self.policy, self.policy_key = policy, key
            self.generator = torch.Generator(device=device).manual_seed(self.seed)
            self.rollouts = {}
        return self.policy

    def rollout_for(self, num_envs: int, policy: LMActorCritic) -> Rollout:
        rollout = self.rollouts.get(num_envs)
        if rollout is None:
            env = make_vector_env(self.env_id, num_envs=num_envs, env_kwargs=self.env_kwargs)
            rollout = self.rollouts[num_envs] = Rollout(env, policy, generator=self.generator, cache_mode=self.cache_mode)
        return rollout

    # ------------------------------------------------------------------ the rollout
    def __call__(self, prompts: list[Any], trainer: Any) -> dict[str, list[Any]]:
        """Play one episode per prompt with ``trainer``'s model; TRL's ``rollout_func``."""
        self.check_trainer(trainer)
        model = trainer.accelerator.unwrap_model(trainer.model)
        indices = [self.task_index(prompt) for prompt in prompts]
        was_training = model.training
        try:
            policy = self.policy_for(model, trainer.args)
            rollout = self.rollout_for(len(prompts), policy)
            policy.eval()  # the model acts without dropout, whatever the trainer's setting
            # distinct reset seeds for every episode of every call: row i of call c gets
            # seed + c * N + i (the dialog's customer patience comes from it)
            base = self.seed + self.calls * len(prompts)
            self.calls += 1
            batch, episodes = rollout.collect_episodes(seed=base, options={"task_index": np.asarray(indices)})
        finally:
            model.train(was_training)
        return self.trl_fields(batch, episodes, indices)

    def trl_fields(self, batch: Any, episodes: list[Any], indices: list[int]) -> dict[str, list[Any]]:
        """The ``rollout_func`` output of a `collect_episodes` batch: one completion per row."""
        out: dict[str, list[Any]] = {
            "prompt_ids": [], "completion_ids": [], "logprobs": [], "env_mask": [],
            ENV_RETURN: [], ENV_REWARD_TERMS: [], ENV_SUCCESS: [], ENV_TASK_INDEX: [],
        }  # fmt: skip
        field_names = sorted({name for index in indices for name in self.tasks[index].fields})
        for name in field_names:
            out.setdefault(name, [])
        valid = batch.valid.numpy()
        obs_len = batch.obs_len.numpy()
        actions = batch.actions.numpy()
        logprobs = batch.logprobs.numpy()
        for row, (episode, index) in enumerate(zip(episodes, indices, strict=True)):
            steps = np.flatnonzero(valid[:, row])
            last = int(steps[-1])
            # the episode's last context: the observation before its last action, plus that action
            context = batch.obs[last, row, : obs_len[last, row]].tolist() + [int(actions[last, row])]
            prompt_len = int(obs_len[0, row])
            completion = context[prompt_len:]
            positions = obs_len[steps, row] - prompt_len  # where each agent token sits
            mask = np.zeros(len(completion), dtype=np.int64)
            mask[positions] = 1
            token_logprobs = np.zeros(len(completion), dtype=np.float64)
            token_logprobs[positions] = logprobs[steps, row]
            if [completion[p] for p in positions] != actions[steps, row].tolist():
                raise RuntimeError(f"row {row}: the env's context does not hold the agent's tokens where the rollout put them")
            out["prompt_ids"].append(context[:prompt_len])
            out["completion_ids"].append(completion)
            out["logprobs"].append(token_logprobs.tolist())
            out["env_mask"].append(mask.tolist())
            out[ENV_RETURN].append(float(episode.episode_return))
            out[ENV_REWARD_TERMS].append(dict(episode.reward_terms))
            out[ENV_SUCCESS].append(episode.success)
            out[ENV_TASK_INDEX].append(int(index))
            fields = self.tasks[index].fields
            for name in field_names:
                out[name].append(fields.get(name))
        return out


def make_rollout_func(env_id: str, *, seed: int = 0, cache_mode: str = "per_row", **env_kwargs: Any) -> EnvRollout:
    """``rollout_func`` for ``trl.GRPOTrainer`` on the token env ``env_id`` (see `EnvRollout`).

    ``env_kwargs`` go to the env (``reward``, ``max_new_tokens``, ``data``, ...); pass the same
    ones to ``lm_envs.to_dataset``. The trainer's ``processing_class`` must be the env's
    tokenizer, and ``GRPOConfig.max_completion_length`` at least the env's ``max_new_tokens``.
    """
    return EnvRollout(env_id, seed=seed, cache_mode=cache_mode, env_kwargs=env_kwargs)
