"""One benchmark run: the agent registry, the run spec, and :func:`execute`.

:func:`execute` trains a :class:`RunSpec` (evaluating every ``eval_every`` steps for the
learning curve), evaluates it a last time and returns a JSON-able record; it never raises: a
crash is a ``"failed"`` record with its traceback. It runs in a worker process of the local
pool, in a Ray task, or in-process (``lm-envs train``, ``--workers 0``).

Learners come from ``agents/``; the fixed baselines go through the thin adapters below
(``random``: uniform actions; ``initial``: the untrained LM through ``Agent.evaluate``;
``oracle``/``popular``: ``agents.baselines`` on the recommenders).
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
import os
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

__all__ = [
    "AGENTS",
    "EXPERT_ENVS",
    "RECOMMENDER_ENVS",
    "RESULT_SCHEMA",
    "AgentEntry",
    "EnvInfo",
    "check_device",
    "ProgressSink",
    "RunSpec",
    "execute",
    "failed_record",
    "init_worker",
    "make_agent_config",
    "progress_bars",
    "run_learner",
    "utc_timestamp",
    "worker_main",
]

RESULT_SCHEMA = 1

# ---------------------------------------------------------------------------------------
# the agent registry: learners from agents/, baselines through thin adapters below
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EnvInfo:
    """What the registry needs to know about an env to say which agents apply."""

    env_id: str
    token_env: bool
    action_space: str  # "Discrete", "Box", "MultiDiscrete", ...
    recommender: bool


@dataclass(frozen=True)
class AgentEntry:
    """A name the benchmark accepts: a learning agent (``target`` is ``module:Class``)
    or a fixed baseline policy (evaluated, never trained)."""

    name: str
    kind: str  # "learner" or "baseline"
    target: str
    description: str
    applies: Callable[[EnvInfo], bool] = lambda env: True
    """Whether the agent runs on an env by default (what a config that lists no agents gets)."""
    applies_with: Callable[[EnvInfo, dict[str, Any]], bool] | None = None
    """Whether it runs on an env given its options, where they widen ``applies`` (SFT with
    ``data`` runs on every token env); ``None``: ``applies``."""

    def applies_given(self, env: EnvInfo, options: dict[str, Any]) -> bool:
        """Whether the agent runs on ``env`` with ``options`` (its config overrides)."""
        return self.applies(env) if self.applies_with is None else self.applies_with(env, options)

    def load(self) -> Any:
        module, _, attr = self.target.partition(":")
        return getattr(importlib.import_module(module), attr)


EXPERT_ENVS = ("lm_envs/CustomerServiceQA-v0", "lm_envs/CustomerServiceDialog-v0", "lm_envs/CustomerServiceDialog-v1")
"""Envs with a scripted expert (``expert_text()``) that SFT plays for its demonstrations."""


def _not_token(env: EnvInfo) -> bool:
    return not env.token_env


AGENTS: dict[str, AgentEntry] = {
    entry.name: entry
    for entry in (
        AgentEntry("reinforce", "learner", "agents.reinforce:REINFORCE", "REINFORCE with a leave-one-out baseline"),
        AgentEntry("a2c", "learner", "agents.actor_critic:A2C", "synchronous advantage actor-critic"),
        AgentEntry("ppo", "learner", "agents.ppo:PPO", "PPO, clipped surrogate + KL to the initial policy"),
        AgentEntry(
            "sft", "learner", "agents.sft:SFT",
            "supervised fine-tuning on the env's scripted expert (training seeds and customers), or on a table "
            "of demonstrations (`data`) in any token env",
            applies=lambda env: env.env_id in EXPERT_ENVS,
            applies_with=lambda env, options: env.env_id in EXPERT_ENVS or (env.token_env and bool(options.get("data"))),
        ),
        AgentEntry(
            "ddpg", "learner", "agents.ddpg:DDPG", "DDPG (Box) / Wolpertinger DDPG (item ids)", applies=_not_token
        ),
        AgentEntry("random", "baseline", "benchmarks.runs:_run_random", "uniformly random actions (available items)"),
        AgentEntry(
            "initial",
            "baseline",
            "benchmarks.runs:_run_initial",
            "the untrained LM policy (RL's starting point)",
            applies=lambda env: env.token_env,
        ),
        AgentEntry(
            "oracle",
            "baseline",
            "benchmarks.runs:_run_recommender_baseline",
            "myopic oracle reading the simulated user's hidden state",
            applies=lambda env: env.recommender,
        ),
        AgentEntry(
            "popular",
            "baseline",
            "benchmarks.runs:_run_recommender_baseline",
            "most-popular available items",
            applies=lambda env: env.recommender,
        ),
    )
}
"""Agent names accepted in configs, ``--agent`` and presets."""

# envs whose fixed policies live in agents.baselines (discrete and continuous share them)
RECOMMENDER_ENVS = ("lm_envs/ProductRecommendation-v0", "lm_envs/ProductRecommendationContinuous-v0")


def make_agent_config(config_cls: type, options: dict[str, Any]) -> Any:
    """An agent's config dataclass from plain-data ``options`` (hyperparameters, no ``policy``)."""
    # TOML/YAML/JSON give lists where the dataclasses want tuples (hidden_sizes)
    return config_cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in options.items()})


