"""Our agents next to TRL and stable-baselines3 on the same machine, in one run.

**LM (TRL)** — our ``REINFORCE`` with the leave-one-out baseline vs TRL's ``RLOOTrainer``,
set up so that the two differ only in how they generate and train:

- the same tiny-shop weights (saved with ``save_pretrained`` to a temp folder for TRL,
  offline) and the same stop tokens (the env ends an episode at EOS or at the end-of-turn
  token; TRL's ``generate`` gets both as ``eos_token_id``);
- the same prompts in the same order: ours runs first and its prompts (one per RLOO group,
  with their task fields) become TRL's dataset, read in order (``shuffle_dataset=False``)
  and repeated ``--group`` times each, as our groups are. The task fields reach TRL's
  reward as dataset columns, so ``sentiment_target`` signs the score on both sides; the
  script records what TRL's reward receives and checks it against ours;
- reward ``{"sentiment": 1.0}`` (our ``make_reward`` object on both sides), ``--batch``
  completions per update in groups of ``--group``, at most ``--max-new-tokens`` tokens,
  temperature 1, no top-k/top-p;
- one Adam step on the whole batch per generation (TRL: ``num_iterations = 1``,
  ``steps_per_generation = 1``), lr ``--lr`` constant, eps 1e-5, grad-norm clip 0.5, the same
  precision (``--dtype``: fp32, TRL's ``bf16`` default turned off, or bf16 on both), no KL penalty (``beta = 0``, our
  ``kl_coef = 0``: :data:`KL_COEF` for both);
- no reference model: TRL with ``beta = 0`` loads none, so ours runs with
  ``reference="none"`` when the KL coefficient is 0 (no frozen copy scored each update only
  to log ``kl_ref``; that was ~11% of our update). ``--our-reference fp32`` (or ``bf16``)
  puts it back; the header line says which;
- no activation checkpointing: TRL 1.x turns ``gradient_checkpointing`` on by default,
  which re-runs each layer's forward in the backward to save memory; ours never does, so
  by default TRL runs without it too (``--trl-gradient-checkpointing`` restores TRL's default).

What still differs, by design of each library: TRL generates with ``model.generate`` (no
env in the loop) while ours steps a Gymnasium vector env token by token; ours packs the update
forward and runs each RLOO group's prompt once (a tree mask, the same gradients), TRL pads it
and runs the prompt once per completion; TRL runs a
no-grad forward for ``old_logps`` each update (unused when ``num_iterations = 1``), which
ours has no counterpart for with ``reference="none"`` (with ``--our-reference fp32`` ours
scores its frozen reference instead: one extra scoring forward each). Ours computes the
log-prob and the full-vocabulary entropy of the sampled token at every generation step
(for ``batch.logprobs`` / the logged ``entropy``; TRL's ``generate`` computes neither)
and a value head it does not use; with tiny-shop's 2,195-token vocabulary that is ~0.14 ms
per step for 16 rows, < 1% of an update. Both sides compute the entropy again in the
training forward (TRL for its ``entropy`` metric, ours for ``ent_coef``, 0 here). TRL's
loss sums the token log-probs per sequence and averages over sequences, ours averages over
tokens (the same direction; Adam makes the scale mostly moot). The sampling streams
differ, so completions differ.

Rounds (``benchmarks.perf.rounds``): after a warm-up round of 2 updates per side, each of
``--rounds`` rounds runs ours (a fresh agent, seed = round) for ``--updates`` updates, then TRL
(a fresh trainer) for as many on the prompts ours drew in that round: A B A B in one process,
so load that lands on one round moves that round's ratio only. Printed: the settings of both
sides, one line each (``CANNOT MATCH`` where a library's design differs), the machine, tokens/s
(generated completion tokens over the whole update: generation + reward + gradient step) per
round and its median, the median time per update and completion length (tokens/s moves with
it: both sides step until every row has stopped), the first update's reward (same prompts,
same weights: the two should start level), and the median ratio ours / TRL over rounds with
its min-max. ``--dtype bfloat16`` runs both sides in bf16 (ours ``dtype="bfloat16"``, TRL
``bf16=True``: autocast with fp32 master weights on both). Measured figures: docs/results.md.

TRL ``PPOTrainer``: TRL 1.x ships none (not in ``trl`` nor ``trl.experimental``); the
script checks and says so.

**Classic RL (SB3)** — our ``PPO`` and ``A2C`` vs SB3's on ``CartPole-v1`` and
``lm_envs/ProductRecommendation-v0``: same ``n_envs``, rollout length, minibatch, epochs,
learning rate, GAE, clip, coefficients and 64-64 tanh MLPs (SB3's ``MlpPolicy`` /
``MultiInputPolicy`` defaults); A2C uses both libraries' defaults (5 steps, RMSprop, 7e-4).
Each pair runs once per seed in ``--seeds`` (the agent/model seed and the training envs'
seed). Figures: env steps/s of ``learn`` (median over seeds) and the mean return of
``--eval-episodes`` deterministic evaluation episodes after an equal number of steps
(mean ± sample std over seeds).

Ratios are ours / theirs (for wall time: theirs / ours, so > 1 means ours is better).
Goals: >= 2x TRL's tokens/s, in fp32 and in bf16; >= SB3's steps/s with equal or better return.

    python -m benchmarks.perf peers --skip-sb3                     # TRL, fp32, 3 rounds
    python -m benchmarks.perf peers --skip-sb3 --dtype bfloat16
    python -m benchmarks.perf peers --skip-trl --classic-steps 4096 --seeds 0 1
"""

