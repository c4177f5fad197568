"""Our agents next to TRL and stable-baselines3 on the same machine, in one run.

**LM (TRL)** — our ``REINFORCE`` with the leave-one-out baseline vs TRL's ``RLOOTrainer``.
Same tiny-shop weights (saved with ``save_pretrained`` to a temp folder for TRL, offline),
same prompts (TextGeneration-v0's world prompts), reward ``{"sentiment": 1.0}`` (our
``make_reward`` object is TRL's reward function), ``--batch`` completions per update in
groups of ``--group`` per prompt, at most ``--max-new-tokens`` tokens (both stop at EOS),
temperature 1, no top-k/top-p, Adam at ``--lr``, fp32 on CPU (TRL's ``bf16`` default is
turned off), no KL penalty (``beta = 0``; TRL then loads no reference; ours still scores
one for its ``kl_ref`` metric), one gradient step per generation (``num_iterations = 1``),
``--updates`` updates each. Figures: generated completion tokens/s over the whole update
(generation + reward + gradient step), median wall time per update, and the mean reward of
the last 3 updates finished before the equal wall time (the shorter of the two runs).

TRL ``PPOTrainer``: TRL 1.x ships none (not in ``trl.trainer`` nor ``trl.experimental``);
the script checks and says so.

**Classic RL (SB3)** — our ``PPO`` and ``A2C`` vs SB3's on ``CartPole-v1`` and
``lm_envs/ProductRecommendation-v0``: same ``n_envs``, rollout length, minibatch, epochs,
learning rate, GAE, clip, coefficients and 64-64 tanh MLPs (SB3's ``MlpPolicy`` /
``MultiInputPolicy`` defaults); A2C uses both libraries' defaults (5 steps, RMSprop, 7e-4).
Figures: env steps/s of ``learn`` and the mean return of ``--eval-episodes`` deterministic
evaluation episodes after an equal number of steps.

Ratios are ours / theirs (for wall time: theirs / ours, so > 1 means ours is better).
Goals: >= 1.5x TRL's tokens/s; >= SB3's steps/s with equal or better return.

    python -m benchmarks.perf peers
    python -m benchmarks.perf peers --skip-trl --classic-steps 4096
"""

from __future__ import annotations

import argparse
import importlib.util
import tempfile
import time
from typing import Any

import gymnasium as gym
import numpy as np
import torch

import lm_envs  # noqa: F401  (registers the ids)

TEXT_ID = "lm_envs/TextGeneration-v0"
REWARD = {"sentiment": 1.0}
# SB3's PPO/A2C cannot mask actions; with "skip" a masked item is shown as nothing instead of
# raising. Both sides get the same env (ours still masks, so the option never fires for ours).
CLASSIC_ENV_KWARGS = {"lm_envs/ProductRecommendation-v0": {"masked_action": "skip"}}


# ---------------------------------------------------------------------------------------
# LM: our REINFORCE (RLOO) vs TRL's RLOOTrainer
# ---------------------------------------------------------------------------------------


def run_ours_rloo(args: argparse.Namespace) -> list[dict[str, float]]:
    """One row per update: end time (s since start), seconds, completion tokens, reward."""
    from agents import REINFORCE, REINFORCEConfig

    config = REINFORCEConfig(
        num_envs=args.batch, group_size=args.group, learning_rate=args.lr, gamma=1.0, baseline="rloo"
    )
    agent = REINFORCE(
        TEXT_ID, policy="tiny-shop", config=config, seed=0,
        env_kwargs={"reward": REWARD, "max_new_tokens": args.max_new_tokens},
    )  # fmt: skip
    rows: list[dict[str, float]] = []
    start = last = time.perf_counter()

    def callback(agent_: Any, row: dict[str, Any]) -> bool:
        nonlocal last
        now = time.perf_counter()
        rows.append(
            {
                "t": now - start,
                "seconds": now - last,
                "tokens": float(row["episode_length"]) * args.batch,  # completion tokens (valid steps)
                "reward": float(row["reward_mean"]),
            }
        )
        last = now
        return agent_.num_updates < args.updates

    agent.learn(10**12, callback=callback)
    return rows


