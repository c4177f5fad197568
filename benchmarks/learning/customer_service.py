"""Customer-service baselines: the reference oracle, tiny-shop before and after PPO, SmolLM2 zero-shot.

    python -m benchmarks.learning customer_service                 # PPO seeds 0 1 2
    python -m benchmarks.learning customer_service --workers 2     # two seeds at a time
    python -m benchmarks.learning customer_service --seeds 0 --ppo-steps 20000 --policies oracle untrained ppo
    python -m benchmarks.learning customer_service --tiny-shop runs/tiny_shop_r8 \
        --intents order_total delivery_date product_price shipping_fee track_order --no-dialog

| row | policy | QA env | dialog env |
|---|---|---|---|
| ``oracle`` | writes the reference answer / `lm_envs.sim.customer.oracle_turn` | tiny-shop | tiny-shop |
| ``untrained`` | ``tiny-shop-reader`` as pretrained (shop text and reading exercises, no shop answers) | tiny-shop | tiny-shop |
| ``smollm2`` | SmolLM2-135M-Instruct zero-shot, greedy, chat template | smollm2-135m | smollm2-135m |
| ``ppo`` | ``tiny-shop-reader`` after ``agents.PPO`` on the QA env (one run per seed) | tiny-shop | - |

Every policy is scored on the same evaluation episodes (env seed 10_000) with each env's
default reward: QA ``{"facts": 1.0, "similarity": 0.3, "length": 0.1}``, dialog (``-v1``)
``{"outcome": 1.0, "turns": -0.05, "wrong_facts": -0.25}`` with a budget-cut dialog counted
as a failure (-1). *Fact accuracy* is the mean
fraction of an answer's required facts that it states (``info["fact_check"]["recall"]``);
the ``facts`` term also subtracts contradicted facts. *Success* is the dialog success rate.
tiny-shop is evaluated by sampling (temperature 1, the distribution PPO trains) and
greedily; SmolLM2 greedily. The PPO gain is the per-seed difference in sampled fact
accuracy to the untrained policy, with a percentile-bootstrap CI over the seeds
(``benchmarks.stats.bootstrap_ci``).

PPO trains on the QA env with its default reward (``agents.PPO`` with the table's settings for
``tiny-shop-reader`` on this env, :func:`ppo_config`: the group baseline, learning rate 5e-5,
no KL term), on answers cut at ``TRAIN_ANSWER_TOKENS`` (20)
tokens, for ``PPO_STEPS`` env steps: about 9 CPU minutes per seed (one torch thread; ``--workers``
runs seeds side by side). Evaluation answers get the env's default budget (48 tokens).

For experiments (the table then says which setting is not the default): ``--advantage gae``
trains with a value head instead of the group baseline, ``--learning-rate``, ``--kl-coef``
(a reference model is scored when it is > 0) and ``--train-answer-tokens N`` override the
table's settings and ``TRAIN_ANSWER_TOKENS``, ``--tiny-shop``
swaps in another pretrained tiny-shop (``tiny-shop``, or a folder written by
``python -m lm_envs.models.pretrain``; its tokenizer goes to the envs), and ``--intents``
restricts the QA env (training and evaluation) to some intents.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.learning import (
    add_device_option,
    add_dtype_option,
    add_tiny_shop_option,
    check_device_option,
    check_tiny_shop,
    tiny_shop_env_kwargs,
)
from benchmarks.results import atomic_save_figure, atomic_write_text

QA_ID = "lm_envs/CustomerServiceQA-v0"
DIALOG_ID = "lm_envs/CustomerServiceDialog-v1"  # v1: a budget-cut dialog is a failure
POLICIES = ("oracle", "untrained", "smollm2", "ppo")
EVAL_SEED = 10_000
NUM_ENVS = 16  # rows of the evaluation envs
TINY_SHOP = "tiny-shop-reader"
"""The policy of the untrained and PPO rows: tiny-shop pretrained longer on reading exercises
(same tokenizer as ``"tiny-shop"``, the envs' default); ``--tiny-shop`` swaps in another."""


def ppo_config() -> Any:
    """PPO's settings: the table's entry for ``tiny-shop-reader`` on the QA env
    (``agents/hyperparams/ppo.yml``, where the reasons for each are noted), whichever model
    ``--tiny-shop`` names, so that the rows compare models under one setting."""
    from agents.hyperparams import resolve

    return resolve("ppo", QA_ID, TINY_SHOP).config


TRAIN_ANSWER_TOKENS = 20
"""QA answer budget while PPO trains (the env's default, 48, for evaluation). A good answer
states its facts first, and a round of 16 answers lasts as long as its longest one, which
nearly always runs to the budget: cut at 20 tokens, the same env steps play 2.2x the answers
(192 against 88 updates per 61,440 steps) in half the CPU time (6 against 12 minutes)."""
PPO_STEPS = 122_880
"""QA env steps (16 rows x answer tokens) per PPO run: 8.6 CPU minutes per seed with one thread."""


# ---------------------------------------------------------------------------- evaluation
def _summary(infos: list[dict[str, Any]], returns: list[float]) -> dict[str, Any]:
    out: dict[str, Any] = {"episodes": len(returns), "reward": float(np.mean(returns))}
    if infos and "fact_check" in infos[0]:
        out["fact_accuracy"] = float(np.mean([i["fact_check"]["recall"] for i in infos]))
        out["facts"] = float(np.mean([i["reward_terms"]["facts"] for i in infos]))
        out["wrong_rate"] = float(np.mean([bool(i["fact_check"]["wrong"]) for i in infos]))
        intents = sorted({i["task"]["intent"] for i in infos if "task" in i})
        out["fact_accuracy_by_intent"] = {  # where the gain is, or is not
            name: float(np.mean([i["fact_check"]["recall"] for i in infos if i["task"]["intent"] == name]))
            for name in intents}
    if infos and "success" in infos[0]:
        out["success_rate"] = float(np.mean([bool(i["success"]) for i in infos]))
    return out


def _scripted(env_id: str, n: int, env_kwargs: dict[str, Any]) -> dict[str, Any]:
    """The oracle: each row writes the reference answer (QA) or `oracle_turn` (dialog), then EOS/EOT."""
    import gymnasium as gym

    import lm_envs  # noqa: F401
    from agents.evaluation import evaluate_policy
    from lm_envs.sim.customer import oracle_turn

    venv: Any = gym.make_vec(env_id, num_envs=NUM_ENVS, vectorization_mode="vector_entry_point", **env_kwargs)
    env, dialog = venv.env, env_id == DIALOG_ID
    queues: list[list[int]] = [[] for _ in range(NUM_ENVS)]  # each row's tokens still to write

    def act(obs: Any, new_episode: np.ndarray, info: dict[str, Any]) -> np.ndarray:
        actions = []
        for row in range(NUM_ENVS):
            if new_episode[row]:
                queues[row] = []
            if not queues[row]:
                if dialog:
                    customer = venv.states[row].customer
                    text, stop = " " + oracle_turn(customer.goal, customer.revealed), env.eot_token_id
                else:
                    text, stop = " " + venv.tasks[row].fields["references"][0], env.eos_token_id
                queues[row] = env.tokenizer.encode(text, add_special_tokens=False)[: env.max_new_tokens - 1] + [stop]
            actions.append(queues[row].pop(0))
        return np.array(actions)

    episodes = evaluate_policy(venv, act, n, seed=EVAL_SEED)
    venv.close()
    return _summary([e.info for e in episodes], [e.episode_return for e in episodes])


def _lm(env_id: str, n: int, policy: Any, env_kwargs: dict[str, Any], *, greedy: bool, seed: int) -> dict[str, Any]:
    """Episodes of an `LMActorCritic` acting through its KV cache (`agents.ActorPolicy`)."""
    from agents.actors import ActorPolicy
    from agents.envs import make_vector_env
    from agents.evaluation import evaluate_policy

    env = make_vector_env(env_id, num_envs=NUM_ENVS, env_kwargs=env_kwargs)
    act = ActorPolicy(policy, env, generator=torch.Generator(device=policy.device).manual_seed(seed), deterministic=greedy)
    with torch.no_grad():
        episodes = evaluate_policy(env, act, n, seed=EVAL_SEED)
    env.close()
    summary = _summary([e.info for e in episodes], [e.episode_return for e in episodes])
    return summary | {"answer_tokens": float(np.mean([e.length for e in episodes]))}


def _policy(name: str, device: str = "cpu") -> Any:
    from agents.policies import LMActorCritic
    from lm_envs.models import load_policy

    return LMActorCritic(load_policy(name)).to(device)


# -------------------------------------------------------------------------------- runs
def qa_kwargs(tiny_shop: str, intents: list[str] | None) -> dict[str, Any]:
    """QA env kwargs for a tiny-shop variant (its tokenizer) and an intent subset."""
    return tiny_shop_env_kwargs(tiny_shop) | ({} if intents is None else {"intents": intents})


def run_baselines(policies: list[str], n: int, dialog: bool, tiny_shop: str = TINY_SHOP,
                  intents: list[str] | None = None, device: str = "cpu") -> dict[str, dict[str, Any]]:
    envs = [("qa", QA_ID)] + ([("dialog", DIALOG_ID)] if dialog else [])
    tiny_kwargs = {"qa": qa_kwargs(tiny_shop, intents), "dialog": qa_kwargs(tiny_shop, None)}
    out: dict[str, dict[str, Any]] = {}
    for name in policies:
        if name == "ppo":
            continue
        start = time.perf_counter()
        results: dict[str, Any] = {}
        for key, env_id in envs:
            if name == "oracle":
                results[key] = _scripted(env_id, n, tiny_kwargs[key])
            elif name == "untrained":
                policy = _policy(tiny_shop, device)
                results[key] = _lm(env_id, n, policy, tiny_kwargs[key], greedy=False, seed=EVAL_SEED)
                results[key + "_greedy"] = _lm(env_id, n, policy, tiny_kwargs[key], greedy=True, seed=EVAL_SEED)
            elif name == "smollm2":
                kwargs = ({"tokenizer": "smollm2-135m"} | ({"chat_template": True} if key == "qa" else {})
                          | ({"intents": intents} if key == "qa" and intents is not None else {}))
                results[key + "_greedy"] = _lm(env_id, n, _policy("smollm2-135m", device), kwargs, greedy=True, seed=EVAL_SEED)
        results["seconds"] = time.perf_counter() - start
        out[name] = results
        print(f"{name}: {json.dumps(_round(results))}", flush=True)
    return out


def run_ppo(seed: int, steps: int, n: int, tiny_shop: str = TINY_SHOP, intents: list[str] | None = None,
            advantage: str | None = None, learning_rate: float | None = None,
            train_answer_tokens: int | None = TRAIN_ANSWER_TOKENS, kl_coef: float | None = None,
            device: str = "cpu", dtype: str | None = None) -> dict[str, Any]:
    from agents import PPO

    torch.manual_seed(seed)
    env_kwargs = qa_kwargs(tiny_shop, intents)
    # A shorter answer budget in training only (None: the env's default); evaluation keeps the default.
    train_kwargs = env_kwargs | ({} if train_answer_tokens is None else {"max_new_tokens": train_answer_tokens})
    config = dataclasses.replace(ppo_config(), **(({} if advantage is None else {"advantage": advantage})
                                                 | ({} if learning_rate is None else {"learning_rate": learning_rate})
                                                 | ({} if kl_coef is None else {"kl_coef": kl_coef,
                                                                                "reference": "fp32" if kl_coef else "none"})
                                                 | ({} if dtype is None else {"dtype": dtype})))
    agent = PPO(QA_ID, policy=tiny_shop, config=config, seed=seed, env_kwargs=train_kwargs, device=device)
    start = time.perf_counter()
    agent.learn(steps)
    seconds = time.perf_counter() - start
    result = {
        "seed": seed, "steps": agent.num_timesteps, "train_seconds": seconds,
        "qa": _lm(QA_ID, n, agent.policy, env_kwargs, greedy=False, seed=EVAL_SEED),
        "qa_greedy": _lm(QA_ID, n, agent.policy, env_kwargs, greedy=True, seed=EVAL_SEED),
        "curve": agent.metrics[["timesteps", "reward_mean", "episode_length"]].to_dict("list") if len(agent.metrics) else {},
    }
    print(f"ppo seed {seed}: {json.dumps(_round({k: v for k, v in result.items() if k != 'curve'}))}", flush=True)
    return result


def _init_worker(threads: int) -> None:
    torch.set_num_threads(threads)


def run_ppo_seeds(args: argparse.Namespace) -> list[dict[str, Any]]:
    """`run_ppo` for every seed, in ``args.workers`` processes (each with ``args.threads`` threads)."""
    from functools import partial

    run_seed = partial(run_ppo, steps=args.ppo_steps, n=args.eval_episodes, tiny_shop=args.tiny_shop,
                       intents=args.intents, advantage=args.advantage, learning_rate=args.learning_rate,
                       train_answer_tokens=args.train_answer_tokens, kl_coef=args.kl_coef, device=args.device,
                       dtype=args.dtype)
    if args.workers == 1 or len(args.seeds) <= 1:
        return [run_seed(seed) for seed in args.seeds]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("spawn")  # no forked torch thread pools
    with ProcessPoolExecutor(min(args.workers, len(args.seeds)), mp_context=context,
                             initializer=_init_worker, initargs=(args.threads,)) as pool:
        return list(pool.map(run_seed, args.seeds))


def _round(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _round(v) for k, v in value.items()}
    return round(value, 3) if isinstance(value, float) else value


# ------------------------------------------------------------------------------ report
def table(baselines: dict[str, dict[str, Any]], ppo: list[dict[str, Any]], args: argparse.Namespace) -> str:
    from benchmarks.stats import bootstrap_ci

    table_config = ppo_config()
    learning_rate = table_config.learning_rate if args.learning_rate is None else args.learning_rate
    kl_coef = table_config.kl_coef if args.kl_coef is None else args.kl_coef
    dtype = args.dtype or table_config.dtype
    defaults = (args.advantage, learning_rate, kl_coef, args.train_answer_tokens, dtype) == (
        table_config.advantage, table_config.learning_rate, table_config.kl_coef, TRAIN_ANSWER_TOKENS, table_config.dtype)

    def cell(result: dict[str, Any] | None, key: str) -> str:
        return "-" if result is None or key not in result else f"{result[key]:.3f}"

    lines = [
        f"CustomerService baselines: {args.eval_episodes} evaluation episodes per env (env seed {EVAL_SEED}), "
        f"default rewards of {QA_ID} and {DIALOG_ID}. Sampled = temperature 1; greedy = argmax.",
        f"tiny-shop = {args.tiny_shop}{'' if args.tiny_shop == TINY_SHOP else ' (not the benchmark default, ' + TINY_SHOP + ')'}; "
        f"PPO: advantage {args.advantage}, learning rate {learning_rate:g}, KL coefficient {kl_coef:g}, dtype {dtype}, "
        f"trained on answers of at most "
        f"{args.train_answer_tokens} tokens (evaluated on the env's default){'' if defaults else ' (not the benchmark defaults)'}.",
        *([f"QA intents: {' '.join(args.intents)} (not every intent)."] if args.intents is not None else []),
        "",
        "| policy | decoding | QA reward | QA facts | QA fact accuracy | dialog reward | dialog success |",
        "|---|---|---|---|---|---|---|",
    ]
    from lm_envs.models import MODELS

    model = args.tiny_shop if args.tiny_shop in MODELS else "tiny-shop"  # a folder: a tiny-shop variant
    labels = {"oracle": "reference oracle (upper bound)", "untrained": f"{model}, untrained",
              "smollm2": "SmolLM2-135M zero-shot"}
    for name, results in baselines.items():
        for suffix, decoding in (("", "sampled" if name != "oracle" else "scripted"), ("_greedy", "greedy")):
            qa, dialog = results.get("qa" + suffix), results.get("dialog" + suffix)
            if qa is None and dialog is None:
                continue
            lines.append(f"| {labels[name]} | {decoding} | {cell(qa, 'reward')} | {cell(qa, 'facts')} | "
                         f"{cell(qa, 'fact_accuracy')} | {cell(dialog, 'reward')} | {cell(dialog, 'success_rate')} |")
    for suffix, decoding in (("", "sampled"), ("_greedy", "greedy")):
        if not ppo:
            break
        rows = [r["qa" + suffix] for r in ppo]
        acc = [r["fact_accuracy"] for r in rows]
        point, low, high = bootstrap_ci(acc, statistic="mean")
        ci = f" [{low:.3f}, {high:.3f}]" if np.isfinite(low) else ""
        lines.append(
            f"| {model} + PPO ({len(ppo)} seeds) | {decoding} | {np.mean([r['reward'] for r in rows]):.3f} | "
            f"{np.mean([r['facts'] for r in rows]):.3f} | {point:.3f}{ci} | - | - |"
        )
    if ppo and "untrained" in baselines:
        base = baselines["untrained"]["qa"]["fact_accuracy"]
        gains = [r["qa"]["fact_accuracy"] - base for r in ppo]
        point, low, high = bootstrap_ci(gains, statistic="mean")
        minutes = np.mean([r["train_seconds"] for r in ppo]) / 60
        verdict = "PASS" if np.isfinite(low) and low >= 0.2 else ("pass (point estimate only)" if point >= 0.2 else "FAIL")
        lines += [
            "",
            f"PPO gain in sampled QA fact accuracy over the untrained policy: {point:+.3f} "
            f"(95% CI [{low:+.3f}, {high:+.3f}] over seeds {' '.join(str(r['seed']) for r in ppo)}; "
            f"per seed {', '.join(f'{g:+.3f}' for g in gains)}); {ppo[0]['steps']:,} env steps, "
            f"{minutes:.1f} CPU minutes per seed. Required: >= +0.2: {verdict}.",
        ]
    return "\n".join(lines)


def plot(results: dict[str, Any], path: Path) -> None:
    """Per-intent sampled fact accuracy (untrained, after PPO, SmolLM2) and PPO's training curves, as one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    baselines, ppo = results["baselines"], results["ppo"]
    rows: dict[str, dict[str, float]] = {}
    if "untrained" in baselines:
        rows["untrained (sampled)"] = baselines["untrained"]["qa"]["fact_accuracy_by_intent"]
    if ppo:
        intents = ppo[0]["qa"]["fact_accuracy_by_intent"]
        rows[f"PPO, mean of {len(ppo)} seeds (sampled)"] = {
            name: float(np.mean([r["qa"]["fact_accuracy_by_intent"][name] for r in ppo])) for name in intents}
    if "smollm2" in baselines:
        rows["SmolLM2 zero-shot (greedy)"] = baselines["smollm2"]["qa_greedy"]["fact_accuracy_by_intent"]
    fig, (bars, curves) = plt.subplots(1, 2, figsize=(13, 5.5), gridspec_kw={"width_ratios": [3, 2]})
    names = sorted(next(iter(rows.values()))) if rows else []
    height = 0.8 / max(len(rows), 1)
    for k, (label, by_intent) in enumerate(rows.items()):
        bars.barh(np.arange(len(names)) + k * height, [by_intent.get(n, np.nan) for n in names], height, label=label)
    bars.set_yticks(np.arange(len(names)) + height * (len(rows) - 1) / 2, names)
    bars.invert_yaxis()
    bars.set_xlabel("QA fact accuracy (share of required facts stated)")
    bars.set_xlim(0, 1)
    bars.legend(loc="lower right", fontsize="small")
    bars.set_title("CustomerServiceQA-v0, per intent")
    for run in ppo:
        curve = pd.DataFrame(run.get("curve") or {"timesteps": [], "reward_mean": []})
        smooth = curve["reward_mean"].rolling(16, min_periods=1).mean()  # one update is only 16 answers
        curves.plot(curve["timesteps"], smooth, label=f"seed {run['seed']}")
    curves.set_xlabel("training env steps (16 rows x answer tokens)")
    curves.set_ylabel("training reward, mean of the last 16 updates")
    curves.set_title("PPO on the QA env (training answers)")
    if ppo:
        curves.legend(fontsize="small")
    fig.tight_layout()
    atomic_save_figure(fig, path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.learning customer_service", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policies", nargs="+", default=list(POLICIES), choices=POLICIES)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="PPO seeds")
    parser.add_argument("--ppo-steps", type=int, default=PPO_STEPS, help="QA env steps (tokens) per PPO run")
    parser.add_argument("--eval-episodes", type=int, default=128)
    parser.add_argument("--no-dialog", action="store_true", help="skip the dialog env")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a shared CPU)")
    parser.add_argument("--workers", type=int, default=1, help="PPO seeds run in this many processes at once")
    add_device_option(parser)
    add_dtype_option(parser)
    add_tiny_shop_option(parser, f"a pretrained tiny-shop folder or built-in name for the untrained and PPO rows "
                                 f"(default: {TINY_SHOP})", default=TINY_SHOP)
    parser.add_argument("--intents", nargs="+", default=None, metavar="INTENT",
                        help="QA intents to train and evaluate on (default: all)")
    table_config = ppo_config()
    parser.add_argument("--advantage", choices=["gae", "rloo"], default=table_config.advantage,
                        help="PPO's advantage: GAE with a value head, or the RLOO group baseline (PPOConfig.advantage; "
                             f"default {table_config.advantage}, the hyperparameter table's)")
    parser.add_argument("--learning-rate", type=float, default=None,
                        help=f"PPO's learning rate (default {table_config.learning_rate:g}, the hyperparameter table's)")
    parser.add_argument("--kl-coef", type=float, default=None,
                        help=f"PPO's KL penalty to the pretrained policy (default {table_config.kl_coef:g}, "
                             "the hyperparameter table's)")
    parser.add_argument("--train-answer-tokens", type=int, default=TRAIN_ANSWER_TOKENS, metavar="N",
                        help=f"QA env max_new_tokens while PPO trains (default {TRAIN_ANSWER_TOKENS}); "
                             "evaluation keeps the env's default, 48")
    parser.add_argument("--out", type=Path, default=None, help="write results.json and table.md here")
    args = parser.parse_args(argv)
    if args.workers < 1 or args.threads < 1:
        parser.error(f"--workers and --threads must be >= 1, got {args.workers} and {args.threads}")
    if args.learning_rate is not None and not args.learning_rate > 0:
        parser.error(f"--learning-rate must be > 0, got {args.learning_rate}")
    if args.kl_coef is not None and not args.kl_coef >= 0:
        parser.error(f"--kl-coef must be >= 0, got {args.kl_coef}")
    if args.train_answer_tokens < 1:
        parser.error(f"--train-answer-tokens must be >= 1, got {args.train_answer_tokens}")
    if args.intents is not None:
        from lm_envs.world.support import INTENTS

        unknown = sorted(set(args.intents) - set(INTENTS))
        if unknown:
            parser.error(f"unknown --intents {', '.join(unknown)}; known: {', '.join(INTENTS)}")
    check_tiny_shop(parser, args.tiny_shop)
    check_device_option(parser, args.device)
    torch.set_num_threads(args.threads)

    baselines = run_baselines([p for p in args.policies if p != "ppo"], args.eval_episodes, not args.no_dialog,
                              args.tiny_shop, args.intents, args.device)
    ppo = run_ppo_seeds(args) if "ppo" in args.policies else []
    text = table(baselines, ppo, args)
    print()
    print(text)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        settings = {"tiny_shop": args.tiny_shop, "intents": args.intents, "advantage": args.advantage,
                    "learning_rate": table_config.learning_rate if args.learning_rate is None else args.learning_rate,
                    "kl_coef": table_config.kl_coef if args.kl_coef is None else args.kl_coef,
                    "train_answer_tokens": args.train_answer_tokens, "ppo_steps": args.ppo_steps,
                    "dtype": args.dtype or table_config.dtype}
        atomic_write_text(args.out / "results.json",
                          json.dumps(settings | {"baselines": baselines, "ppo": ppo}, indent=1, default=float))
        atomic_write_text(args.out / "table.md", text + "\n")
        plot(json.loads((args.out / "results.json").read_text()), args.out / "customer_service.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