from __future__ import annotations

import argparse
import importlib.util
import tempfile
import time
from collections import defaultdict
from typing import Any

import gymnasium as gym
import numpy as np
import torch

import lm_envs  # noqa: F401  (registers the ids)
from benchmarks.perf import rounds

TEXT_ID = "lm_envs/TextGeneration-v1"
REWARD = {"sentiment": 1.0}
# SB3's PPO/A2C cannot mask actions; with "skip" a masked item is shown as nothing instead of
# raising. Both sides get the same env (ours still masks, so the option never fires for ours).
CLASSIC_ENV_KWARGS = {"lm_envs/ProductRecommendation-v0": {"masked_action": "skip"}}

Prompt = tuple[str, dict[str, Any]]  # prompt text and its task fields (the reward's kwargs)
KL_COEF = 0.0  # our kl_coef and TRL's beta
REFERENCES = ("fp32", "bf16", "none")  # agents' ``reference`` options
GOAL_TRL = 2.0  # ours / TRL tokens/s, in fp32 and in bf16


def our_reference(args: argparse.Namespace) -> str:
    """``--our-reference`` if given, else ``"none"`` when the KL coefficient is 0 (TRL with
    ``beta = 0`` loads no reference model either) and ``"fp32"`` otherwise."""
    chosen = getattr(args, "our_reference", None)
    return chosen if chosen is not None else ("none" if KL_COEF == 0 else "fp32")


# ---------------------------------------------------------------------------------------
# LM: our REINFORCE (RLOO) vs TRL's RLOOTrainer
# ---------------------------------------------------------------------------------------


def run_ours_rloo(
    args: argparse.Namespace, *, seed: int = 0, updates: int | None = None
) -> tuple[list[dict[str, float]], list[Prompt]]:
    """One row per update (end time since start, seconds, completion tokens, reward) and
    the prompts the updates drew, one per RLOO group, in order."""
    from agents import REINFORCE, REINFORCEConfig

    updates = args.updates if updates is None else updates
    config = REINFORCEConfig(
        num_envs=args.batch, group_size=args.group, learning_rate=args.lr, gamma=1.0, baseline="rloo",
        kl_coef=KL_COEF, reference=our_reference(args), dtype=getattr(args, "dtype", "float32"),
    )  # fmt: skip
    agent = REINFORCE(
        TEXT_ID, policy="tiny-shop", config=config, seed=seed,
        env_kwargs={"reward": REWARD, "max_new_tokens": args.max_new_tokens}, device=getattr(args, "device", "cpu"),
    )  # fmt: skip
    prompts: list[Prompt] = []
    collect = agent.rollout.collect_episodes

    def recording_collect(**kwargs: Any) -> Any:
        batch, episodes = collect(**kwargs)
        for g in range(0, len(episodes), args.group):
            group = episodes[g : g + args.group]
            if len({e.prompt for e in group}) != 1:
                raise RuntimeError(f"an RLOO group of ours answered different prompts: {[e.prompt for e in group]}")
            prompts.append((str(group[0].prompt), dict(group[0].info.get("task", {}))))
        return batch, episodes

    agent.rollout.collect_episodes = recording_collect  # type: ignore[method-assign]
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
        return agent_.num_updates < updates

    agent.learn(10**12, callback=callback)
    return rows, prompts


