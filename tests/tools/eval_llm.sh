#!/usr/bin/env bash
# Score the LLM and hybrid engines with the local real model (SmolLM2-135M-Instruct Q4_1 served by
# xllamacpp's embedded llama.cpp server, installed by tests/llm/setup.sh), beside the deterministic
# engine, on a documented subset of the corpus (a 135M model on 2 shared cores answers at 0.3-30
# tokens/s, so the whole corpus would take hours).
#
#   tests/tools/eval_llm.sh [KUBEGUARD_BINARY]
#   SUBSETS="controllers:create:role bookinfo:create:networkpolicy" tests/tools/eval_llm.sh
#
# Each subset APP:TASK:KIND is one `kubeguard eval --engine llm --engine hybrid --engine
# deterministic --app APP --task TASK --kind KIND --format json` run (JSON kept in $OUT_DIR,
# default /tmp/kubeguard-eval-llm); a table of all rows is printed at the end. Starts the server on
# a free loopback port with $LLM_THREADS threads (default 1: on a loaded machine llama.cpp's
# thread barriers make 2 threads slower than 1) and a throw-away config (json_object structured
# output, temperature 0, max_tokens 256, one repair, answer cache off so every chain really runs),
# and stops it at the end.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
KG="${1:-$ROOT/target/release/kubeguard}"
SUBSETS="${SUBSETS:-controllers:create:role bookinfo:create:networkpolicy aks-store-demo:refine:deployment}"
OUT_DIR="${OUT_DIR:-/tmp/kubeguard-eval-llm}"
LLM_THREADS="${LLM_THREADS:-1}"
mkdir -p "$OUT_DIR"
CACHE="${KUBEGUARD_TEST_CACHE:-$HOME/.cache/kubeguard-tests}/llm"
PY="$CACHE/venv/bin/python"
GGUF="$CACHE/SmolLM2-135M-Instruct.Q4_1.gguf"
if [ ! -x "$PY" ] || [ ! -f "$GGUF" ]; then bash "$ROOT/tests/llm/setup.sh"; fi
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
WORK="$(mktemp -d)"
"$PY" - "$GGUF" "$PORT" "$LLM_THREADS" >"$WORK/server.log" 2>&1 <<'PY' &
import sys, time, xllamacpp as xlc
p = xlc.CommonParams()
p.model.path = sys.argv[1]
p.n_ctx = 8192
p.port = int(sys.argv[2])
p.hostnames = ["127.0.0.1"]
p.cpuparams.n_threads = int(sys.argv[3])
s = xlc.Server(p)
print("started", flush=True)
while True:
    time.sleep(3600)
PY
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
max_tokens = 256
max_repairs = 1
timeout_secs = 900
cache = false
TOML
start=$(date +%s)
for subset in $SUBSETS; do
  IFS=: read -r app task kind <<<"$subset"
  t0=$(date +%s)
  KUBEGUARD_CONFIG="$WORK/config.toml" "$KG" eval --corpus "$ROOT/tests/data/corpus" --engine llm --engine hybrid \
    --engine deterministic --app "$app" --task "$task" --kind "$kind" --format json >"$OUT_DIR/$subset.json"
  echo "$subset: $(( $(date +%s) - t0 )) s" >&2
done
python3 - "$OUT_DIR" $SUBSETS <<'PY'
import json, os, sys
print("| app | task | resource | engine | units | TP | FP | FN | P | R | F1 |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
errors = []
for subset in sys.argv[2:]:
    r = json.load(open(os.path.join(sys.argv[1], subset + ".json")))
    for row in sorted(r["rows"], key=lambda x: x["engine"]):
        if row["app"] == "*":
            continue
        c, m = row["counts"], row["micro"]
        print("| %s | %s | %s | %s | %d | %d | %d | %d | %.3f | %.3f | %.3f |" % (row["app"], row["task"], row["kind"],
              row["engine"], row["units"], c["tp"], c["fp"], c["fn"], m["precision"], m["recall"], m["f1"]))
    errors += r["errors"]
print("\nengine errors (other than declined targets): %d" % len(errors))
for t, e in errors[:20]:
    print("- %s: %s" % (t, e[:200]))
PY
echo "subsets: $SUBSETS; wall time $(( $(date +%s) - start )) s"
