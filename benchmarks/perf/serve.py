"""The OpenEnv server under load: many concurrent client sessions on loopback, next to the same
env stepped in this process.

1. Start ``lm-envs serve ENV --port P`` as a child process on a free loopback port (127.0.0.1
   only) and wait for its ``/health``.
2. Open ``--clients`` WebSocket sessions with OpenEnv's async client (`LMEnvClient`), all in
   one event loop, each reset with its own seed (``seed + i``). Every session sends
   ``--steps`` step messages, in two phases: one utterance per message (``text``: one agent
   turn on the dialog) and one token id per message (``tokens``). Actions are a fixed
   function of (session, step), and a finished episode is reset with the next seed of the
   session. Per step: the round-trip latency; per phase: steps/s over the phase's wall time,
   p50 / p99 latency and the number of error responses or failed calls (goal: 0).
3. In this process, replay each session's actions and resets on its own env
   (`lm_envs.wrappers.TextActions` over ``gym.make``), timing each step: the in-process
   baseline. A session whose every observation (the context token ids) and reward equal its
   replay saw only its own episodes: the script prints how many sessions match (goal: all),
   which shows that no session saw another's text.
4. Under load, the served p50 latency minus the in-process p50 step time is what a step costs
   a client beyond the env's own work (protocol and queueing behind the other sessions).
5. The server's own overhead per step, without load: one session steps the same fixed
   actions (``--overhead-steps`` utterances from seed ``--seed``, reset when an episode
   ends) through the server, then the same in this process, in alternating rounds (served,
   in-process, served, ... ``--rounds`` each). Printed: median ms per step of each side, the
   ratio served / in-process (median with the per-pair min-max) and the difference.
6. Stop the server (SIGINT, then SIGKILL after a timeout), whatever happened.

The clients and the server share the machine: on 2 cores the 64 sessions' client work
competes with the server for CPU, so the served figures are a lower bound. The server and
its envs run on the CPU whatever ``--device`` says (an env holds token ids in numpy; no
policy runs here); the flag is checked and printed, for a uniform command line. A model-based
reward (``fluency``) takes its own ``device`` in the reward spec of ``--env-kwargs``.

    python -m benchmarks.perf serve
    python -m benchmarks.perf serve --env lm_envs/TextGeneration-v1 --clients 16 --steps 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

import lm_envs  # noqa: F401  (registers the ids)
from benchmarks.perf import rounds
from benchmarks.runs import check_device
from lm_envs.wrappers import TextActions

ROOT = Path(__file__).resolve().parents[2]

UTTERANCES = (
    "Hello, I can help with that.",
    "Could you give me your order number?",
    "Could you tell me the email on your account?",
    "Thanks, let me check that for you.",
    "I have issued a refund for your order.",
    "Is there anything else I can do?",
)


@dataclass
class Session:
    """What one client session sent and saw."""

    index: int
    seeds: list[int] = field(default_factory=list)  # the seed of each reset
    actions: list[dict[str, Any]] = field(default_factory=list)  # step messages, None marks a reset
    seen: list[tuple[list[int], float | None, bool]] = field(default_factory=list)  # (context ids, reward, done)
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server_process(env_id: str, port: int, sessions: int, env_kwargs: dict[str, Any], timeout: float) -> subprocess.Popen:
    """``lm-envs serve`` in a child process, once its ``/health`` answers."""
    command = [sys.executable, "-m", "benchmarks.cli", "serve", env_id, "--port", str(port),
               "--max-sessions", str(sessions), "--env-kwargs", json.dumps(env_kwargs)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with code {process.returncode}: {process.stderr.read()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as response:
                if response.status == 200:
                    return process
        except OSError:
            pass
        if time.monotonic() > deadline:
            stop_server_process(process)
            raise RuntimeError(f"the server did not answer /health within {timeout} s")
        time.sleep(0.2)


def stop_server_process(process: subprocess.Popen, timeout: float = 20.0) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def action_for(kind: str, session: int, step: int, vocab: np.ndarray, stop_id: int) -> dict[str, Any]:
    """The step message of ``session`` at ``step``: a fixed function of both."""
    if kind == "text":
        return {"type": "text", "text": UTTERANCES[(session + step) % len(UTTERANCES)]}
    # a stop token now and then, so token episodes end at EOS as well as at the budget
    rng = np.random.default_rng([session, step])
    token = stop_id if rng.random() < 1 / 24 else int(vocab[rng.integers(len(vocab))])
    return {"type": "tokens", "tokens": [token]}


class StartLine:
    """Holds every session at the start until all are connected and reset, so the timed phase
    measures stepping, not connecting."""

    def __init__(self, sessions: int) -> None:
        self.waiting, self.go = sessions, asyncio.Event()
        self.started = 0.0

    async def ready(self) -> None:
        self.waiting -= 1
        if self.waiting == 0:
            self.started = time.perf_counter()
            self.go.set()
        await self.go.wait()


async def run_session(url: str, kind: str, index: int, steps: int, seed: int, vocab: np.ndarray, stop_id: int,
                      start_line: StartLine) -> Session:
    from lm_envs.integrations.openenv import LMEnvAction, LMEnvClient

    record = Session(index)
    next_seed = seed + index * 10_000  # each session its own seeds: its episodes are its own
    client = LMEnvClient(base_url=url, message_timeout_s=120.0)
    joined = False
    try:
        async with client:
            record.seeds.append(next_seed)
            result = await client.reset(seed=next_seed)
            record.actions.append({})
            record.seen.append((result.observation.input_ids, None, False))
            joined = True
            await start_line.ready()
            for step in range(steps):
                message = action_for(kind, index, step, vocab, stop_id)
                start = time.perf_counter()
                try:
                    result = await client.step(LMEnvAction(**message))
                except RuntimeError as err:  # an error response: the session stays open
                    record.errors.append(str(err))
                    continue
                record.latencies.append(time.perf_counter() - start)
                record.actions.append(message)
                record.seen.append((result.observation.input_ids, result.reward, result.done))
                if result.done:
                    next_seed += 1
                    record.seeds.append(next_seed)
                    result = await client.reset(seed=next_seed)
                    record.actions.append({})
                    record.seen.append((result.observation.input_ids, None, False))
    except Exception as err:  # noqa: BLE001  any failure (connection, protocol, timeout) is this client's error, counted and printed
        record.errors.append(f"{type(err).__name__}: {err}")
        if not joined:
            await start_line.ready()  # don't hold the others at the start
    return record


async def run_phase(url: str, kind: str, sessions: int, steps: int, seed: int, vocab: np.ndarray,
                    stop_id: int) -> tuple[list[Session], float, float]:
    """The sessions' records, the seconds to connect and reset them all, and the seconds of stepping."""
    start_line = StartLine(sessions)
    start = time.perf_counter()
    records = await asyncio.gather(*(run_session(url, kind, i, steps, seed, vocab, stop_id, start_line)
                                     for i in range(sessions)))
    end = time.perf_counter()
    return list(records), start_line.started - start, end - start_line.started