# ---------------------------------------------------------------------------------------
# run specs
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunSpec:
    """One (agent, env, seed) run and everything that determines its result."""

    agent: str
    env_id: str
    seed: int
    steps: int
    eval_every: int
    eval_episodes: int
    deterministic: bool = False
    agent_config: dict[str, Any] = field(default_factory=dict)
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    device: str = "cpu"
    """Where the run trains and evaluates: ``cpu``, ``cuda``, ``cuda:N`` or ``auto`` (CUDA when
    the process that runs it sees one), resolved in that process. Not part of :meth:`digest`:
    the device changes how fast a run goes, not what it means, so a result stays valid (a
    rerun skips it) whichever device made it; the record names the device it ran on."""

    @property
    def env_name(self) -> str:
        return self.env_id.split("/")[-1]

    @property
    def key(self) -> str:
        """File stem of the run: ``<env>__<agent>__seed<k>``."""
        return f"{self.env_name}__{self.agent}__seed{self.seed}"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunSpec:
        return cls(**data)

    def digest(self) -> str:
        """A hash of the spec, ``device`` left out: a stored result counts only for the same spec."""
        identity = {k: v for k, v in self.to_dict().items() if k != "device"}
        return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


def check_device(value: Any, *, flag: str = "--device", here: bool = True) -> Any:
    """The ``torch.device`` that ``value`` (``cpu``, ``cuda``, ``cuda:N``, ``auto``) names.

    With ``here`` false only the name is checked (the runs go to other machines, e.g. a Ray
    cluster, whose GPUs this process cannot see) and ``None`` is returned.

    Raises:
        ValueError: naming ``flag`` and ``value``: not a device name, or (``here``) a CUDA
            device that torch does not see in this process.
    """
    import torch

    from agents.options import DEVICES, resolve_device

    if not isinstance(value, str) or value != value.strip() or not value:
        raise ValueError(f"{flag} must be one of {', '.join(DEVICES)} or cuda:N; got {value!r}")
    if value != "auto":
        try:
            named = torch.device(value)
        except (RuntimeError, TypeError):
            raise ValueError(f"{flag} must be one of {', '.join(DEVICES)} or cuda:N; got {value!r}") from None
        if named.type not in ("cpu", "cuda"):
            raise ValueError(f"{flag} must be one of {', '.join(DEVICES)} or cuda:N; got {value!r}")
    if not here:
        return None
    try:
        device = resolve_device(value)
    except ValueError as err:
        raise ValueError(f"{flag} {value}: {err}") from None
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ValueError(f"{flag} {value}: torch sees {torch.cuda.device_count()} CUDA device(s), "
                         f"numbered from 0")
    return device


