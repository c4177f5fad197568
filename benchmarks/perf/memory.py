"""Peak resident memory (RSS) of one PPO update with an LM policy, per model and reference option.

Each (model, reference) runs in a fresh subprocess, so peaks never mix; the child reports
its own ``ru_maxrss`` (peak RSS of the process) and ``psutil``'s current RSS at each stage:

- ``imports``: torch, transformers, lm_envs and agents imported (the baseline);
- ``agent``: ``PPO("lm_envs/TextGeneration-v1", policy=model)`` built (policy, frozen
  reference, Adam not yet stepped, vector env);
- ``update``: after ``learn(num_envs * n_steps)``: one rollout of ``num_envs`` rows x
  ``n_steps`` tokens, reference scoring, ``update_epochs`` passes of minibatch updates.

One row per ``PPOConfig.reference`` option (``--references``):

- ``fp32``: the default, the reference is a full fp32 copy of the policy;
- ``bf16``: the reference's transformer in bfloat16 (half the bytes);
- ``none``: no reference (``kl_coef`` 0; ``kl_ref`` is then not logged).

The update's own peak (policy + grads + 2 Adam moments + activations) is above the
moment of construction, so what the reference costs shows in the peak.

``--layouts packed padded`` runs each row twice: the packed update forward (shipped) and the
right-padded one it replaced (``LMActorCritic.packed = False``), and says whether the packed
peak is no higher. ``--dtype bfloat16`` runs the policy in bf16 (autocast).

    python -m benchmarks.perf memory                               # tiny-shop and smollm2-135m
    python -m benchmarks.perf memory --models tiny-shop --references fp32
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

REFERENCES = ("fp32", "bf16", "none")
LAYOUTS = ("packed", "padded")


def _rss_mib() -> tuple[float, float]:
    """(current RSS, peak RSS of this process) in MiB."""
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    try:
        import psutil

        current = psutil.Process().memory_info().rss / 2**20
    except ImportError:  # pragma: no cover - psutil is optional
        current = float("nan")
    return current, peak


def child(args: argparse.Namespace) -> int:
    """Build the agent, run one update, print one JSON line of measurements."""
    import gc

    import torch

    import lm_envs  # noqa: F401  (registers the ids)
    from agents import PPO, PPOConfig
    from lm_envs.models import load_policy

    torch.set_num_threads(args.threads)
    stages: dict[str, tuple[float, float]] = {"imports": _rss_mib()}
    config = PPOConfig(
        num_envs=args.num_envs,
        n_steps=args.n_steps,
        minibatch_size=args.minibatch_size,
        update_epochs=args.update_epochs,
        learning_rate=1e-5,
        anneal_lr=False,
        reference=args.reference,
        dtype=args.dtype,
    )
    lm = load_policy(args.model)
    n_params = sum(p.numel() for p in lm.parameters())
    env_kwargs = {"tokenizer": args.model, "max_new_tokens": args.n_steps, "reward": {"sentiment": 1.0, "keywords": 0.5, "repetition": -0.5}}
    agent = PPO("lm_envs/TextGeneration-v1", policy=lm, config=config, seed=0, env_kwargs=env_kwargs, device=args.device)
    agent.policy.packed = args.layout == "packed"
    del lm
    gc.collect()
    stages["agent"] = _rss_mib()
    start = time.perf_counter()
    agent.learn(config.num_envs * config.n_steps)
    seconds = time.perf_counter() - start
    stages["update"] = _rss_mib()
    row = agent.metrics.iloc[-1]
    print(
        json.dumps(
            {
                "model": args.model,
                "reference": args.reference,
                "layout": args.layout,
                "params": n_params,
                "threads": torch.get_num_threads(),
                "stages": stages,
                "update_s": seconds,
                "kl_ref": float(row.get("kl_ref", float("nan"))),
            }
        )
    )
    return 0


def run_child(model: str, reference: str, args: argparse.Namespace, layout: str = "packed") -> dict:
    cmd = [
        sys.executable, "-m", "benchmarks.perf.memory", "--child",
        "--models", model, "--references", reference, "--layouts", layout, "--dtype", args.dtype, "--device", args.device,
        "--num-envs", str(args.num_envs), "--n-steps", str(args.n_steps),
        "--minibatch-size", str(args.minibatch_size), "--update-epochs", str(args.update_epochs),
        "--threads", str(args.threads),
    ]  # fmt: skip
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = os.pathsep.join(p for p in [root, env.get("PYTHONPATH", "")] if p)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"memory child {model}/{reference}/{layout} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.perf memory", description=__doc__)
    parser.add_argument("--models", nargs="+", default=["tiny-shop", "smollm2-135m"])
    parser.add_argument("--references", nargs="+", default=list(REFERENCES), choices=REFERENCES, help="PPOConfig.reference options")
    parser.add_argument("--num-envs", type=int, default=16)
    parser.add_argument("--n-steps", type=int, default=64, help="tokens per row (also the env's max_new_tokens)")
    parser.add_argument("--minibatch-size", type=int, default=256)
    parser.add_argument("--update-epochs", type=int, default=1, help="the peak does not grow with epochs")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: on a shared 2-core machine 2 threads spin-wait and run ~10x slower)")
    parser.add_argument("--layouts", nargs="+", default=["packed"], choices=LAYOUTS,
                        help="update forward layout: packed (shipped) and/or padded (before the padding-free update)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"], help="PPOConfig.dtype")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto (peak RSS is host memory)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        args.model, args.reference, args.layout = args.models[0], args.references[0], args.layouts[0]
        return child(args)

    import torch

    from benchmarks.perf.rounds import machine_line

    torch.set_num_threads(args.threads)  # as the children run
    print(machine_line(dtype=args.dtype, device=args.device))
    print(
        f"PPO on TextGeneration-v1: batch {args.num_envs} x {args.n_steps} tokens, minibatch {args.minibatch_size}, "
        f"{args.update_epochs} epoch(s), {args.threads} torch threads, one fresh process per row"
    )
    print(f"{'model':<14} {'reference':<9} {'layout':<7} {'params':>8} {'imports':>9} {'agent':>9} {'peak':>9} {'update':>8} {'peak-imports':>13}")
    results: dict[tuple[str, str, str], dict] = {}
    for model in args.models:
        for reference in args.references:
            for layout in args.layouts:
                r = run_child(model, reference, args, layout)
                results[model, reference, layout] = r
                s = r["stages"]
                base, peak = s["imports"][0], s["update"][1]
                print(
                    f"{model:<14} {reference:<9} {layout:<7} {r['params'] / 1e6:>7.1f}M {base:>7.0f}Mi {s['agent'][0]:>7.0f}Mi "
                    f"{peak:>7.0f}Mi {r['update_s']:>7.1f}s {peak - base:>11.0f}Mi",
                    flush=True,
                )
    for model in args.models:
        for layout in args.layouts:
            default = results.get((model, "fp32", layout))
            for reference in args.references:
                if reference == "fp32" or default is None:
                    continue
                saved = default["stages"]["update"][1] - results[model, reference, layout]["stages"]["update"][1]
                print(f"{model} ({layout}): reference={reference!r} saves {saved:,.0f} MiB of peak RSS vs 'fp32'")
        for reference in args.references:
            if {"packed", "padded"} <= set(args.layouts):
                new, old = (results[model, reference, k]["stages"]["update"][1] for k in ("packed", "padded"))
                print(f"{model} reference={reference!r}: peak RSS packed {new:,.0f} MiB vs padded (before) {old:,.0f} MiB "
                      f"(goal: no higher: {'met' if new <= old else 'NOT met'}, {new - old:+,.0f} MiB)")
    print("imports/agent: current RSS after that stage; peak: ru_maxrss after the update (MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