def run_trl_rloo(
    args: argparse.Namespace, prompts: list[Prompt], *, seed: int = 0, updates: int | None = None
) -> tuple[list[dict[str, float]], list[Prompt]]:
    """TRL's RLOOTrainer on ``prompts`` in order (each repeated ``args.group`` times).

    Returns one row per update and the prompts its reward function received, one per group."""
    from datasets import Dataset
    from transformers import PrinterCallback, TrainerCallback
    from trl import RLOOConfig, RLOOTrainer

    from lm_envs.models import load_policy, load_tokenizer, special_token_ids
    from lm_envs.rewards import make_reward

    updates = args.updates if updates is None else updates
    rows: list[dict[str, float]] = []
    received: list[Prompt] = []
    reward_fn = make_reward(REWARD)
    field_names = sorted({name for _, fields in prompts for name in fields})

    def reward(prompts: list[str], completions: list[str], **kwargs: Any) -> list[float]:
        # only the task fields, as the env passes them (TRL adds completion_ids, trainer_state, ...)
        fields = {name: kwargs[name] for name in field_names}
        for g in range(0, len(prompts), args.group):
            received.append((prompts[g], {name: fields[name][g] for name in field_names}))
        return reward_fn(prompts, completions, **fields)

    reward.__name__ = reward_fn.__name__  # TRL logs "rewards/<name>"

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
        tokenizer = load_tokenizer("tiny-shop")
        model = load_policy("tiny-shop")
        special = special_token_ids(tokenizer)
        # the env ends an episode at EOS or at the end-of-turn token; make generate stop at both
        model.generation_config.eos_token_id = sorted({special["eos"], special["eot"]})
        model.save_pretrained(model_dir)
        tokenizer.save_pretrained(model_dir)
        columns: dict[str, list[Any]] = {"prompt": [p for p, _ in prompts]}
        columns.update({name: [fields.get(name) for _, fields in prompts] for name in field_names})
        config = RLOOConfig(
            output_dir=out_dir,
            per_device_train_batch_size=args.batch,
            num_generations=args.group,
            steps_per_generation=1,
            num_iterations=1,
            shuffle_dataset=False,  # our prompt order
            max_completion_length=args.max_new_tokens,
            learning_rate=args.lr,
            lr_scheduler_type="constant",
            adam_epsilon=1e-5,  # as our Adam
            weight_decay=0.0,
            max_grad_norm=0.5,
            beta=KL_COEF,
            temperature=1.0,
            top_p=1.0,
            top_k=0,
            max_steps=updates,
            logging_steps=1,
            save_strategy="no",
            report_to="none",
            use_cpu=our_device(args).type == "cpu",
            bf16=getattr(args, "dtype", "float32") == "bfloat16",  # accelerate's autocast, fp32 master weights: as ours
            gradient_checkpointing=args.trl_gradient_checkpointing,
            seed=seed,
            dataloader_num_workers=0,
            disable_tqdm=True,
        )
        trainer = RLOOTrainer(
            model=model_dir,
            reward_funcs=reward,
            args=config,
            train_dataset=Dataset.from_dict(columns),
            processing_class=tokenizer,
            callbacks=[Timer()],
        )
        trainer.remove_callback(PrinterCallback)  # its per-step log dicts would bury the table
        trainer.train()
    return rows, received


