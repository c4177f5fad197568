"""The README's env loop runs as printed, the README stays short, and the docs' links resolve."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
ENV_LOOP_MARKER = "<!-- env-loop: tests/test_readme.py runs this block -->"
MAX_README_LINES = 300

# [text](target) and ![alt](target); the target ends at the first space or closing parenthesis
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


def env_loop_snippet(text: str) -> str:
    """The python block that follows the env-loop marker."""
    start = text.index(ENV_LOOP_MARKER) + len(ENV_LOOP_MARKER)
    block = re.compile(r"\s*```python\n(.*?)^```", re.MULTILINE | re.DOTALL).match(text, start)
    assert block is not None, f"no ```python block right after {ENV_LOOP_MARKER!r} in README.md"
    return block.group(1)


def relative_links(path: Path) -> list[str]:
    """Link targets of a markdown file that point into the repository (code blocks skipped)."""
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    targets = [m.group(1) for m in LINK.finditer(text)]
    return [t for t in targets if not re.match(r"^([a-z][a-z0-9+.-]*:|#)", t, re.IGNORECASE)]


@pytest.mark.slow
def test_env_loop_prints_a_completion_and_reward_terms() -> None:
    snippet = env_loop_snippet(README.read_text(encoding="utf-8"))
    # after the snippet, report what it left in `info` on one tagged line
    probe = ('\nimport json as _json\nprint("@@README@@" + _json.dumps('
             '{"completion": info["completion"], "reward_terms": info["reward_terms"]}))\n')
    env = os.environ | {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TQDM_DISABLE": "1"}
    result = subprocess.run([sys.executable, "-c", snippet + probe], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    printed, _, tagged = result.stdout.rpartition("@@README@@")
    report = json.loads(tagged)
    completion, terms = report["completion"], report["reward_terms"]
    assert completion.strip(), f"the README's env loop wrote an empty completion; it printed:\n{printed}"
    assert completion in printed, "the README's env loop does not print info['completion']"
    assert terms and all(isinstance(v, (int, float)) for v in terms.values()), terms
    assert str(terms) in printed or all(name in printed for name in terms), "reward terms not printed"


def test_readme_is_short() -> None:
    n_lines = len(README.read_text(encoding="utf-8").splitlines())
    assert n_lines < MAX_README_LINES, f"README.md has {n_lines} lines; keep it under {MAX_README_LINES} (details go to docs/)"


@pytest.mark.parametrize("path", [README, *DOCS], ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_resolve_inside_the_repository(path: Path) -> None:
    broken = []
    for target in relative_links(path):
        resolved = (path.parent / target.split("#", 1)[0]).resolve()
        if not resolved.exists() or not resolved.is_relative_to(ROOT):
            broken.append(target)
    assert not broken, f"{path.relative_to(ROOT)}: links to missing files or outside the repository: {broken}"


@pytest.mark.parametrize("path", [README, *DOCS], ids=lambda p: p.relative_to(ROOT).as_posix())
def test_docs_do_not_narrate_development_history(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    found = re.findall(r"\bsession \d+|\bsessions \d|NOT met|earlier round", text, re.IGNORECASE)
    assert not found, f"{path.relative_to(ROOT)} narrates history ({found}); that belongs in commit messages"
