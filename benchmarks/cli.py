"""The ``lm-envs`` command line.

```
lm-envs list                                   envs, agents, rewards, models, presets
lm-envs demo                                   roll the default policy through each env
lm-envs bench --preset quick --out results/quick [--workers N] [--backend ray --address ADDR] [--device cuda] [--quiet]
lm-envs bench --config my.toml --out results/mine
lm-envs train --agent ppo --env lm_envs/TextGeneration-v1 --steps 2048 --reward '{"sentiment": 1.0}' --out runs/ppo [--device auto]
lm-envs report results/quick                   rewrite the CSVs, plots, report.md and report.html
lm-envs compress runs/sft --int8 --out runs/sft-int8   int8 linear layers (or --prune 0.3: magnitude pruning)
lm-envs hyperparams ppo CartPole-v1 [--policy NAME]   the settings an agent gets, and where each comes from
lm-envs tune --agent ppo --env CartPole-v1 --trials 50 --steps 50000 [--seeds 0 1] [--out DIR]
lm-envs serve lm_envs/CustomerServiceDialog-v1 [--host 127.0.0.1 --port 8000]   an OpenEnv server
```
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from pathlib import Path
from typing import Any

__all__ = ["UsageError", "build_parser", "main"]


class UsageError(ValueError):
    """Bad command-line input, reported before anything runs."""


def _cmd_list(_: argparse.Namespace) -> int:
    import lm_envs
    from benchmarks.presets import PRESETS
    from benchmarks.runs import AGENTS
    from lm_envs.models import MODELS
    from lm_envs.rewards import REWARDS

    print("envs:")
    for env_id in lm_envs.ENV_IDS:
        print(f"  {env_id}")
    print("agents:")
    for name, entry in AGENTS.items():
        print(f"  {name:<10} {entry.kind:<9} {entry.description}")
    print("rewards:")
    for name in sorted(REWARDS):
        print(f"  {name}")
    print("models:")
    for name in MODELS:
        print(f"  {name}")
    print("presets:")
    for name, preset in PRESETS.items():
        print(f"  {name:<10} {preset.get('description', '')}")
    print("hyperparameters: the learners' tuned settings per env and policy (agents/hyperparams/*.yml);")
    print("  lm-envs hyperparams ALGO ENV [--policy NAME] prints them, lm-envs tune searches new ones")
    return 0


def _cmd_hyperparams(args: argparse.Namespace) -> int:
    from agents.hyperparams import HyperparamsError, resolve

    from lm_envs.models import MODELS

    overrides = _json_arg("--agent-config", args.agent_config) or {}
    if not isinstance(overrides, dict):
        raise UsageError("--agent-config must be a JSON object")
    if args.policy not in ("auto", "mlp", *MODELS) and not Path(args.policy).is_dir():
        raise UsageError(f"unknown policy {args.policy!r}; use auto, mlp, a model name ({', '.join(MODELS)}) "
                         "or a model folder")
    try:
        resolved = resolve(args.algorithm, args.env, args.policy, overrides)
    except HyperparamsError as err:
        raise UsageError(str(err)) from None
    print(resolved.describe())
    return 0


def _cmd_tune(args: argparse.Namespace) -> int:
    from benchmarks.tune import TuneSettings, command_line, tune

    env_kwargs = _json_arg("--env-kwargs", args.env_kwargs) or {}
    fixed = _json_arg("--agent-config", args.agent_config) or {}
    if not isinstance(env_kwargs, dict) or not isinstance(fixed, dict):
        raise UsageError("--env-kwargs and --agent-config must be JSON objects")
    settings = TuneSettings(
        agent=args.agent, env=args.env, trials=args.trials, steps=args.steps, policy=args.policy,
        seeds=tuple(args.seeds), eval_every=args.eval_every, eval_episodes=args.eval_episodes, env_kwargs=env_kwargs,
        fixed=fixed, storage=args.storage, study_name=args.study_name, out=args.out, workers=args.workers,
        pruner=args.pruner, objective=args.objective, sampler_seed=args.sampler_seed,
        command=command_line(args.command_line),
    )
    summary = tune(settings, quiet=args.quiet)
    return 0 if summary["complete"] else 1


def _cmd_demo(args: argparse.Namespace) -> int:
    from benchmarks.demo import run_demo
    from lm_envs.models import load_policy

    try:
        model = load_policy(args.policy)
    except (ValueError, OSError) as err:  # an unknown name, no such folder, unreadable model files
        raise UsageError(f"--policy {args.policy!r}: {err}") from None
    run_demo(policy_name=args.policy, episodes=args.episodes, seed=args.seed, model=model)
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    import gymnasium as gym

    try:
        from lm_envs.integrations.openenv import check_loopback, create_app, serve_app
    except ImportError as err:
        raise UsageError(str(err)) from None
    env_kwargs = _json_arg("--env-kwargs", args.env_kwargs) or {}
    if not isinstance(env_kwargs, dict):
        raise UsageError("--env-kwargs must be a JSON object")
    try:
        host = check_loopback(args.host)
        app = create_app(args.env_id, env_kwargs=env_kwargs, max_sessions=args.max_sessions)
    except (gym.error.Error, TypeError, ValueError) as err:  # a bad host, id or kwargs, or not a token env
        raise UsageError(f"{type(err).__name__}: {err}") from None
    url_host = f"[{host}]" if ":" in host else host
    print(f"serving {args.env_id} at http://{url_host}:{args.port} (OpenEnv WebSocket sessions at /ws, one env each, "
          f"up to {args.max_sessions}); Ctrl-C stops", file=sys.stderr)
    serve_app(app, host=host, port=args.port)
    return 0


def _setup_logging(quiet: bool) -> None:
    # with progress bars only warnings (failed runs) are logged; --quiet swaps the bars
    # for one log line per finished run, which reads better in CI and cluster logs
    logging.basicConfig(level=logging.INFO if quiet else logging.WARNING, format="%(asctime)s %(levelname)s %(message)s",
                        stream=sys.stderr)
    logging.getLogger("lm_envs.bench").setLevel(logging.INFO if quiet else logging.WARNING)


def _cmd_bench(args: argparse.Namespace) -> int:
    from benchmarks.config import plan, resolve_config
    from benchmarks.suite import run_suite

    _setup_logging(args.quiet)
    config = resolve_config(preset=args.preset, config=args.config)
    specs = plan(config)  # refuse a bad config before creating any folder
    _device(args.device, here=args.backend == "local")  # a Ray cluster's GPUs are not visible here
    out = Path(args.out) if args.out else Path("results") / str(config.get("name", "bench"))
    if not args.quiet:
        print(f"{len(specs)} runs ({config.get('name')}) -> {out}", file=sys.stderr)
    from benchmarks.report import write_report
    from benchmarks.results import lock_out_dir

    with lock_out_dir(out):  # the report too: another bench must not rewrite it meanwhile
        summary = run_suite(config, out, workers=args.workers, backend=args.backend, address=args.address,
                            quiet=args.quiet, report=False, argv=args.command_line, device=args.device)
        tables = write_report(out)
    print(tables["summary_markdown"])
    for extra in ("groups_markdown", "aggregate_markdown"):
        if tables.get(extra):
            print()
            print(tables[extra])
    print(f"\n{summary['n_ok']} ok, {summary['n_failed']} failed, {summary['n_skipped']} already done; "
          f"{summary['wall_time_s']:.0f} s. Report: {out / 'report.md'} and {out / 'report.html'}")
    return 1 if summary["n_failed"] else 0


def _device(value: str, *, here: bool = True) -> Any:
    """``--device``'s ``torch.device`` (``None`` when ``here`` is false: only the name is checked)."""
    from benchmarks.runs import check_device

    try:
        return check_device(value, here=here)
    except ValueError as err:
        raise UsageError(str(err)) from None