def replay(env_id: str, env_kwargs: dict[str, Any], record: Session) -> tuple[bool, list[float]]:
    """Replay a session in this process: (every observation and reward equal, step times)."""
    env = TextActions(gym.make(env_id, **env_kwargs))
    seeds = iter(record.seeds)
    times: list[float] = []
    same = True
    for message, (seen_ids, seen_reward, seen_done) in zip(record.actions, record.seen, strict=True):
        if not message:  # a reset
            obs, _ = env.reset(seed=next(seeds))
            reward, done = None, False
        else:
            start = time.perf_counter()
            if message["type"] == "text":
                obs, reward, terminated, truncated, _ = env.step(message["text"])
            else:
                obs, reward, terminated, truncated, _ = env.step_tokens(message["tokens"], one_turn=False)
            times.append(time.perf_counter() - start)
            reward, done = float(reward), bool(terminated or truncated)
        ids = np.asarray(obs["input_ids"])[np.asarray(obs["attention_mask"]) == 1].tolist()
        same = same and ids == seen_ids and done == seen_done and (reward is None or np.isclose(reward, seen_reward))
    env.close()
    return same, times


def overhead_round(served: bool, url: str, env_id: str, env_kwargs: dict[str, Any], steps: int, seed: int) -> float:
    """Seconds per step of one session stepping ``steps`` fixed utterances, through the server or in this process."""
    from lm_envs.integrations.openenv import LMEnvAction, LMEnvClient

    texts = [UTTERANCES[i % len(UTTERANCES)] for i in range(steps)]
    total = 0.0
    if served:
        with LMEnvClient(base_url=url, message_timeout_s=120.0).sync() as client:
            client.reset(seed=seed)
            for i, text in enumerate(texts):
                start = time.perf_counter()
                result = client.step(LMEnvAction(type="text", text=text))
                total += time.perf_counter() - start
                if result.done:
                    client.reset(seed=seed + i + 1)
    else:
        env = TextActions(gym.make(env_id, **env_kwargs))
        env.reset(seed=seed)
        for i, text in enumerate(texts):
            start = time.perf_counter()
            _, _, terminated, truncated, _ = env.step(text)
            total += time.perf_counter() - start
            if terminated or truncated:
                env.reset(seed=seed + i + 1)
        env.close()
    return total / steps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.perf serve", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="lm_envs/CustomerServiceDialog-v1")
    parser.add_argument("--env-kwargs", default="{}", help="env kwargs as JSON")
    parser.add_argument("--clients", type=int, default=64, help="concurrent clients, one WebSocket session each (default: 64)")
    parser.add_argument("--steps", type=int, default=32, help="step messages per session and phase (default: 32)")
    parser.add_argument("--phases", nargs="+", choices=("text", "tokens"), default=["text", "tokens"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--startup-timeout", type=float, default=180.0)
    parser.add_argument("--overhead-steps", type=int, default=64, help="steps per round of the one-session overhead "
                        "measurement (default: 64)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per side of it (default: 3)")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:N or auto; the server and its envs "
                                                        "run on the CPU whatever it says (no policy runs here)")
    args = parser.parse_args(argv)
    try:
        check_device(args.device)
    except ValueError as err:
        parser.error(str(err))
    if args.clients < 1 or args.steps < 1 or args.overhead_steps < 1:
        parser.error("--clients, --steps and --overhead-steps must be >= 1")
    if args.rounds < 3:
        parser.error("--rounds must be >= 3 (a median and a spread need them)")
    env_kwargs = json.loads(args.env_kwargs)

    template = TextActions(gym.make(args.env, **env_kwargs))
    tokenizer = template.token_env.tokenizer
    special = set(tokenizer.all_special_ids) | set(template.token_env.stop_token_ids)
    vocab = np.array([t for t in range(template.token_env.vocab_size) if t not in special])
    stop_id = template.turn_end_id
    template.close()

    from lm_envs.integrations.openenv import LMEnvClient  # noqa: F401  (imported before any clock starts)

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    print(rounds.machine_line(dtype="-", device="cpu") + f" (--device {args.device}: envs run on the CPU)")
    print(f"== OpenEnv server: {args.env}, {args.clients} concurrent sessions x {args.steps} steps per phase, "
          f"loopback {url}, server in a child process, clients in one asyncio loop here; {os.cpu_count()} CPUs")
    process = start_server_process(args.env, port, args.clients, env_kwargs, args.startup_timeout)
    try:
        results = {}
        for kind in args.phases:
            results[kind] = asyncio.run(run_phase(url, kind, args.clients, args.steps, args.seed, vocab, stop_id))
        # A B A B: benchmarks.perf.rounds without the warm-up or the order swap, as before
        figures = rounds.alternate(
            {side: (lambda r, served=served: overhead_round(served, url, args.env, env_kwargs, args.overhead_steps, args.seed))
             for side, served in (("served", True), ("in-process", False))},
            args.rounds, warmup=False, flip=False,
        )  # fmt: skip
        overhead = {True: figures["served"], False: figures["in-process"]}
    finally:
        stop_server_process(process)
    print(f"server stopped (exit code {process.returncode})")

    header = f"{'phase':<7} {'steps':>6} {'resets':>6} {'connect s':>9} {'steps/s':>8} {'p50 ms':>7} {'p99 ms':>7} " \
             f"{'errors':>6} {'own text':>9} {'in-proc p50 ms':>15} {'overhead/step ms':>17}"
    print(header)
    all_match = True
    total_errors = 0
    for kind, (records, connect, wall) in results.items():
        latencies = np.array([x for r in records for x in r.latencies]) * 1e3
        errors = sum(len(r.errors) for r in records)
        total_errors += errors
        matches, local = 0, []
        for record in records:
            same, times = replay(args.env, env_kwargs, record)
            matches += bool(same and not record.errors)
            local += times
        all_match = all_match and matches == len(records)
        local_ms = np.array(local) * 1e3
        p50 = float(np.percentile(latencies, 50)) if latencies.size else float("nan")
        p99 = float(np.percentile(latencies, 99)) if latencies.size else float("nan")
        local_p50 = float(np.percentile(local_ms, 50)) if local_ms.size else float("nan")
        resets = sum(len(r.seeds) - 1 for r in records)
        print(f"{kind:<7} {latencies.size:>6} {resets:>6} {connect:>9.2f} {latencies.size / wall:>8.0f} {p50:>7.2f} "
              f"{p99:>7.2f} {errors:>6} "
              f"{matches:>4}/{len(records):<4} {local_p50:>15.3f} {p50 - local_p50:>17.2f}")
        for record in records:
            for error in record.errors[:1]:
                print(f"  session {record.index}: {error}")
    served_ms, local_ms = np.array(overhead[True]) * 1e3, np.array(overhead[False]) * 1e3
    pairs = served_ms / local_ms
    print(f"one session, {args.overhead_steps} utterance steps per round, {args.rounds} rounds each, alternating "
          f"(served, in-process, ...): served {np.median(served_ms):.2f} ms/step, in-process {np.median(local_ms):.2f} "
          f"ms/step; ratio served/in-process {np.median(served_ms) / np.median(local_ms):.2f} (per-pair min-max "
          f"{pairs.min():.2f}-{pairs.max():.2f}); server overhead {np.median(served_ms) - np.median(local_ms):.2f} ms/step")
    print(rounds.ratio_line("median of per-round ratios served / in-process, s per step", list(served_ms), list(local_ms)))
    print(f"sessions that saw exactly their own episodes (observations and rewards equal to an in-process replay of "
          f"their own seeds and actions): {'all' if all_match else 'NOT all'}; errors: {total_errors} (goal 0)")
    return 0 if all_match and total_errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