def run_trl_rloo(args: argparse.Namespace, prompts: list[str]) -> list[dict[str, float]]:
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import RLOOConfig, RLOOTrainer

    from lm_envs.models import load_policy, load_tokenizer
    from lm_envs.rewards import make_reward

    rows: list[dict[str, float]] = []

    class Timer(TrainerCallback):
        def __init__(self) -> None:
            self.start = self.step_start = 0.0

        def on_train_begin(self, *a: Any, **k: Any) -> None:
            self.start = time.perf_counter()

        def on_step_begin(self, *a: Any, **k: Any) -> None:
            self.step_start = time.perf_counter()

        def on_step_end(self, *a: Any, **k: Any) -> None:
            now = time.perf_counter()
            rows.append({"t": now - self.start, "seconds": now - self.step_start})

        def on_log(self, _args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **k: Any) -> None:
            if logs and "reward" in logs and rows:
                rows[-1]["reward"] = float(logs["reward"])
                rows[-1]["tokens"] = float(logs["completions/mean_length"]) * args.batch

    with tempfile.TemporaryDirectory() as tmp:
        model_dir, out_dir = f"{tmp}/tiny-shop", f"{tmp}/out"
        load_policy("tiny-shop").save_pretrained(model_dir)
        tokenizer = load_tokenizer("tiny-shop")
        tokenizer.save_pretrained(model_dir)
        n_prompts = args.updates * args.batch // args.group
        dataset = Dataset.from_dict({"prompt": [prompts[i % len(prompts)] for i in range(n_prompts)]})
        config = RLOOConfig(
            output_dir=out_dir,
            per_device_train_batch_size=args.batch,
            num_generations=args.group,
            max_completion_length=args.max_new_tokens,
            learning_rate=args.lr,
            lr_scheduler_type="constant",
            max_grad_norm=0.5,
            beta=0.0,
            num_iterations=1,
            temperature=1.0,
            top_p=1.0,
            top_k=0,
            max_steps=args.updates,
            logging_steps=1,
            save_strategy="no",
            report_to="none",
            use_cpu=True,
            bf16=False,
            seed=0,
            dataloader_num_workers=0,
            disable_tqdm=True,
        )
        trainer = RLOOTrainer(
            model=model_dir,
            reward_funcs=make_reward(REWARD),
            args=config,
            train_dataset=dataset,
            processing_class=tokenizer,
            callbacks=[Timer()],
        )
        trainer.train()
    return rows


def reward_at(rows: list[dict[str, float]], t: float, last: int = 3) -> float:
    done = [r["reward"] for r in rows if r["t"] <= t + 1e-9 and "reward" in r]
    return float(np.mean(done[-last:])) if done else float("nan")


def summarize(rows: list[dict[str, float]]) -> dict[str, float]:
    tokens = sum(r.get("tokens", 0.0) for r in rows)
    seconds = sum(r["seconds"] for r in rows)
    return {"tokens_per_s": tokens / seconds, "update_s": float(np.median([r["seconds"] for r in rows])), "total_s": rows[-1]["t"]}


def compare_trl(args: argparse.Namespace) -> None:
    print(
        f"\n== LM: our REINFORCE (RLOO) vs TRL RLOOTrainer — tiny-shop, reward {REWARD}, batch {args.batch} "
        f"({args.batch // args.group} prompts x {args.group}), <= {args.max_new_tokens} new tokens, lr {args.lr}, "
        f"{args.updates} updates, {torch.get_num_threads()} torch threads"
    )
    if importlib.util.find_spec("trl") is None:
        print("TRL is not installed (pip install -e '.[trl]'); skipped")
        return
    import trl

    probe = gym.make(TEXT_ID, reward=REWARD).unwrapped
    prompts = [t.prompt for t in probe.tasks]
    torch.manual_seed(0)
    ours_rows = run_ours_rloo(args)
    torch.manual_seed(0)
    trl_rows = run_trl_rloo(args, prompts)
    ours, theirs = summarize(ours_rows), summarize(trl_rows)
    t_equal = min(ours["total_s"], theirs["total_s"])
    r_ours, r_trl = reward_at(ours_rows, t_equal), reward_at(trl_rows, t_equal)
    print(f"{'':<30} {'tokens/s':>10} {'s/update':>9} {'total s':>8} {'reward@' + format(t_equal, '.0f') + 's':>11} {'first reward':>13}")
    for name, s, rows, r in (("ours REINFORCE-RLOO", ours, ours_rows, r_ours), (f"TRL {trl.__version__} RLOOTrainer", theirs, trl_rows, r_trl)):
        print(f"{name:<30} {s['tokens_per_s']:>10,.0f} {s['update_s']:>9.2f} {s['total_s']:>8.1f} {r:>11.3f} {rows[0].get('reward', float('nan')):>13.3f}")
    ratio = ours["tokens_per_s"] / theirs["tokens_per_s"]
    print(
        f"ratio ours / TRL: tokens/s {ratio:.2f} (goal >= 1.5: {'met' if ratio >= 1.5 else 'NOT met'}), "
        f"time per update TRL/ours {theirs['update_s'] / ours['update_s']:.2f}, "
        f"reward at equal wall time {r_ours:.3f} vs {r_trl:.3f}"
    )
    has_ppo = hasattr(trl, "PPOTrainer") or importlib.util.find_spec("trl.experimental.ppo") is not None
    print(
        "TRL PPOTrainer: "
        + ("present but not compared here" if has_ppo else f"not shipped by TRL {trl.__version__} (no trl.PPOTrainer, no trl.experimental.ppo); our PPO has no TRL peer")
    )


