"""Where a PPO update with an LM policy spends its time, per env, phase by phase.

Each env runs the PPO configuration its learning benchmark uses (tiny-shop policy, one
torch thread): ``TextGeneration-v1`` with ``benchmarks.learning.text``'s PPO (8 rows x
128 tokens, 4 epochs of 8 minibatches, KL penalty to the reference) and
``CustomerServiceQA-v0`` with ``benchmarks.learning.customer_service``'s PPO switched to GAE
with a KL term to a reference (the learning rate and KL of the hyperparameter table's tiny-shop
entry for that env), so that every phase below runs (16 rows x 64
tokens, 4 epochs of 4 minibatches, default reward ``facts + 0.3 similarity (MiniLM) + 0.1
length``). One warm-up update, then ``--updates`` timed updates.

Phases are timed by wrapping the agent's own objects at run time (nothing in ``agents/``
is patched for good); each phase's time excludes the phases nested in it:

- ``rollout forward``: ``policy.prefill`` and ``policy.extend`` (prompt prefill, one token
  per step through the KV cache, lm_head and value head);
- ``sampling``: logits processing, the draw, log-prob and entropy of the action;
- ``env step``: the vector env's step and resets, without the reward;
- ``reward``: the env's batched reward call (VADER, MiniLM, fact checks);
- ``reference scoring``: the frozen reference re-scoring the batch (``ref_logprobs``);
- ``rollout other``: the rest of collecting (observations to tensors, cache splicing);
- ``update forward``: ``policy.evaluate_actions`` in the minibatch loop;
- ``backward + clip``: ``loss.backward()`` and the gradient-norm clip;
- ``optimizer``: ``Adam.step``;
- ``loss, GAE, logging``: the rest of ``learn``.

``--compare`` builds one agent per variant (``VARIANTS``) and alternates their updates
over ``--rounds`` in one process (``benchmarks.perf.rounds``), printing the median time per update, the time of the
phase the variant changes (the reward per finished episode: the variants' episodes drift
apart as they learn), and the speedup (before / after) of that phase and of the whole
update (which carries the drift):

- ``padded``: before the padding-free update forward (one right-padded row per segment);
- ``bf16``: the opt-in ``dtype="bfloat16"`` (autocast in rollout and update; phase shown: the
  update forward, the speedup of the whole update covers the rollout too);
- ``loop-adam``: before the fused Adam (the per-tensor loop it replaced);
- ``bf16-minilm``: the opt-in ``similarity`` kwarg ``dtype="bfloat16"``;
- ``bf16-ref`` / ``no-ref``: the ``reference`` options (``no-ref`` only where
  ``kl_coef == 0``, which neither profiled config is), with the bf16 reference's log-prob
  error on one batch;
- ``import agents`` with pandas lazy vs eager, in fresh interpreters.

``--ops N`` adds torch.profiler's top ``N`` operators by self CPU time.

    python -m benchmarks.perf profile
    python -m benchmarks.perf profile --envs text --updates 1 --ops 10
    python -m benchmarks.perf profile --compare
    python -m benchmarks.perf profile --compare --envs text --variants padded bf16 --rounds 3
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch

from agents.hyperparams import resolve
from agents.policies import pack_rows
from benchmarks.perf import rounds as round_runner

PHASES = (
    "rollout forward", "sampling", "env step", "reward", "reference scoring", "rollout other",
    "update forward", "backward + clip", "optimizer", "loss, GAE, logging",
)  # fmt: skip


def env_setups() -> dict[str, tuple[str, Any, dict[str, Any]]]:
    """name -> (env id, PPOConfig, env_kwargs), as the learning benchmarks run them."""
    from benchmarks.learning import customer_service, text

    qa_tiny_shop = resolve("ppo", customer_service.QA_ID, "tiny-shop").config
    return {
        "text": (text.ENV_ID, text.agent_config("ppo"), {"max_new_tokens": text.MAX_NEW_TOKENS, "reward": text.REWARD}),
        # GAE with a KL term to a reference, so the GAE and reference-scoring phases run (the
        # benchmark's own setting uses the group baseline without a reference, which skips
        # them); learning rate and KL of the table's tiny-shop entry for the QA env
        "customer_service": (customer_service.QA_ID, dataclasses.replace(
            customer_service.ppo_config(), advantage="gae", reference="fp32",
            learning_rate=qa_tiny_shop.learning_rate, kl_coef=qa_tiny_shop.kl_coef), {}),
    }


# ---------------------------------------------------------------------------------------
# phase timer: wraps callables; nested phases are subtracted from their parent
# ---------------------------------------------------------------------------------------


class PhaseTimer:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._stack: list[list[Any]] = []  # [name, start, seconds of nested phases]
        self.tokens: dict[str, int] = defaultdict(int)  # update forward: real / padded / scored tokens

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        frame = [name, time.perf_counter(), 0.0]
        self._stack.append(frame)
        try:
            yield
        finally:
            self._stack.pop()
            elapsed = time.perf_counter() - frame[1]
            self.seconds[name] += elapsed - frame[2]
            self.calls[name] += 1
            if self._stack:
                self._stack[-1][2] += elapsed

    @property
    def current(self) -> str | None:
        return self._stack[-1][0] if self._stack else None

    def wrap(self, fn: Callable, name: str, *, inside: str | None = None) -> Callable:
        """``fn`` timed as ``name``; with ``inside``, only when called directly in that phase."""

        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            if inside is not None and self.current != inside:
                return fn(*args, **kwargs)
            with self.phase(name):
                return fn(*args, **kwargs)

        return timed

    def reset(self) -> None:
        self.seconds.clear()
        self.calls.clear()
        self.tokens.clear()


def instrument(agent: Any, timer: PhaseTimer) -> None:
    """Wrap the agent's policy, reference, env, reward and optimizer with ``timer``."""
    policy = agent.policy
    policy.prefill = timer.wrap(policy.prefill, "rollout forward")
    policy.extend = timer.wrap(policy.extend, "rollout forward")
    policy.evaluate_actions = timer.wrap(policy.evaluate_actions, "update forward", inside="loss, GAE, logging")
    if hasattr(policy, "score_positions"):
        score_positions = policy.score_positions

        def counted(contexts: torch.Tensor, lengths: torch.Tensor, *args: Any) -> Any:
            if timer.current == "update forward":  # one right-padded forward over the segments' contexts
                timer.tokens["real"] += int(lengths.sum())
                if getattr(policy, "packed", False):  # the packed rows' slots: real tokens + what is left at row ends
                    lens = lengths.tolist()
                    fill = pack_rows(lens, policy.pack_width * max(lens))[2]
                    timer.tokens["padded"] += len(fill) * max(fill)
                else:
                    timer.tokens["padded"] += int(lengths.max()) * len(lengths)
                timer.tokens["scored"] += len(args[-1])
            return score_positions(contexts, lengths, *args)

        policy.score_positions = counted
    policy.distribution_logits = timer.wrap(policy.distribution_logits, "sampling", inside="rollout other")
    if agent.ref_policy is not None:
        agent.ref_policy.evaluate_actions = timer.wrap(agent.ref_policy.evaluate_actions, "reference scoring")
    vec = agent.env.unwrapped
    vec.step = timer.wrap(vec.step, "env step")
    template = getattr(vec, "env", None)  # TokenVectorEnv's template env holds the reward
    if template is not None and hasattr(template, "_score"):
        template._score = timer.wrap(template._score, "reward")
    agent._collect = timer.wrap(agent._collect, "rollout other")
    agent._clip_and_step = timer.wrap(agent._clip_and_step, "backward + clip")
    agent.optimizer.step = timer.wrap(agent.optimizer.step, "optimizer")