# ---------------------------------------------------------------------------------------
# executing one run (in a worker process, a Ray task or the CLI's `train`)
# ---------------------------------------------------------------------------------------

_progress_queue: Any = None  # anything with put_nowait((run key, new steps))
_initialised = False


class ProgressSink:
    """Feeds a tqdm bar in this process from :func:`execute`'s step reports."""

    def __init__(self, bar: Any) -> None:
        self.bar = bar

    def put_nowait(self, item: tuple[str, int]) -> None:
        self.bar.update(item[1])


def progress_bars(specs: list[RunSpec], *, quiet: bool) -> tuple[Any, Any]:
    """The driver's two tqdm bars over ``specs``: finished runs, and training steps."""
    from tqdm.auto import tqdm

    total_steps = sum(s.steps for s in specs)
    runs = tqdm(total=len(specs), desc="runs", unit="run", disable=quiet, position=0)
    steps = tqdm(total=total_steps, desc="steps", unit="step", disable=quiet or total_steps == 0, position=1,
                 unit_scale=True)
    return runs, steps


def init_worker(progress_queue: Any = None, *, threads: int | None = 1, parent_pid: int | None = None) -> None:
    """Per-process setup: ``threads`` torch threads (1 where runs are the parallel unit;
    ``None`` leaves torch's default, as ``lm-envs train`` does), offline hub, quiet loaders.
    With ``parent_pid`` (a worker process) the process exits when that process dies."""
    global _progress_queue, _initialised
    _progress_queue = progress_queue
    if parent_pid is not None:
        exit_with_parent(parent_pid)
    if _initialised:
        return
    _initialised = True
    if threads is not None:
        os.environ.setdefault("OMP_NUM_THREADS", str(threads))
        os.environ.setdefault("MKL_NUM_THREADS", str(threads))
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    import torch

    if threads is not None:
        torch.set_num_threads(threads)
    try:  # weight-loading bars of every run would bury the benchmark's own
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
    except ImportError:  # pragma: no cover - transformers is a dependency
        pass


def exit_with_parent(parent_pid: int) -> None:
    """End this process as soon as ``parent_pid``, its parent, dies, even by SIGKILL.

    On Linux the kernel sends SIGKILL on the parent's death (``PR_SET_PDEATHSIG``); a daemon
    thread that checks the parent pid every second covers other systems. A worker left
    behind would otherwise train on (and hold its memory) for nobody.
    """
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0)  # 1: PR_SET_PDEATHSIG
        except (OSError, AttributeError):  # no prctl in this libc: the thread below still watches
            pass
    if os.getppid() != parent_pid:  # died before the line above took effect
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="lm-envs-parent-watch", daemon=True).start()


