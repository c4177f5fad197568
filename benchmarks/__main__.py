"""``python -m benchmarks ARGS`` is ``lm-envs bench ARGS``, e.g. ``python -m benchmarks --preset smoke``."""

import sys

from benchmarks.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