@contextmanager
def timed_update(timer: PhaseTimer) -> Iterator[None]:
    """Time a ``learn`` call, with the LM actor's sampler calls (module functions) timed too."""
    import agents.kv_cache as rollout_module

    names = [n for n in ("sample", "log_prob_entropy") if hasattr(rollout_module, n)]
    originals = {n: getattr(rollout_module, n) for n in names}
    for n in names:
        setattr(rollout_module, n, timer.wrap(originals[n], "sampling", inside="rollout other"))
    try:
        with timer.phase("loss, GAE, logging"):
            yield
    finally:
        for n in names:
            setattr(rollout_module, n, originals[n])


def build_agent(env: str, *, seed: int = 0, model: str = "tiny-shop", device: Any = "cpu", **config_changes: Any) -> Any:
    from agents import PPO

    env_id, config, env_kwargs = env_setups()[env]
    config = dataclasses.replace(config, **config_changes)
    return PPO(env_id, policy=model, config=config, seed=seed, env_kwargs=env_kwargs, device=device)


def profile_env(
    env: str, *, updates: int, model: str, ops: int = 0, device: Any = "cpu", dtype: str = "float32"
) -> tuple[dict[str, float], float, Any, dict[str, int]]:
    """Seconds per update of each phase, the total, the agent's config, and the update
    forward's token counts (``real``, ``padded``, ``scored``)."""
    agent = build_agent(env, model=model, device=device, dtype=dtype)
    cfg = agent.config
    agent.learn(cfg.num_envs * cfg.n_steps)  # warm-up: lazy model loads (MiniLM), allocator
    timer = PhaseTimer()
    instrument(agent, timer)
    prof: Any = None
    start = time.perf_counter()
    with timed_update(timer):
        if ops:
            from torch.profiler import ProfilerActivity, profile

            with profile(activities=[ProfilerActivity.CPU]) as prof:
                agent.learn(updates * cfg.num_envs * cfg.n_steps)
        else:
            agent.learn(updates * cfg.num_envs * cfg.n_steps)
    total = time.perf_counter() - start
    if prof is not None:
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=ops, max_name_column_width=40))
    per_update = {name: timer.seconds.get(name, 0.0) / updates for name in PHASES}
    return per_update, total / updates, cfg, dict(timer.tokens)