class _PipeSink:
    """Sends a worker's step reports to the driver on the worker's pipe."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def put_nowait(self, item: tuple[str, int]) -> None:
        self.conn.send(("progress", item))


def worker_main(conn: Any, parent_pid: int, imports: tuple[str, ...] = (), rewards: tuple[str, ...] = ()) -> None:
    """The loop of a local worker process (``benchmarks.suite``): run each spec the driver
    sends on ``conn`` and send back ``("progress", (key, steps))`` messages and
    ``("result", record)``; ``None`` or a closed pipe ends it.

    First it imports ``imports``, the modules that register the custom rewards the runs use
    (``rewards``); if one fails to import it sends ``("import_failed", what)``, if a reward
    is still unknown ``("missing", names)``, and ends without running anything. The worker
    exits when ``parent_pid`` (the driver) dies.
    """
    try:
        init_worker(_PipeSink(conn), parent_pid=parent_pid)
        for module in imports:
            try:
                importlib.import_module(module)
            except Exception as err:  # reported to the driver, which stops the bench with it
                conn.send(("import_failed", f"{module} ({type(err).__name__}: {err})"))
                return
        from lm_envs.rewards import REWARDS

        missing = [name for name in rewards if name not in REWARDS]
        if missing:
            conn.send(("missing", missing))
            return
        while True:
            try:
                spec = conn.recv()
            except EOFError:
                return
            if spec is None:
                return
            conn.send(("result", execute(spec)))
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group; the driver reports it
        return


def _report_progress(key: str, steps: int) -> None:
    if _progress_queue is not None and steps > 0:
        try:
            _progress_queue.put_nowait((key, steps))
        except Exception:  # progress is best effort; a full or closed queue must not fail a run
            pass


def _scalars(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if isinstance(v, (int, float, str, bool)) or v is None}


def _eval_row(step: int, ev: dict[str, Any]) -> dict[str, Any]:
    out = {"kind": "eval", "step": int(step)}
    out.update({k: v for k, v in _scalars(ev).items() if k != "time_s"})
    out["return"] = float(ev["reward_mean"])
    return out


def run_learner(spec: RunSpec, *, save_dir: str | None = None,
                on_eval: Callable[[int, float], None] | None = None) -> dict[str, Any]:
    """Train the learner of ``spec``, evaluating it before, every ``eval_every`` steps and at
    the end; raises what the run raises (:func:`execute` turns that into a record).

    ``spec.agent_config`` is the whole config (``policy`` plus fields; a field it leaves out
    takes the dataclass default, not the hyperparameter table's: ``plan`` writes every field).
    ``on_eval(step, mean return)`` is called after each evaluation; an exception it raises
    stops the run (the tuner prunes this way).

    Returns:
        ``curve`` (train and eval rows), ``first`` and ``last`` evaluations, ``last_other``
        (the final policy evaluated in the other mode: greedy when ``spec.deterministic`` is
        false, sampled when true, on the same episodes' seeds) and ``train_steps``.
    """
    import torch

    torch.manual_seed(spec.seed)
    entry = AGENTS[spec.agent]
    cls = entry.load()
    options = dict(spec.agent_config)
    policy = options.pop("policy", "auto")
    config = make_agent_config(cls.config_class, options)
    agent = cls(spec.env_id, policy=policy, config=config, seed=spec.seed, env_kwargs=spec.env_kwargs,
                device=spec.device)
    curve: list[dict[str, Any]] = []
    evaluations: list[dict[str, Any]] = []

    def evaluate() -> None:
        ev = agent.evaluate(spec.eval_episodes, deterministic=spec.deterministic)
        evaluations.append(ev)
        curve.append(_eval_row(agent.num_timesteps, ev))
        if on_eval is not None:
            on_eval(int(agent.num_timesteps), float(ev["reward_mean"]))

    evaluate()
    state = {"next_eval": spec.eval_every, "reported": 0}

    def callback(ag: Any, metrics: dict[str, Any]) -> bool:
        done = min(int(ag.num_timesteps), spec.steps)
        _report_progress(spec.key, done - state["reported"])
        state["reported"] = done
        curve.append({"kind": "train", "step": int(ag.num_timesteps), **_scalars(metrics)})
        if ag.num_timesteps >= state["next_eval"] and ag.num_timesteps < spec.steps:
            evaluate()
            while state["next_eval"] <= ag.num_timesteps:
                state["next_eval"] += spec.eval_every
        return True

    agent.learn(spec.steps, callback=callback)
    _report_progress(spec.key, spec.steps - state["reported"])
    evaluate()
    other = agent.evaluate(spec.eval_episodes, deterministic=not spec.deterministic)
    pass_k = None
    if "success_rate" in evaluations[-1] and hasattr(agent, "evaluate_pass_k"):
        pass_k = _pass_k_record(agent.evaluate_pass_k(*pass_k_design(spec.eval_episodes)))
    if save_dir is not None:
        agent.save(save_dir)
    return {"curve": curve, "first": evaluations[0], "last": evaluations[-1], "last_other": other,
            "train_steps": int(agent.num_timesteps), "pass_k": pass_k}


PASS_K_TRIES = 4
"""Tries per task of the pass^k evaluation (pass^1, pass^2 and pass^4 are reported)."""


def pass_k_design(eval_episodes: int) -> tuple[int, int]:
    """``(n_tasks, n_tries)`` of a run's pass^k evaluation: ``eval_episodes // 4`` tasks (at least
    one) played 4 times each, about the cost of one evaluation."""
    return max(1, eval_episodes // PASS_K_TRIES), PASS_K_TRIES


def _pass_k_record(result: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result.items() if k.startswith("pass^") or k in ("n_tasks", "n_tries")}


def _run_random(spec: RunSpec, save_dir: str | None) -> dict[str, Any]:
    """Uniformly random actions; on a recommender, a random *available* item (as
    ``agents.baselines``), since unavailable ids are invalid actions there."""
    if spec.env_id in RECOMMENDER_ENVS:
        return _run_recommender_baseline(spec, save_dir)
    import gymnasium as gym

    from agents.evaluation import evaluate_policy, summarize

    env = gym.make(spec.env_id, **spec.env_kwargs)
    env.action_space.seed(spec.seed)
    try:
        episodes = evaluate_policy(env, lambda obs, new, info: env.action_space.sample(), spec.eval_episodes,
                                   seed=spec.seed + 10_000)
    finally:
        env.close()
    return _baseline_result(summarize(episodes))


def _run_initial(spec: RunSpec, save_dir: str | None) -> dict[str, Any]:
    """The untrained LM policy, evaluated as the learners are (``Agent.evaluate``: sampler and
    env seeded with ``seed + 10_000``, at most 16 rows, default sampling options)."""
    import torch

    from agents.actors import ActorPolicy
    from agents.base import make_policy
    from agents.envs import make_vector_env
    from agents.evaluation import evaluate_policy, summarize

    seed = spec.seed + 10_000
    device = check_device(spec.device, flag="device")
    env = make_vector_env(spec.env_id, num_envs=max(1, min(spec.eval_episodes, 16)), env_kwargs=spec.env_kwargs)
    policy = make_policy(spec.agent_config.get("policy", "tiny-shop"), env).to(device)

    def generator(offset: int = 0) -> torch.Generator:
        return torch.Generator(device=device).manual_seed(seed + offset)

    def evaluate(deterministic: bool) -> dict[str, Any]:
        act = ActorPolicy(policy, env, generator=generator(), deterministic=deterministic)
        start = time.perf_counter()
        with torch.no_grad():
            episodes = evaluate_policy(env, act, spec.eval_episodes, seed=seed)
        return summarize(episodes) | {"time_s": time.perf_counter() - start}

    try:
        ev, other = evaluate(spec.deterministic), evaluate(not spec.deterministic)
        pass_k = None
        if "success_rate" in ev:  # tries sample with seeds seed, seed + 1, ... as Agent.evaluate_pass_k
            from agents.evaluation import evaluate_tries, pass_k_summary

            n_tasks, n_tries = pass_k_design(spec.eval_episodes)
            with torch.no_grad():
                tasks = evaluate_tries(env, lambda t: ActorPolicy(policy, env, generator=generator(t)),
                                       n_tasks, n_tries, seed=seed)
            pass_k = pass_k_summary([[bool(e.success) for e in tries] for tries in tasks]) | {
                "n_tasks": n_tasks, "n_tries": n_tries}
    finally:
        env.close()
    return _baseline_result(ev, other) | {"pass_k": pass_k}


def _run_recommender_baseline(spec: RunSpec, save_dir: str | None) -> dict[str, Any]:
    """``agents.baselines`` policies act on the discrete env; the continuous env shares its
    simulator and so its references (see ``agents.baselines.reference_returns``)."""
    from agents.baselines import evaluate_baseline
    from agents.evaluation import summarize

    result = evaluate_baseline(spec.agent, spec.env_kwargs, n_episodes=spec.eval_episodes,
                               seed=spec.seed + 10_000, num_envs=min(16, spec.eval_episodes))
    ev = summarize(result.episodes)
    # oracle and popular are deterministic: their greedy and sampled play are the same
    return _baseline_result(ev, None if spec.agent == "random" else ev)


def _baseline_result(ev: dict[str, Any], other: dict[str, Any] | None = None) -> dict[str, Any]:
    """A fixed policy's record: one evaluation, and ``other`` in the other mode (``None``
    where the policy has no such mode: uniformly random actions have no greedy choice)."""
    return {"curve": [_eval_row(0, ev)], "first": ev, "last": ev, "last_other": other, "train_steps": 0}


def execute(spec_data: dict[str, Any] | RunSpec, *, save_dir: str | None = None) -> dict[str, Any]:
    """Run one spec and return its result record; never raises for a crash in the run.

    The record holds the spec and its digest, ``status`` (``"ok"`` or ``"failed"`` with
    ``error`` and ``traceback``), ``final_return`` (mean return of the last evaluation, in the
    spec's mode), ``final_sampled`` and ``final_greedy`` (the final policy in both modes;
    ``nan`` where a mode does not apply), ``first``/``last``/``last_other`` evaluations (with
    ``samples``), the ``curve`` rows, timings and host, and on envs that report success
    ``pass_k`` (``pass^1``, ``pass^2``, ``pass^4`` of the final policy, sampled; see
    :func:`pass_k_design`).
    """
    spec = spec_data if isinstance(spec_data, RunSpec) else RunSpec.from_dict(spec_data)
    if not _initialised:  # a Ray task or an in-process call: same thread policy
        init_worker(_progress_queue)
    started = time.time()
    record: dict[str, Any] = {
        **_record_header(spec),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "started_at": utc_timestamp(),
    }
    try:
        import torch

        import lm_envs  # noqa: F401  registers the env ids: a spawned worker or Ray task starts without them

        torch.manual_seed(spec.seed)
        device = check_device(spec.device, flag="device")
        if device.type == "cuda":  # the record names the very GPU: cuda:0 (its model)
            index = torch.cuda.current_device() if device.index is None else device.index
            record["device"] = f"cuda:{index} ({torch.cuda.get_device_name(index)})"
        else:
            record["device"] = str(device)
        entry = AGENTS[spec.agent]
        if entry.kind == "learner":
            out = run_learner(spec, save_dir=save_dir)
        else:
            out = entry.load()(spec, save_dir)
        other = out.get("last_other")
        final = float(out["last"]["reward_mean"])
        final_other = float("nan") if other is None else float(other["reward_mean"])
        record.update(
            status="ok",
            final_return=final,
            final_sampled=final_other if spec.deterministic else final,
            final_greedy=final if spec.deterministic else final_other,
            first=out["first"],
            last=out["last"],
            last_other=other,
            curve=out["curve"],
            train_steps=out["train_steps"],
        )
        if out.get("pass_k"):
            record["pass_k"] = out["pass_k"]
    except Exception as err:
        record.update(failed_record(spec, err))
    record["wall_time_s"] = time.time() - started
    record["finished_at"] = utc_timestamp()
    return record


def _record_header(spec: RunSpec) -> dict[str, Any]:
    return {"schema": RESULT_SCHEMA, "key": spec.key, "digest": spec.digest(), "spec": spec.to_dict()}


def failed_record(spec: RunSpec, err: BaseException) -> dict[str, Any]:
    """The record of a run that raised ``err``, in the run itself or in the worker (process
    or Ray task) that ran it; :func:`execute` adds its host and timings."""
    return {
        **_record_header(spec),
        "status": "failed",
        "error": f"{type(err).__name__}: {err}",
        "traceback": "".join(traceback.format_exception(type(err), err, err.__traceback__)),
        "final_return": float("nan"),
        "curve": [],
        "wall_time_s": float("nan"),
        "finished_at": utc_timestamp(),
    }


def utc_timestamp() -> str:
    """Now, in UTC, as ISO 8601 to the second: the time stamps of records and metadata."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