def summarize(rows: list[dict[str, float]], batch: int) -> dict[str, float]:
    tokens = sum(r.get("tokens", 0.0) for r in rows)
    seconds = sum(r["seconds"] for r in rows)
    return {
        "tokens_per_s": tokens / seconds,
        "update_s": float(np.median([r["seconds"] for r in rows])),
        "total_s": rows[-1]["t"],
        "mean_len": tokens / max(1, sum(1 for r in rows if "tokens" in r)) / batch,
    }


def same_prompts(ours: list[Prompt], theirs: list[Prompt], group: int) -> str:
    """``"yes (...)"`` when TRL's reward saw our prompts and task fields in our order."""
    if len(theirs) < len(ours):
        return f"NO: TRL scored {len(theirs)} groups, ours {len(ours)}"
    for i, (a, b) in enumerate(zip(ours, theirs)):
        if a[0] != b[0] or {k: v for k, v in a[1].items() if k in b[1]} != b[1]:
            return f"NO: group {i} differs ({a[0]!r} vs {b[0]!r})"
    return f"yes ({len(ours)} prompts x {group}, task fields {', '.join(sorted(ours[0][1])) if ours else '-'})"


def check_prompt_tokens(prompts: list[Prompt], max_new_tokens: int) -> str:
    """Our env's prompt token ids vs what TRL's tokenizer call gives (must be identical)."""
    from lm_envs.core import Task

    env = gym.make(TEXT_ID, reward=REWARD, max_new_tokens=max_new_tokens).unwrapped
    tokenizer = env.tokenizer
    texts = sorted({p for p, _ in prompts})
    bad = [t for t in texts if list(env.encode_prompt(Task(t))) != tokenizer(text=t)["input_ids"]]
    return "identical" if not bad else f"DIFFER for {len(bad)} of {len(texts)} prompts (e.g. {bad[0]!r})"


def our_device(args: argparse.Namespace) -> torch.device:
    from agents.options import resolve_device

    return resolve_device(getattr(args, "device", "cpu"))


def settings_table(args: argparse.Namespace, trl_version: str) -> list[tuple[str, str, str]]:
    """(setting, ours, TRL) for every setting of the comparison; where TRL's differs by
    design of the library, its cell says so."""
    from lm_envs.models import load_tokenizer, special_token_ids

    special = special_token_ids(load_tokenizer("tiny-shop"))
    stops = f"eos {special['eos']}, end-of-turn {special['eot']}"
    precision = ("bf16 autocast, fp32 weights and Adam" if args.dtype == "bfloat16" else "fp32")
    same = "same"
    return [
        ("model", "tiny-shop (the same weights)", same),
        ("device / precision", f"{our_device(args)} / {precision}", f"{same} (bf16={args.dtype == 'bfloat16'}, accelerate autocast)"),
        ("prompts", "TextGeneration-v1's, drawn per RLOO group", "ours, in our order (shuffle_dataset=False)"),
        ("reward", f"{REWARD} (make_reward)", same + " (the same object)"),
        ("batch / group", f"{args.batch} completions, {args.batch // args.group} prompts x {args.group}", same),
        ("completion length", f"<= {args.max_new_tokens} new tokens", same),
        ("stop tokens", stops, same + " (generation_config.eos_token_id)"),
        ("sampling", "temperature 1, no top-k/top-p", same),
        ("optimizer", f"Adam lr {args.lr} constant, eps 1e-5, no weight decay, grad-norm clip 0.5", same),
        ("steps per batch", "1 Adam step per generation", same + " (num_iterations 1, steps_per_generation 1)"),
        ("KL", f"kl_coef {KL_COEF:g}, reference {our_reference(args)}", f"beta {KL_COEF:g} (loads no reference)"),
        ("gradient checkpointing", "off", "on" if args.trl_gradient_checkpointing else "off (TRL's default is on)"),
        ("update forward", "packed rows (padding only at row ends), each group's prompt once",
         "CANNOT MATCH: right-padded batch, the prompt once per completion"),
        ("generation", "Gymnasium vector env, token by token, KV cache", "CANNOT MATCH: model.generate, no env"),
        ("loss aggregation", "mean over tokens", "CANNOT MATCH: per-sequence sum, mean over sequences"),
        ("extra forwards", "none (reference none)" if our_reference(args) == "none" else "reference scoring",
         "CANNOT MATCH: a no-grad old_logps forward"),
        ("sampling streams", "torch.Generator on the device", "CANNOT MATCH: global RNG (completions differ)"),
        ("updates per round", f"{args.updates}", same),
        ("torch threads", f"{torch.get_num_threads()}", same + " (one process)"),
        ("library", "lm-envs agents.REINFORCE (baseline rloo)", f"TRL {trl_version} RLOOTrainer"),
    ]