def print_profile(env: str, per_update: dict[str, float], total: float, cfg: Any, tokens: dict[str, int]) -> None:
    print(
        f"\n{env}: {cfg.num_envs} rows x {cfg.n_steps} tokens, {cfg.update_epochs} epochs x "
        f"{cfg.num_envs * cfg.n_steps // cfg.minibatch_size} minibatches, kl_coef {cfg.kl_coef}; "
        f"{total:.2f} s per update"
    )
    print(f"  {'phase':<20} {'s/update':>9} {'share':>7}")
    for name, seconds in sorted(per_update.items(), key=lambda kv: -kv[1]):
        print(f"  {name:<20} {seconds:>9.3f} {seconds / total:>6.1%}")
    if tokens.get("padded"):
        print(
            f"  update forward runs {tokens['padded'] / tokens['scored']:.1f} tokens per action scored "
            f"(prompts included), {1 - tokens['real'] / tokens['padded']:.0%} of them padding"
        )


# ---------------------------------------------------------------------------------------
# --compare: each fix against what it replaced, alternated in one process
# ---------------------------------------------------------------------------------------


# name -> (what it is, config changes, phase it changes, role): a "before" variant is what a
# shipped fix replaced; an "option" is a fix the user opts into, measured against the default
VARIANTS: dict[str, tuple[str, dict[str, Any], str, str]] = {
    "shipped": ("as shipped: packed update forward, fused Adam, fp32 reference, fp32 MiniLM", {}, "", ""),
    "padded": ("before: right-padded update forward (one padded row per segment)", {}, "update forward", "before"),
    "bf16": ("option dtype='bfloat16' (autocast in rollout and update, fp32 weights and Adam)",
             {"dtype": "bfloat16"}, "update forward", "option"),
    "loop-adam": ("before: Adam's per-tensor loop (foreach=False, fused=False)", {}, "optimizer", "before"),
    "bf16-minilm": ("option similarity dtype='bfloat16'", {}, "reward", "option"),
    "bf16-ref": ("option reference='bf16'", {"reference": "bf16"}, "reference scoring", "option"),
    "no-ref": ("option reference='none' (no kl_ref; needs kl_coef 0)", {"reference": "none"}, "reference scoring", "option"),
}


