#!/usr/bin/env bash
# Score the LLM and hybrid engines with the local real model (SmolLM2-135M-Instruct Q4_1 served by
# xllamacpp's embedded llama.cpp server, installed by tests/llm/setup.sh), on a subset of the corpus.
#
#   tests/tools/eval_llm.sh [KUBEGUARD_BINARY] [APP...]     (default apps: bookinfo controllers)
#
# Starts the server on a free loopback port, writes a throw-away config (json_object structured
# output, temperature 0, answer cache off so every chain really runs), runs
# `kubeguard eval --engine llm --engine hybrid --app ...` and stops the server. Output: the eval
# table (markdown) on stdout, JSON in $OUT (default /tmp/kubeguard-eval-llm.json).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
KG="${1:-$ROOT/target/release/kubeguard}"
shift || true
APPS=("$@")
[ ${#APPS[@]} -eq 0 ] && APPS=(bookinfo controllers)
CACHE="${KUBEGUARD_TEST_CACHE:-$HOME/.cache/kubeguard-tests}/llm"
PY="$CACHE/venv/bin/python"
GGUF="$CACHE/SmolLM2-135M-Instruct.Q4_1.gguf"
if [ ! -x "$PY" ] || [ ! -f "$GGUF" ]; then bash "$ROOT/tests/llm/setup.sh"; fi
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
WORK="$(mktemp -d)"
"$PY" "$ROOT/tests/llm/serve.py" "$GGUF" 127.0.0.1 "$PORT" >"$WORK/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 1 600); do
  curl -fs "http://127.0.0.1:$PORT/v1/models" >/dev/null 2>&1 && break
  kill -0 $SERVER 2>/dev/null || { cat "$WORK/server.log" >&2; exit 1; }
  sleep 0.5
done
cat >"$WORK/config.toml" <<TOML
[llm]
base_url = "http://127.0.0.1:$PORT/v1"
model = "SmolLM2-135M-Instruct"
structured_output = "json_object"
temperature = 0.0
max_tokens = 512
max_repairs = 1
timeout_secs = 900
cache = false
TOML
ARGS=()
for a in "${APPS[@]}"; do ARGS+=(--app "$a"); done
OUT="${OUT:-/tmp/kubeguard-eval-llm.json}"
start=$(date +%s)
KUBEGUARD_CONFIG="$WORK/config.toml" "$KG" eval --corpus "$ROOT/tests/data/corpus" --engine llm --engine hybrid \
  "${ARGS[@]}" --format json >"$OUT"
KUBEGUARD_CONFIG="$WORK/config.toml" "$KG" eval --corpus "$ROOT/tests/data/corpus" --engine deterministic \
  "${ARGS[@]}" --format json >"$OUT.det"
python3 - "$OUT" "$OUT.det" <<'PY'
import json, sys
rows = []
for f in sys.argv[1:]:
    rows += [r for r in json.load(open(f))["rows"] if r["app"] == "*"]
print("| engine | task | resource | units | TP | FP | FN | P | R | F1 |")
print("|---|---|---|---|---|---|---|---|---|---|")
for r in sorted(rows, key=lambda r: (r["task"], r["kind"], r["engine"])):
    c, m = r["counts"], r["micro"]
    print("| %s | %s | %s | %d | %d | %d | %d | %.3f | %.3f | %.3f |" % (r["engine"], r["task"], r["kind"], r["units"],
          c["tp"], c["fp"], c["fn"], m["precision"], m["recall"], m["f1"]))
errs = json.load(open(sys.argv[1]))["errors"]
print("\nengine errors: %d" % len(errs))
for t, e in errs[:20]:
    print("- %s: %s" % (t, e[:200]))
PY
echo "apps: ${APPS[*]}; wall time $(( $(date +%s) - start )) s (llm + hybrid + deterministic)"