def compare_trl(args: argparse.Namespace) -> None:
    print(
        f"\n== LM: our REINFORCE (RLOO) vs TRL RLOOTrainer — tiny-shop, batch {args.batch}, "
        f"<= {args.max_new_tokens} new tokens, {args.dtype}, TRL gradient checkpointing "
        f"{'on' if args.trl_gradient_checkpointing else 'off'}, KL coefficient {KL_COEF:g} (TRL beta), "
        f"our reference {our_reference(args)}, {args.rounds} alternating rounds of {args.updates} updates per side"
    )
    print(rounds.machine_line(dtype=args.dtype, device=our_device(args)))
    if importlib.util.find_spec("trl") is None:
        print("TRL is not installed (pip install -e '.[trl]'); skipped")
        return
    import trl

    print(f"  {'setting':<24} {'ours':<58} TRL")
    for name, a, b in settings_table(args, trl.__version__):
        print(f"  {name:<24} {a:<58} {b}")
    # Each round: ours (fresh agent, seed = round) then TRL (fresh trainer) on the prompts ours
    # drew in that round; TRL needs ours' prompts first, so the order stays A B A B. Setup
    # (model load, trainer construction) is outside the timed updates on both sides.
    per_round: dict[int, dict[str, Any]] = defaultdict(dict)

    def ours_side(r: int) -> float:
        torch.manual_seed(max(r, 0))
        rows, prompts = run_ours_rloo(args, seed=max(r, 0), updates=2 if r < 0 else None)
        per_round[r].update(ours_rows=rows, prompts=prompts)
        return summarize(rows, args.batch)["tokens_per_s"]

    def trl_side(r: int) -> float:
        torch.manual_seed(max(r, 0))
        rows, received = run_trl_rloo(args, per_round[r]["prompts"], seed=max(r, 0), updates=2 if r < 0 else None)
        per_round[r].update(trl_rows=rows, received=received)
        return summarize(rows, args.batch)["tokens_per_s"]

    rates = rounds.alternate({"ours": ours_side, "trl": trl_side}, args.rounds, flip=False)
    measured = [per_round[r] for r in range(args.rounds)]
    checks = [same_prompts(m["prompts"], m["received"], args.group) for m in measured]
    bad = [c for c in checks if not c.startswith("yes")]
    all_prompts = [p for m in measured for p in m["prompts"]]
    print(f"same prompts, same order: {bad[0] if bad else checks[0] + f' in each of {len(checks)} rounds'}; "
          f"prompt token ids: {check_prompt_tokens(all_prompts, args.max_new_tokens)}")
    # tokens/s counts completion tokens, so it also moves with the completion length each policy learns
    print(f"{'':<30} {'tokens/s':>10} {'s/update':>9} {'mean len':>9} {'first reward':>13}   tokens/s per round")
    for name, key, side in (("ours REINFORCE-RLOO", "ours_rows", "ours"), (f"TRL {trl.__version__} RLOOTrainer", "trl_rows", "trl")):
        sums = [summarize(m[key], args.batch) for m in measured]
        first = [m[key][0].get("reward", float("nan")) for m in measured]
        print(
            f"{name:<30} {np.median(rates[side]):>10,.0f} {np.median([x['update_s'] for x in sums]):>9.2f} "
            f"{np.median([x['mean_len'] for x in sums]):>9.1f} {np.nanmean(first):>13.3f}   "
            + ", ".join(f"{x:,.0f}" for x in rates[side])
        )
    print(rounds.ratio_line("ratio ours / TRL, tokens/s", rates["ours"], rates["trl"], goal=GOAL_TRL))
    upd_ours = [float(np.median([row["seconds"] for row in m["ours_rows"]])) for m in measured]
    upd_trl = [float(np.median([row["seconds"] for row in m["trl_rows"]])) for m in measured]
    print(rounds.ratio_line("time per update TRL / ours", upd_trl, upd_ours))
    has_ppo = hasattr(trl, "PPOTrainer") or importlib.util.find_spec("trl.experimental.ppo") is not None
    print(
        "TRL PPOTrainer: "
        + ("present but not compared here" if has_ppo else f"not shipped by TRL {trl.__version__} (no trl.PPOTrainer, no trl.experimental.ppo); our PPO has no TRL peer")
    )