def variant_agent(env: str, variant: str, model: str, device: Any = "cpu", variants: dict | None = None) -> Any | None:
    """The agent of ``variant``, or ``None`` where it does not apply to ``env``."""
    config_changes = VARIANTS[variant][1]
    _, config, env_kwargs = env_setups()[env]
    if variant == "no-ref" and config.kl_coef > 0:
        return None
    if variant == "bf16-minilm":
        from lm_envs.envs.customer_service import CustomerServiceQAEnv

        if env != "customer_service":  # the only env here whose reward runs MiniLM
            return None
        reward = [{"name": n, "weight": w, "kwargs": {"dtype": "bfloat16"} if n == "similarity" else {}}
                  for n, w in CustomerServiceQAEnv.default_reward.items()]  # fmt: skip
        env_kwargs = {**env_kwargs, "reward": reward}
    from agents import PPO

    agent = PPO(env_setups()[env][0], policy=model, config=dataclasses.replace(config, **config_changes), seed=0,
                env_kwargs=env_kwargs, device=device)  # fmt: skip
    if variant == "padded":
        agent.policy.packed = False
    if variant == "loop-adam":
        agent.optimizer = torch.optim.Adam(agent.policy.parameters(), lr=config.learning_rate, eps=1e-5,
                                           foreach=False, fused=False)  # fmt: skip
    return agent


def bf16_logprob_error(agent: Any) -> tuple[float, float]:
    """Mean absolute and mean signed change of the reference log-probs in bf16, on one batch."""
    import copy

    batch, _ = agent._collect(agent.config.n_steps)
    ref16 = copy.deepcopy(agent.ref_policy)
    ref16.model.to(torch.bfloat16)
    diff = (agent.rollout.score(ref16, batch) - agent.rollout.score(agent.ref_policy, batch))[batch.valid]
    return float(diff.abs().mean()), float(diff.mean())


def compare(env: str, *, rounds: int, model: str, device: Any = "cpu", only: list[str] | None = None
            ) -> dict[str, tuple[float, dict[str, float]]]:
    """Median seconds per update (total and per phase) of each variant, alternated in rounds.

    The variants run one update each per round, in turn (``benchmarks.perf.rounds``), and
    each speedup is the median over rounds of that round's before / after, with its min-max.
    The variants' trajectories drift apart as they learn (episodes end at other steps), so
    the reward phase is compared per finished episode, the unit of its work; the other
    phases do the same work in every variant. The whole-update ratio carries that drift.
    ``only``: the variants to run besides ``shipped`` (default: all).
    """
    names = [v for v in VARIANTS if v == "shipped" or only is None or v in only]
    agents = {v: a for v in names if (a := variant_agent(env, v, model, device)) is not None}
    timers = {v: PhaseTimer() for v in agents}
    for agent in agents.values():
        agent.learn(agent.config.num_envs * agent.config.n_steps)  # warm-up
    # before the wrappers, which deepcopy would share
    bf16_error = bf16_logprob_error(agents["shipped"]) if "bf16-ref" in agents else None
    for v, agent in agents.items():
        instrument(agent, timers[v])
    phases: dict[str, list[dict[str, float]]] = defaultdict(list)
    tokens: dict[str, dict[str, int]] = {}

    def one_update(v: str) -> float:
        agent = agents[v]
        timers[v].reset()
        start = time.perf_counter()
        with timed_update(timers[v]):
            agent.learn(agent.config.num_envs * agent.config.n_steps)
        total = time.perf_counter() - start
        row = dict(timers[v].seconds)
        row["reward"] = row.get("reward", 0.0) / max(1, int(agent.metrics["episodes"].iloc[-1]))
        phases[v].append(row)
        tokens[v] = dict(timers[v].tokens)
        return total

    totals = round_runner.alternate({v: (lambda r, v=v: one_update(v)) for v in agents}, rounds, warmup=False)
    cfg = agents["shipped"].config
    print(f"\n{env}: {cfg.num_envs} rows x {cfg.n_steps} tokens, kl_coef {cfg.kl_coef}, {model}; {rounds} alternating "
          f"rounds, one update per variant per round; seconds per update (reward: per finished episode), medians; "
          f"speedups: median of per-round before / after (min-max)")  # fmt: skip
    out = {v: (float(np.median(totals[v])), {p: float(np.median([r.get(p, 0.0) for r in phases[v]])) for p in PHASES})
           for v in agents}  # fmt: skip
    print(f"  {'variant':<13} {'update s':>9} {'phase':<18} {'phase s':>8} {'phase speedup':>19} {'update speedup':>19}  what")
    for v, (total, ph) in out.items():
        what, _, phase, role = VARIANTS[v]
        if not phase:
            print(f"  {v:<13} {total:>9.3f} {'':<18} {'':>8} {'':>19} {'':>19}  {what}")
            continue
        # speedup = before / after: the old code over the shipped one, or the default over the option
        before, after = (v, "shipped") if role == "before" else ("shipped", v)
        b_ph, a_ph = [r.get(phase, 0.0) for r in phases[before]], [r.get(phase, 0.0) for r in phases[after]]
        if min(a_ph) > 1e-6:
            m, lo, hi = round_runner.ratio(b_ph, a_ph)
            phase_x = f"{m:.2f}x ({lo:.2f}-{hi:.2f})"
        else:
            phase_x = "skipped"
        m, lo, hi = round_runner.ratio(totals[before], totals[after])
        print(f"  {v:<13} {total:>9.3f} {phase:<18} {ph[phase]:>8.3f} {phase_x:>19} {f'{m:.2f}x ({lo:.2f}-{hi:.2f})':>19}  {what}")
    for v in ("shipped", "padded"):
        t = tokens.get(v, {})
        if t.get("scored"):
            print(f"  {v}: update forward ran {t['padded'] / t['scored']:.2f} tokens per action scored, "
                  f"{1 - t['real'] / t['padded']:.0%} of them padding (last round)")
    if bf16_error is not None:
        mean_abs, mean = bf16_error
        print(f"  bf16 reference log-probs vs fp32 on one batch: mean |diff| {mean_abs:.4f}, mean diff {mean:+.4f} nats/token")
    return out