def _json_arg(name: str, text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)  # data, never eval
    except json.JSONDecodeError as err:
        raise UsageError(f"{name} must be JSON, e.g. '{{\"sentiment\": 1.0}}'; got {text!r} ({err})") from None


def _max_examples(text: str) -> int:
    from agents.sft import MAX_EXAMPLES

    value = _positive_int(text)
    if value > MAX_EXAMPLES:
        raise argparse.ArgumentTypeError(f"must be <= {MAX_EXAMPLES}; got {value}")
    return value


def _train_data_options(args: argparse.Namespace, agent_config: dict[str, Any]) -> dict[str, Any]:
    """SFT's ``data``, ``columns`` and ``max_examples`` from ``--data`` and its column flags,
    the file read and its columns checked now, before any training (the errors name the file
    and the missing column)."""
    pairs = {"prompt": args.prompt_column, "response": args.response_column}
    flags = {"--prompt-column": args.prompt_column, "--response-column": args.response_column,
             "--messages-column": args.messages_column, "--max-examples": args.max_examples}
    given = [flag for flag, value in flags.items() if value is not None]
    if args.data is None:
        if given:
            raise UsageError(f"{', '.join(given)} describe(s) the --data file; give --data PATH too")
        return {}
    if args.agent != "sft":
        raise UsageError(f"--data is SFT's demonstrations; --agent {args.agent} learns from the env's reward")
    clash = [key for key in ("data", "columns", "max_examples") if key in agent_config]
    if clash:
        raise UsageError(f"--agent-config sets {', '.join(clash)}, which --data and its flags set; give one of them")
    if args.messages_column is not None:
        if any(value is not None for value in pairs.values()):
            raise UsageError("give --messages-column (chat transcripts) or --prompt-column and --response-column "
                             "(pairs), not both")
        columns = {"messages": args.messages_column}
    elif all(value is not None for value in pairs.values()):
        columns = pairs
    else:
        raise UsageError("--data needs its column mapping: --prompt-column COL --response-column COL (pairs), "
                         "or --messages-column COL (chat transcripts)")
    from agents.sft import demonstration_examples

    path = Path(args.data).expanduser().resolve()
    try:  # a missing file, a missing column or a bad row raises a DataError naming it
        examples, _ = demonstration_examples(path, columns, max_records=args.max_examples)
    except OSError as err:  # e.g. no read permission on a CSV
        raise UsageError(f"--data {path}: cannot be read ({err.strerror or err})") from None
    print(f"--data {path}: {len(examples)} demonstrations", file=sys.stderr)
    return {"data": str(path), "columns": columns, "max_examples": args.max_examples}


