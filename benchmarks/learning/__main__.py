"""``python -m benchmarks.learning NAME [options]`` runs ``benchmarks.learning.NAME``.

    python -m benchmarks.learning recommendation --steps 40000 --seeds 0 1 2
    python -m benchmarks.learning cartpole --algos ppo
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    names = sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if not m.name.startswith("_"))
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in names:
        given = f"unknown benchmark {argv[0]!r}; " if argv and argv[0] not in ("-h", "--help") else ""
        print(f"{given}usage: python -m benchmarks.learning NAME [options]; NAME is one of: {', '.join(names)}",
              file=sys.stderr)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    module = importlib.import_module(f"benchmarks.learning.{argv[0]}")
    return int(module.main(argv[1:]) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