# ---------------------------------------------------------------------------------------
# classic RL: our PPO / A2C vs SB3's
# ---------------------------------------------------------------------------------------


def _ours(algo: str, env_id: str, args: argparse.Namespace, seed: int) -> tuple[float, float]:
    from agents import A2C, PPO, A2CConfig, PPOConfig

    if algo == "PPO":
        cfg: Any = PPOConfig(num_envs=8, n_steps=128, minibatch_size=256, update_epochs=4, learning_rate=2.5e-4)
        agent: Any = PPO(env_id, config=cfg, seed=seed, env_kwargs=CLASSIC_ENV_KWARGS.get(env_id), device=our_device(args))
    else:
        agent = A2C(env_id, config=A2CConfig(num_envs=8), seed=seed, env_kwargs=CLASSIC_ENV_KWARGS.get(env_id),
                    device=our_device(args))  # fmt: skip
    start = time.perf_counter()
    agent.learn(args.classic_steps)
    rate = agent.num_timesteps / (time.perf_counter() - start)
    return rate, float(agent.evaluate(args.eval_episodes, deterministic=True, seed=1000 + seed)["reward_mean"])


def _sb3(algo: str, env_id: str, args: argparse.Namespace, seed: int) -> tuple[float, float]:
    from stable_baselines3 import A2C, PPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy

    # SB3 defaults render_mode to "rgb_array", which the recommender does not offer
    env_kwargs = {"render_mode": None, **CLASSIC_ENV_KWARGS.get(env_id, {})}
    env = make_vec_env(env_id, n_envs=8, seed=seed, env_kwargs=env_kwargs)
    policy = "MultiInputPolicy" if isinstance(env.observation_space, gym.spaces.Dict) else "MlpPolicy"
    if algo == "PPO":
        # CleanRL/our defaults: 8 x 128 steps, minibatch 256, 4 epochs, lr 2.5e-4 annealed
        model: Any = PPO(
            policy, env, n_steps=128, batch_size=256, n_epochs=4, learning_rate=lambda f: 2.5e-4 * f,
            gae_lambda=0.95, clip_range=0.2, ent_coef=0.0, vf_coef=0.5, max_grad_norm=0.5, seed=seed,
            device=our_device(args),
        )  # fmt: skip
    else:
        model = A2C(policy, env, seed=seed, device=our_device(args))  # 5 steps, RMSprop, 7e-4: as our A2CConfig
    start = time.perf_counter()
    model.learn(args.classic_steps)
    rate = model.num_timesteps / (time.perf_counter() - start)
    eval_env = make_vec_env(env_id, n_envs=1, seed=1000 + seed, env_kwargs=env_kwargs)
    mean, _ = evaluate_policy(model, eval_env, n_eval_episodes=args.eval_episodes, deterministic=True)
    return rate, float(mean)


def _spread(values: list[float]) -> str:
    sd = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    return f"{np.mean(values):.3g} ± {sd:.2g}"  # 3 significant digits: CartPole ~100s, the recommender ~1