def _cmd_train(args: argparse.Namespace) -> int:
    from benchmarks.config import plan
    from benchmarks.results import write_result
    from benchmarks.runs import AGENTS, execute

    _setup_logging(True)
    entry = AGENTS.get(args.agent)
    if entry is None:
        raise UsageError(f"unknown agent {args.agent!r}; known: {', '.join(sorted(AGENTS))}")
    if entry.kind != "learner":
        raise UsageError(f"{args.agent!r} is a baseline: it is evaluated, not trained; learners: "
                         + ", ".join(n for n, e in AGENTS.items() if e.kind == "learner"))
    env_kwargs = _json_arg("--env-kwargs", args.env_kwargs) or {}
    reward = _json_arg("--reward", args.reward)
    if reward is not None:
        env_kwargs["reward"] = reward
    agent_config = _json_arg("--agent-config", args.agent_config) or {}
    if not isinstance(env_kwargs, dict) or not isinstance(agent_config, dict):
        raise UsageError("--env-kwargs and --agent-config must be JSON objects")
    if args.policy is not None:
        agent_config["policy"] = args.policy
    agent_config.update(_train_data_options(args, agent_config))
    config = {
        "name": "train", "seeds": [args.seed], "steps": args.steps, "eval_every": args.eval_every or args.steps,
        "eval_episodes": args.eval_episodes, "agents": {args.agent: agent_config},
        "envs": [{"id": args.env, "kwargs": env_kwargs, "agents": [args.agent]}],
    }
    device = _device(args.device)
    (spec,) = plan(config)
    spec = dataclasses.replace(spec, device=args.device)
    out = Path(args.out)
    from tqdm.auto import tqdm

    from benchmarks.results import lock_out_dir
    from benchmarks.runs import ProgressSink, init_worker

    with lock_out_dir(out):  # a file in the way or a read-only folder fails here, before training
        print(f"training {args.agent} on {args.env} for {args.steps} steps (seed {args.seed}, {device}) -> {out}",
              file=sys.stderr)
        with tqdm(total=spec.steps, desc="steps", unit="step", unit_scale=True, disable=args.quiet) as bar:
            init_worker(ProgressSink(bar), threads=None)  # one run: let torch use every core
            record = execute(spec, save_dir=str(out / "model"))
            init_worker(None)
        write_result(out, record)
    if record["status"] != "ok":
        print(record.get("traceback", record.get("error")), file=sys.stderr)
        return 1
    first, last = record["first"], record["last"]
    print(f"eval return: {first['reward_mean']:.4f} before -> {last['reward_mean']:.4f} after "
          f"({record['wall_time_s']:.0f} s); model in {out / 'model'}, result in {out / 'runs'}")
    for sample in last.get("samples", [])[:2]:
        print(f"  {str(sample.get('prompt', '')).strip()!r} -> {str(sample.get('completion', '')).strip()!r}")
    return 0


