"""TRL's ``GRPOTrainer`` trains tiny-shop through our ``rollout_func``: 2 steps on the text env and
on the multi-turn dialog."""

from __future__ import annotations

import pytest
import torch

trl = pytest.importorskip("trl", reason="TRL is an optional extra: pip install 'lm-envs[trl]'")

from agents.integrations.trl import env_reward, env_reward_term, make_rollout_func  # noqa: E402
from lm_envs import to_dataset  # noqa: E402
from lm_envs.models import load_policy, load_tokenizer  # noqa: E402

CASES = {
    "lm_envs/TextGeneration-v0": {"max_new_tokens": 12},
    "lm_envs/CustomerServiceDialog-v1": {"max_new_tokens": 80, "max_turn_tokens": 12},
}


@pytest.mark.slow
@pytest.mark.parametrize("env_id", list(CASES), ids=list(CASES))
def test_two_grpo_steps(env_id, tmp_path, monkeypatch):
    monkeypatch.setenv("TRL_EXPERIMENTAL_SILENCE", "1")
    env_kwargs = CASES[env_id]
    model = load_policy("tiny-shop")
    before = [p.detach().clone() for p in model.parameters()]
    args = trl.GRPOConfig(
        output_dir=str(tmp_path), per_device_train_batch_size=4, num_generations=2,
        max_completion_length=env_kwargs["max_new_tokens"], max_steps=2, learning_rate=1e-4, logging_steps=1,
        save_strategy="no", report_to="none", use_cpu=True, bf16=False, gradient_checkpointing=False, seed=0,
        dataloader_num_workers=0, disable_tqdm=True,
    )  # fmt: skip
    reward_funcs = [env_reward]
    if "Dialog" in env_id:
        reward_funcs.append(env_reward_term("turns"))  # one raw term, logged on its own
        args.reward_weights = [1.0, 0.0]
    trainer = trl.GRPOTrainer(
        model=model, reward_funcs=reward_funcs, args=args, processing_class=load_tokenizer("tiny-shop"),
        train_dataset=to_dataset(env_id, 8, seed=0, **env_kwargs),
        rollout_func=make_rollout_func(env_id, seed=0, **env_kwargs),
    )  # fmt: skip
    trainer.train()
    assert trainer.state.global_step == 2
    logs = [row for row in trainer.state.log_history if "rewards/env_reward/mean" in row]
    assert len(logs) == 2
    assert all(torch.isfinite(torch.tensor(row["loss"])) for row in logs)
    if "Dialog" in env_id:
        assert all(row["rewards/env_turns/mean"] >= 1 for row in logs)
    assert any(not torch.equal(a, b.detach()) for a, b in zip(before, model.parameters()))