# ---------------------------------------------------------------------------------------
# classic RL: our PPO / A2C vs SB3's
# ---------------------------------------------------------------------------------------


def _ours(algo: str, env_id: str, args: argparse.Namespace) -> tuple[float, float]:
    from agents import A2C, PPO, A2CConfig, PPOConfig

    if algo == "PPO":
        cfg: Any = PPOConfig(num_envs=8, n_steps=128, minibatch_size=256, update_epochs=4, learning_rate=2.5e-4)
        agent: Any = PPO(env_id, config=cfg, seed=0, env_kwargs=CLASSIC_ENV_KWARGS.get(env_id))
    else:
        agent = A2C(env_id, config=A2CConfig(num_envs=8), seed=0, env_kwargs=CLASSIC_ENV_KWARGS.get(env_id))
    start = time.perf_counter()
    agent.learn(args.classic_steps)
    rate = agent.num_timesteps / (time.perf_counter() - start)
    return rate, float(agent.evaluate(args.eval_episodes, deterministic=True, seed=1000)["reward_mean"])


def _sb3(algo: str, env_id: str, args: argparse.Namespace) -> tuple[float, float]:
    from stable_baselines3 import A2C, PPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy

    # SB3 defaults render_mode to "rgb_array", which the recommender does not offer
    env = make_vec_env(env_id, n_envs=8, seed=0, env_kwargs={"render_mode": None, **CLASSIC_ENV_KWARGS.get(env_id, {})})
    policy = "MultiInputPolicy" if isinstance(env.observation_space, gym.spaces.Dict) else "MlpPolicy"
    if algo == "PPO":
        # CleanRL/our defaults: 8 x 128 steps, minibatch 256, 4 epochs, lr 2.5e-4 annealed
        model: Any = PPO(
            policy, env, n_steps=128, batch_size=256, n_epochs=4, learning_rate=lambda f: 2.5e-4 * f,
            gae_lambda=0.95, clip_range=0.2, ent_coef=0.0, vf_coef=0.5, max_grad_norm=0.5, seed=0, device="cpu",
        )  # fmt: skip
    else:
        model = A2C(policy, env, seed=0, device="cpu")  # 5 steps, RMSprop, 7e-4: as our A2CConfig
    start = time.perf_counter()
    model.learn(args.classic_steps)
    rate = model.num_timesteps / (time.perf_counter() - start)
    eval_env = make_vec_env(env_id, n_envs=1, seed=1000, env_kwargs={"render_mode": None, **CLASSIC_ENV_KWARGS.get(env_id, {})})
    mean, _ = evaluate_policy(model, eval_env, n_eval_episodes=args.eval_episodes, deterministic=True)
    return rate, float(mean)


def compare_sb3(args: argparse.Namespace) -> None:
    import stable_baselines3

    print(
        f"\n== classic RL: ours vs stable-baselines3 {stable_baselines3.__version__} — {args.classic_steps:,} steps, "
        f"8 envs, {args.eval_episodes} deterministic eval episodes, {torch.get_num_threads()} torch threads"
    )
    print(f"{'env':<36} {'algo':<4} {'ours steps/s':>12} {'SB3 steps/s':>12} {'ratio':>6} {'ours return':>12} {'SB3 return':>11}")
    for env_id in args.classic_envs:
        for algo in ("PPO", "A2C"):
            torch.manual_seed(0)
            o_rate, o_ret = _ours(algo, env_id, args)
            torch.manual_seed(0)
            s_rate, s_ret = _sb3(algo, env_id, args)
            verdict = "met" if o_rate >= s_rate and o_ret >= s_ret else "NOT met"
            print(
                f"{env_id:<36} {algo:<4} {o_rate:>12,.0f} {s_rate:>12,.0f} {o_rate / s_rate:>6.2f} "
                f"{o_ret:>12.2f} {s_ret:>11.2f}  goal {verdict}",
                flush=True,
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.perf peers", description=__doc__)
    parser.add_argument("--batch", type=int, default=16, help="completions per update")
    parser.add_argument("--group", type=int, default=4, help="completions per prompt (RLOO k)")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--updates", type=int, default=20)
    parser.add_argument("--lr", type=float, default=2e-5)
    parser.add_argument("--classic-steps", type=int, default=20_480)
    parser.add_argument("--classic-envs", nargs="+", default=["CartPole-v1", "lm_envs/ProductRecommendation-v0"])
    parser.add_argument("--eval-episodes", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: on a shared 2-core machine 2 threads spin-wait and run ~10x slower)")
    parser.add_argument("--skip-trl", action="store_true")
    parser.add_argument("--skip-sb3", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if not args.skip_trl:
        compare_trl(args)
    if not args.skip_sb3:
        compare_sb3(args)
    return 0