def import_times(rounds: int) -> tuple[float, float]:
    """Median seconds of ``import agents`` in a fresh interpreter, with pandas imported lazily
    (as ``agents.base`` does) and eagerly (as a module-level import would)."""
    import subprocess
    import sys

    times: dict[str, list[float]] = defaultdict(list)
    code = "import time; t = time.perf_counter(); import agents{}; print(time.perf_counter() - t)"
    for _ in range(rounds):
        for name, extra in (("lazy", ""), ("eager", "; import pandas")):
            out = subprocess.run([sys.executable, "-c", code.format(extra)], capture_output=True, text=True, check=True)
            times[name].append(float(out.stdout.strip().splitlines()[-1]))
    return float(np.median(times["lazy"])), float(np.median(times["eager"]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.perf profile", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--envs", nargs="+", default=["text", "customer_service"], choices=["text", "customer_service"])
    parser.add_argument("--updates", type=int, default=2, help="timed updates per env (after one warm-up update)")
    parser.add_argument("--model", default="tiny-shop")
    parser.add_argument("--ops", type=int, default=0, help="also print torch.profiler's top N operators")
    parser.add_argument("--compare", action="store_true", help="time each fix against what it replaced")
    parser.add_argument("--variants", nargs="+", choices=[v for v in VARIANTS if v != "shipped"], default=None,
                        help="--compare: only these variants (and the shipped one)")
    round_runner.add_arguments(parser, dtype=True)
    args = parser.parse_args(argv)
    if args.updates < 1:
        parser.error("--updates must be >= 1")
    device = round_runner.setup(args)
    np.set_printoptions(precision=3)
    print(round_runner.machine_line(dtype=args.dtype if not args.compare else "float32 (bf16 variant: bfloat16)", device=device))
    print(f"PPO with {args.model}, {torch.get_num_threads()} torch thread(s), time per update after one warm-up update")
    for env in args.envs:
        if args.compare:
            compare(env, rounds=args.rounds, model=args.model, device=device, only=args.variants)
        else:
            print_profile(env, *profile_env(env, updates=args.updates, model=args.model, ops=args.ops, device=device,
                                            dtype=args.dtype))  # fmt: skip
    if args.compare and (args.variants is None):
        lazy, eager = import_times(args.rounds)
        print(f"\nimport agents: {lazy:.2f} s with pandas imported lazily, {eager:.2f} s with it at module level "
              f"(x{eager / lazy:.2f})")  # fmt: skip
    return 0