def _cmd_compress(args: argparse.Namespace) -> int:
    from lm_envs.models.compress import compress

    if not args.int8 and args.prune is None:
        raise UsageError("give --int8, --prune SHARE, or both")
    if args.prune is not None and not 0.0 < args.prune < 1.0:
        raise UsageError(f"--prune must be a share in (0, 1); got {args.prune}")
    if args.smooth is not None and not 0.0 <= args.smooth <= 1.0:
        raise UsageError(f"--smooth must be SmoothQuant's alpha in [0, 1]; got {args.smooth}")
    if args.no_smooth and args.smooth is not None:
        raise UsageError("give --smooth ALPHA or --no-smooth, not both")
    options = {"smooth": None} if args.no_smooth else {}  # compress's defaults for what is not given
    options |= {key: value for key, value in [("smooth", args.smooth), ("calibration", args.calibration),
                                              ("calibration_samples", args.calibration_samples)] if value is not None}
    try:
        out = compress(args.run_dir, args.out, int8=args.int8, prune=args.prune, tokenizer=args.tokenizer, **options)
    except (ValueError, FileNotFoundError) as err:
        raise UsageError(str(err)) from None
    size = sum(f.stat().st_size for f in out.iterdir() if f.is_file())
    print(f"wrote {out} ({size / 1e6:.1f} MB); load it with load_policy({str(out)!r}) or policy={str(out)!r}")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from benchmarks.report import write_report

    _setup_logging(False)  # files skipped as unreadable or tampered are named on stderr

    tables = write_report(args.results_dir)
    print(tables["summary_markdown"])
    print(f"\nwrote {Path(args.results_dir) / 'report.md'} and {Path(args.results_dir) / 'report.html'}")
    return 0


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer; got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1; got {value}")
    return value


