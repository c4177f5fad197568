"""``python -m benchmarks.perf {env,...}``: run one speed benchmark and print its figures."""

from __future__ import annotations

import argparse
import importlib
import sys

# name -> module with a main(argv) function
BENCHMARKS = {
    "env": "benchmarks.perf.env_speed",
    "rollout": "benchmarks.perf.rollout",
    "forward": "benchmarks.perf.forward",
    "memory": "benchmarks.perf.memory",
    "scale": "benchmarks.perf.scale",
    "peers": "benchmarks.perf.peers",
    "profile": "benchmarks.perf.profile",
    "update": "benchmarks.perf.update",
    "serve": "benchmarks.perf.serve",
    "trl": "benchmarks.perf.trl",
    "compress": "benchmarks.perf.compress",
    "smoothing": "benchmarks.perf.smoothing",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.perf", description=__doc__)
    parser.add_argument("benchmark", choices=sorted(BENCHMARKS))
    args, rest = parser.parse_known_args(argv)
    return importlib.import_module(BENCHMARKS[args.benchmark]).main(rest)


if __name__ == "__main__":
    sys.exit(main())