def compare_sb3(args: argparse.Namespace) -> None:
    import stable_baselines3

    seeds = list(args.seeds)
    print(
        f"\n== classic RL: ours vs stable-baselines3 {stable_baselines3.__version__} — {args.classic_steps:,} steps, "
        f"8 envs, seeds {', '.join(map(str, seeds))} (agent and env seed; eval env seed 1000 + seed), "
        f"{args.eval_episodes} deterministic eval episodes, {torch.get_num_threads()} torch threads"
    )
    print(rounds.machine_line(dtype="float32", device=our_device(args)))
    print("a round per seed, the sides alternating; steps/s: median over rounds; ratio: median of per-round ours / SB3 "
          "(min-max); return: mean ± sd over seeds; per-seed returns ours | SB3")
    print(
        f"{'env':<34} {'algo':<4} {'ours steps/s':>12} {'SB3 steps/s':>12} {'ratio':>6} {'min-max':>9} "
        f"{'ours return':>14} {'SB3 return':>14}"
    )
    for env_id in args.classic_envs:
        for algo in ("PPO", "A2C"):
            o_rets: list[float] = []
            s_rets: list[float] = []

            def ours_side(r: int, env_id: str = env_id, algo: str = algo, o_rets: list[float] = o_rets) -> float:
                torch.manual_seed(seeds[r])
                rate, ret = _ours(algo, env_id, args, seeds[r])
                o_rets.append(ret)
                return rate

            def sb3_side(r: int, env_id: str = env_id, algo: str = algo, s_rets: list[float] = s_rets) -> float:
                torch.manual_seed(seeds[r])
                rate, ret = _sb3(algo, env_id, args, seeds[r])
                s_rets.append(ret)
                return rate

            # one round per seed, the two sides alternating (which goes first flips each round)
            rates = rounds.alternate({"ours": ours_side, "sb3": sb3_side}, len(seeds), warmup=False)
            o_rate, s_rate = float(np.median(rates["ours"])), float(np.median(rates["sb3"]))
            m, lo, hi = rounds.ratio(rates["ours"], rates["sb3"])
            verdict = "met" if m >= 1.0 and np.mean(o_rets) >= np.mean(s_rets) else "NOT met"
            per_seed = " ".join(f"{a:.3g}" for a in o_rets) + " | " + " ".join(f"{b:.3g}" for b in s_rets)
            print(
                f"{env_id:<34} {algo:<4} {o_rate:>12,.0f} {s_rate:>12,.0f} {m:>6.2f} {f'{lo:.2f}-{hi:.2f}':>9} "
                f"{_spread(o_rets):>14} {_spread(s_rets):>14}  goal {verdict}  ({per_seed})",
                flush=True,
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.perf peers", description=__doc__)
    parser.add_argument("--batch", type=int, default=16, help="completions per update")
    parser.add_argument("--group", type=int, default=4, help="completions per prompt (RLOO k)")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--updates", type=int, default=8, help="timed updates per side per round")
    parser.add_argument("--lr", type=float, default=2e-5)
    parser.add_argument("--classic-steps", type=int, default=20_480)
    parser.add_argument("--classic-envs", nargs="+", default=["CartPole-v1", "lm_envs/ProductRecommendation-v0"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="classic RL seeds (one alternating round each)")
    parser.add_argument("--eval-episodes", type=int, default=20)
    rounds.add_arguments(parser, dtype=True)
    parser.add_argument("--trl-gradient-checkpointing", action="store_true", help="TRL's default; off: the same work as ours")
    parser.add_argument(
        "--our-reference", choices=REFERENCES, default=None,
        help="our agent's frozen reference model; default: 'none' when the KL coefficient is 0, as TRL with beta 0 "
        "loads none ('fp32' restores the one our LM agents carry by default to log kl_ref)",
    )  # fmt: skip
    parser.add_argument("--skip-trl", action="store_true")
    parser.add_argument("--skip-sb3", action="store_true")
    args = parser.parse_args(argv)
    if args.batch % args.group:
        parser.error(f"--group must divide --batch; got {args.group} and {args.batch}")
    rounds.setup(args)
    if not args.skip_trl:
        compare_trl(args)
    if not args.skip_sb3:
        compare_sb3(args)
    return 0