def _demo_episodes(text: str) -> int:
    from benchmarks.demo import MAX_DEMO_EPISODES

    value = _positive_int(text)
    if value > MAX_DEMO_EPISODES:
        raise argparse.ArgumentTypeError(f"must be <= {MAX_DEMO_EPISODES}; got {value}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer; got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0; got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lm-envs", description="Token-level Gymnasium envs for language models.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="print envs, agents, rewards, models and benchmark presets").set_defaults(run=_cmd_list)

    demo = commands.add_parser("demo", help="roll the default policy through each env and print text and rewards")
    demo.add_argument("--policy", default="tiny-shop", help="policy model name or local path (default: tiny-shop)")
    demo.add_argument("--episodes", type=_demo_episodes, default=2, help="episodes per env, 1 to 64 (default: 2)")
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(run=_cmd_demo)

    bench = commands.add_parser("bench", help="run a benchmark preset or config: every (agent, env, seed)")
    source = bench.add_mutually_exclusive_group(required=True)
    source.add_argument("--preset", help="smoke, quick or full (see `lm-envs list`)")
    source.add_argument("--config", help="a TOML or YAML benchmark config (see benchmarks/presets.py)")
    bench.add_argument("--out", help="RESULTS_DIR (default: results/<config name>); rerunning resumes")
    bench.add_argument("--workers", type=_non_negative_int, default=None,
                       help="parallel worker processes (default: the number of usable CPU cores; "
                            "0 runs everything in this process, for debugging)")
    bench.add_argument("--backend", choices=("local", "ray"), default="local",
                       help="local processes, or one Ray task per run (pip install 'lm-envs[ray]')")
    bench.add_argument("--address", default=None, help="Ray cluster address, e.g. auto or ray://head:10001")
    bench.add_argument("--device", default="cpu",
                       help="where every run trains: cpu (default), cuda, cuda:N or auto (cuda when a worker sees "
                            "one); local workers share this machine's GPU")
    bench.add_argument("--quiet", action="store_true", help="no progress bars; one log line per finished run")
    bench.set_defaults(run=_cmd_bench)

    train = commands.add_parser("train", help="train one agent on one env and save it")
    train.add_argument("--agent", required=True, help="reinforce, a2c, ppo, ddpg or sft (--steps: trained agent tokens)")
    train.add_argument("--env", required=True, help="an env id, e.g. lm_envs/TextGeneration-v1")
    train.add_argument("--steps", type=_positive_int, required=True, help="training env steps")
    train.add_argument("--reward", default=None, help="reward spec as JSON, e.g. '{\"sentiment\": 1.0}'")
    train.add_argument("--env-kwargs", default=None, help="other env kwargs as JSON, e.g. '{\"max_new_tokens\": 16}'")
    train.add_argument("--agent-config", default=None, help="overrides of the hyperparameter table's settings as JSON, "
                                                             "e.g. '{\"learning_rate\": 1e-5}'")
    train.add_argument("--policy", default=None, help="auto, mlp or an LM name (default: auto)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--eval-every", type=_positive_int, default=None, help="steps between evaluations")
    train.add_argument("--eval-episodes", type=_positive_int, default=16)
    train.add_argument("--out", required=True, help="folder for model/, runs/<run>.json and the curve")
    train.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:N or auto (cuda when present): "
                                                        "where the policy, its sampler and the update run")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.add_argument("--data", default=None, metavar="PATH",
                       help="sft: demonstrations from a CSV, TSV, JSON or JSONL file instead of the env's expert")
    train.add_argument("--prompt-column", default=None, metavar="COL",
                       help="--data's prompt column (with --response-column)")
    train.add_argument("--response-column", default=None, metavar="COL",
                       help="--data's response column (the agent's text)")
    train.add_argument("--messages-column", default=None, metavar="COL",
                       help="--data's column of whole chat transcripts (lists of {role, content}, or their JSON)")
    train.add_argument("--max-examples", type=_max_examples, default=None, metavar="N",
                       help="use only --data's first N rows (default: all)")
    train.set_defaults(run=_cmd_train)

    compress = commands.add_parser("compress", help="write a smaller copy of a trained policy that every agent and env "
                                                    "loads: int8 linear layers and/or magnitude pruning")
    compress.add_argument("run_dir", help="a policy folder (SFT's or an RL agent's save), a run folder of lm-envs train, "
                                          "or a model name")
    compress.add_argument("--int8", action="store_true", help="int8 dynamic quantisation of the linear layers")
    compress.add_argument("--prune", type=float, default=None, metavar="SHARE",
                          help="set this share in (0, 1) of each linear weight's smallest entries to 0")
    compress.add_argument("--out", required=True, help="the compressed policy folder")
    compress.add_argument("--tokenizer", default=None, metavar="NAME",
                          help="the tokenizer to write with it (default: the source's; an RL agent's: its env's)")
    compress.add_argument("--smooth", type=float, default=None, metavar="ALPHA",
                          help="with --int8, SmoothQuant's migration strength in [0, 1]: the layers' inputs are "
                               "smoothed before int8 (default: lm_envs.models.int8.DEFAULT_SMOOTH_ALPHA)")
    compress.add_argument("--no-smooth", action="store_true", help="plain dynamic int8, no smoothing")
    compress.add_argument("--calibration", default=None, metavar="ENV_ID",
                          help="the token env whose reset prompts calibrate the smoothing (default: "
                               "lm_envs.models.compress.CALIBRATION_ENV, the customer-service dialog)")
    compress.add_argument("--calibration-samples", type=int, default=None, metavar="N",
                          help="prompts that calibrate the smoothing, 1 to 1024 (default: compress's, 32)")
    compress.set_defaults(run=_cmd_compress)

    report = commands.add_parser("report", help="rewrite the tables, plots and report of a RESULTS_DIR")
    report.add_argument("results_dir")
    report.set_defaults(run=_cmd_report)

    hyper = commands.add_parser("hyperparams", help="print the settings an agent gets on an env, field by field, "
                                                    "and where each value comes from")
    hyper.add_argument("algorithm", help="reinforce, a2c, ppo, ddpg or sft")
    hyper.add_argument("env", help="an env id, e.g. lm_envs/TextGeneration-v0 or CartPole-v1")
    hyper.add_argument("--policy", default="auto", help="auto (tiny-shop on token envs, else mlp), mlp or an LM name")
    hyper.add_argument("--agent-config", default=None, help="overrides as JSON, e.g. '{\"learning_rate\": 1e-5}'")
    hyper.set_defaults(run=_cmd_hyperparams)

    tune = commands.add_parser("tune", help="search an agent's hyperparameters on an env with Optuna "
                                            "(pip install 'lm-envs[tune]'); rerunning resumes the study")
    tune.add_argument("--agent", required=True, help="reinforce, a2c, ppo, ddpg or sft")
    tune.add_argument("--env", required=True, help="an env id, e.g. CartPole-v1 or lm_envs/ProductRecommendation-v0")
    tune.add_argument("--trials", type=int, required=True, help="finished (complete or pruned) trials the study ends with")
    tune.add_argument("--policy", default="auto", help="auto, mlp or an LM name (default: auto)")
    tune.add_argument("--steps", type=int, default=10_000, help="training env steps per run (default: 10,000)")
    tune.add_argument("--seeds", type=int, nargs="+", default=[0], help="one run per seed in every trial (default: 0)")
    tune.add_argument("--eval-every", type=int, default=None,
                      help="steps between the evaluations reported to the pruner (default: a quarter of --steps)")
    tune.add_argument("--eval-episodes", type=int, default=16, help="episodes per evaluation (default: 16)")
    tune.add_argument("--env-kwargs", default=None, help="env kwargs as JSON, e.g. '{\"max_steps\": 20}'")
    tune.add_argument("--agent-config", default=None, help="fields fixed for every trial (not searched), as JSON")
    tune.add_argument("--storage", default=None, help="the study's SQLite file (default: OUT/study.db) or a database URL")
    tune.add_argument("--study-name", default=None, help="default: AGENT-ENV-POLICY")
    tune.add_argument("--out", default=None, help="folder for the study, trials.csv and the best entry "
                                                  "(default: tune/AGENT-ENV-POLICY)")
    tune.add_argument("--workers", type=int, default=1, help="processes running trials side by side, sharing the study; "
                                                          "each may start one trial past --trials (default: 1)")
    tune.add_argument("--pruner", choices=("median", "halving", "none"), default="median",
                      help="stop poor trials early: the median rule or successive halving (default: median)")
    tune.add_argument("--objective", choices=("mean", "iqm"), default="mean",
                      help="a trial's score over its seeds' final returns (default: mean)")
    tune.add_argument("--sampler-seed", type=int, default=0, help="seed of Optuna's TPE sampler (default: 0)")
    tune.add_argument("--quiet", action="store_true", help="no progress bar or per-trial lines")
    tune.set_defaults(run=_cmd_tune)

    serve = commands.add_parser("serve", help="serve a token env over OpenEnv's WebSocket protocol, one env per "
                                              "client session (pip install 'lm-envs[serve]')")
    serve.add_argument("env_id", help="a token env id, e.g. lm_envs/CustomerServiceDialog-v1")
    serve.add_argument("--host", default="127.0.0.1", help="a loopback address: 127.0.0.1 (default), ::1 or localhost")
    serve.add_argument("--port", type=_non_negative_int, default=8000, help="default: 8000")
    serve.add_argument("--env-kwargs", default=None, help="env kwargs as JSON, e.g. '{\"max_new_tokens\": 64}'")
    serve.add_argument("--max-sessions", type=_positive_int, default=64, help="concurrent client sessions (default: 64)")
    serve.set_defaults(run=_cmd_serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.command_line = ["lm-envs", *(sys.argv[1:] if argv is None else argv)]
    from benchmarks.presets import ConfigError
    from benchmarks.results import OutputError
    from benchmarks.tune import TuneError
    from lm_envs.data import DataError

    try:
        return args.run(args)
    except (ConfigError, UsageError, TuneError, OutputError, DataError, FileNotFoundError) as err:
        print(f"lm-envs {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if args.command == "bench":
            print("\nlm-envs bench: interrupted; finished runs are saved: rerun the same command to resume",
                  file=sys.stderr)
        if args.command == "tune":
            print("\nlm-envs tune: interrupted; finished trials are in the study: rerun the same command to resume",
                  file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
