"""Native vector envs of both customer-service ids equal gymnasium's SyncVectorEnv (SAME_STEP)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

import lm_envs  # noqa: F401
from lm_envs.envs.customer_dialog import CustomerServiceDialogVectorEnvV1
from lm_envs.envs.customer_service import CustomerServiceQAVectorEnv
from lm_envs.sim.customer import oracle_turn
from lm_envs.testing import results_equal

# cheap exact rewards: the point is the env mechanics (MiniLM is checked in tests/envs)
CASES = {
    "lm_envs/CustomerServiceQA-v0": {"reward": {"facts": 1.0, "length": 0.1}, "max_new_tokens": 8},
    "lm_envs/CustomerServiceDialog-v1": {"max_new_tokens": 40, "max_turn_tokens": 5},
}




@pytest.mark.parametrize("env_id", list(CASES))
@pytest.mark.parametrize("reward_mode", ["sparse", "dense"])
def test_native_matches_sync(env_id, reward_mode):
    kwargs = {**CASES[env_id], "reward_mode": reward_mode}
    native = gym.make_vec(env_id, num_envs=4, vectorization_mode="vector_entry_point", **kwargs)
    sync = gym.make_vec(env_id, num_envs=4, vectorization_mode="sync", vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP}, **kwargs)
    assert isinstance(native, (CustomerServiceQAVectorEnv, CustomerServiceDialogVectorEnvV1))
    assert native.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    assert results_equal(native.reset(seed=3), sync.reset(seed=3))
    env = native.env
    eot = max(env.stop_token_ids - {env.eos_token_id}, default=env.eos_token_id)
    rng = np.random.default_rng(0)
    finished = grew = 0
    for _ in range(60):
        # end-of-turn and EOS now and then: dialog rows get customer replies and end at different steps
        u = rng.random(4)
        actions = np.where(u < 0.1, env.eos_token_id, np.where(u < 0.35, eot, rng.integers(0, env.vocab_size, 4)))
        lengths = native.lengths.copy()
        results = [venv.step(actions) for venv in (native, sync)]
        assert results_equal(results[0], results[1])
        finished += int(results[0][2].sum() + results[0][3].sum())
        grew += int(((native.lengths - lengths) > 1).sum())
    assert finished >= 10
    if "Dialog" in env_id:
        assert grew >= 5  # customer replies were appended in the middle of episodes


def test_oracle_in_the_native_dialog_vector_env():
    venv = gym.make_vec("lm_envs/CustomerServiceDialog-v1", num_envs=3, vectorization_mode="vector_entry_point")
    venv.reset(seed=0)
    env = venv.env
    queues: list[list[int]] = [[] for _ in range(3)]
    outcomes = []
    for _ in range(400):
        actions = []
        for row in range(3):
            if not queues[row]:
                customer = venv.states[row].customer
                text = " " + oracle_turn(customer.goal, customer.revealed)
                queues[row] = env.tokenizer.encode(text, add_special_tokens=False) + [env.eot_token_id]
            actions.append(queues[row].pop(0))
        _, rewards, terminated, truncated, info = venv.step(np.array(actions))
        for row in np.flatnonzero(terminated | truncated):
            outcomes.append(info["final_info"]["outcome"][row])
            assert rewards[row] == pytest.approx(0.9)
            queues[row] = []
        if len(outcomes) >= 6:
            break
    assert outcomes[:6] == ["success"] * 6
