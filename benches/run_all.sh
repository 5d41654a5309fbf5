#!/usr/bin/env bash
# Every kubeguard benchmark of the evaluation issue in one table, each against a named peer on the
# same input (README "Benchmarks"):
#
#   1. audit-log ingest, ~1 GB (benches/gen_audit_log.py): kubeguard's ingest of every subject
#      (examples/audit_ingest.rs, the code behind --audit-log) vs audit2rbac for one service account;
#   2. Hubble flow ingest, ~1.1 GB (benches/gen_hubble_flows.py): kubeguard (benches/hubble_throughput.rs)
#      vs jq selecting connection-opening flows;
#   3. end to end: `kubeguard recommend --kind role` on a synthetic 1,000-workload cluster with
#      10 million audit events (gen_audit_log.py --workloads 1000 --events 10000000) vs audit2rbac
#      for one of its service accounts on the same file;
#   4. quality: audit2rbac's roles for every service account of the corpus apps that have audit
#      logs, scored by `kubeguard eval --predicted` with the same units as kubeguard's deterministic
#      engine.
#
#   AUDIT2RBAC=/path/to/audit2rbac benches/run_all.sh
#
# AUDIT2RBAC defaults to $KUBEGUARD_TEST_CACHE/audit2rbac/audit2rbac when that file exists. Without
# audit2rbac the audit peer is benches/go-baseline (Go encoding/json decoding of the same Event
# type with audit2rbac's user filter, a lower bound on audit2rbac's per-run cost) and row 4 is
# skipped. Wall time, MB/s (10^6 bytes per wall second), CPU seconds and peak RSS come from
# /usr/bin/time -v; every file is read once before it is timed so both tools read from the page
# cache. Inputs are cached in $BENCH_DIR (default /tmp/kubeguard-bench; ~10 GB for all three).
# SKIP_BUILD=1 uses the release binaries already in $CARGO_TARGET_DIR.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${BENCH_DIR:-/tmp/kubeguard-bench}
CACHE=${KUBEGUARD_TEST_CACHE:-$HOME/.cache/kubeguard-tests}
T=${CARGO_TARGET_DIR:-$ROOT/target}/release
mkdir -p "$DIR"
if [ -z "${AUDIT2RBAC:-}" ] && [ -x "$CACHE/audit2rbac/audit2rbac" ]; then AUDIT2RBAC="$CACHE/audit2rbac/audit2rbac"; fi
AUDIT2RBAC=${AUDIT2RBAC:-}

if [ -z "${SKIP_BUILD:-}" ]; then
  echo "building release binaries..." >&2
  (cd "$ROOT" && cargo build --release --quiet --bin kubeguard --example audit_ingest --bench hubble_throughput)
fi
KG="$T/kubeguard"
KG_AUDIT="$T/examples/audit_ingest"
KG_HUBBLE=$(ls -t "$T"/deps/hubble_throughput-* | grep -v '\.d$' | head -1)

AUDIT="$DIR/audit-1024m.log"
FLOWS="$CACHE/bench/hubble-1100MB.json"
CLUSTER="$DIR/cluster-1000w.yaml"
CLUSTER_LOG="$DIR/cluster-1000w-10Mev.log"
[ -s "$AUDIT" ] || python3 "$ROOT/benches/gen_audit_log.py" --size-mb 1024 --out "$AUDIT"
if [ ! -s "$FLOWS" ]; then mkdir -p "$(dirname "$FLOWS")"; python3 "$ROOT/benches/gen_hubble_flows.py" "$FLOWS" 1100; fi
if [ ! -s "$CLUSTER_LOG" ] || [ ! -s "$CLUSTER" ]; then
  python3 "$ROOT/benches/gen_audit_log.py" --workloads 1000 --events 10000000 --out "$CLUSTER_LOG.tmp" \
    --manifests-out "$CLUSTER" && mv "$CLUSTER_LOG.tmp" "$CLUSTER_LOG"
fi

if [ -n "$AUDIT2RBAC" ]; then
  PEER_NAME="audit2rbac"
  peer_sa() { "$AUDIT2RBAC" -f "$1" --serviceaccount "$2"; }
else
  PEER_NAME="go encoding/json (audit2rbac not given)"
  (cd "$ROOT/benches/go-baseline" && go build -o "$DIR/auditdecode" .)
  peer_sa() { "$DIR/auditdecode" -f "$1" --user "system:serviceaccount:${2%%:*}:${2#*:}"; }
fi

RESULTS="$DIR/run_all.tsv"
: >"$RESULTS"
# measure LABEL TOOL INPUT CMD... → appends "label tool input_bytes wall cpu rss_kb" to $RESULTS
measure() {
  local label=$1 tool=$2 input=$3; shift 3
  local tag
  tag=$(echo "$label-$tool" | tr -c 'a-zA-Z0-9\n' '_')
  cat "$input" >/dev/null
  echo "running: $label / $tool" >&2
  /usr/bin/time -v -o "$DIR/$tag.time" "$@" >"$DIR/$tag.out" 2>"$DIR/$tag.err" || {
    echo "$tool failed on $label; see $DIR/$tag.err" >&2; return 0; }
  local wall rss cpu
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$DIR/$tag.time" |
    awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$DIR/$tag.time")
  cpu=$(awk -F': ' '/User time|System time/ {s += $2} END {print s}' "$DIR/$tag.time")
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$label" "$tool" "$(stat -c %s "$input")" "$wall" "$cpu" "$rss" >>"$RESULTS"
}

measure "audit ingest" "kubeguard (all 261 subjects)" "$AUDIT" "$KG_AUDIT" "$AUDIT"
measure "audit ingest" "$PEER_NAME (1 subject)" "$AUDIT" bash -c "$(declare -f peer_sa); AUDIT2RBAC='$AUDIT2RBAC' DIR='$DIR'; peer_sa '$AUDIT' team-00:api"
measure "Hubble ingest" "kubeguard" "$FLOWS" "$KG_HUBBLE" "$FLOWS"
measure "Hubble ingest" "jq + sort -u" "$FLOWS" bash -c \
  "jq -c 'select(.flow.is_reply == false) | [.flow.source.pod_name, .flow.destination.pod_name, .flow.l4]' '$FLOWS' | sort -u | wc -l"
measure "end to end, 1,000 workloads, 10 M events" "kubeguard recommend --kind role (all subjects)" "$CLUSTER_LOG" \
  "$KG" recommend --manifests "$CLUSTER" --audit-log "$CLUSTER_LOG" --kind role --format yaml
measure "end to end, 1,000 workloads, 10 M events" "$PEER_NAME (1 subject)" "$CLUSTER_LOG" bash -c \
  "$(declare -f peer_sa); AUDIT2RBAC='$AUDIT2RBAC' DIR='$DIR'; peer_sa '$CLUSTER_LOG' team-000:api"

python3 - "$RESULTS" <<'PY'
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
print("| benchmark | tool | input | wall | MB/s (wall) | CPU (user+sys) | MB per CPU-s | peak RSS | ratio vs kubeguard (wall / CPU) |")
print("|---|---|---|---|---|---|---|---|---|")
kg = {}
for label, tool, size, wall, cpu, rss in rows:
    size, wall, cpu, rss = int(size), float(wall), float(cpu), float(rss)
    if tool.startswith("kubeguard"):
        kg[label] = (wall, cpu)
    ratio = "" if tool.startswith("kubeguard") or label not in kg else "%.2fx / %.2fx" % (
        wall / kg[label][0], cpu / kg[label][1])
    print("| %s | %s | %s MB | %.1f s | %.1f | %.1f s | %.1f | %s MiB | %s |" % (
        label, tool, format(round(size / 1e6), ","), wall, size / 1e6 / wall, cpu, size / 1e6 / cpu,
        format(round(rss / 1024), ","), ratio))
PY
echo
echo "(ratio > 1: kubeguard is faster. kubeguard rows cover every subject in one pass; the audit2rbac"
echo " rows one subject, which is all audit2rbac computes per run.)"

# 4. Quality of audit2rbac's roles, scored with the same units as kubeguard's (create task).
if [ -n "$AUDIT2RBAC" ]; then
  echo
  echo "Role quality on the corpus (kubeguard eval units; audit2rbac run once per service account):"
  echo
  CORPUS="$ROOT/tests/data/corpus"
  for app_dir in "$CORPUS"/*/; do
    app=$(basename "$app_dir")
    [ -d "$app_dir/audit" ] || continue
    pred="$DIR/audit2rbac-$app.yaml"
    : >"$pred"
    for sa in $(python3 - "$app_dir" <<'PY'
import os, sys, yaml
app = sys.argv[1]
paths = [os.path.join(app, "manifests")]
lst = os.path.join(app, "manifests.paths")
if os.path.isfile(lst):
    paths += [os.path.join(app, l.strip()) for l in open(lst) if l.strip() and not l.startswith("#")]
files = []
for p in paths:
    if os.path.isdir(p):
        files += [os.path.join(d, f) for d, _, fs in os.walk(p) for f in fs if f.endswith((".yaml", ".yml"))]
    elif os.path.isfile(p):
        files.append(p)
for f in sorted(files):
    for d in yaml.safe_load_all(open(f)):
        if d and d.get("kind") == "ServiceAccount":
            print("%s:%s" % (d["metadata"].get("namespace", "default"), d["metadata"]["name"]))
PY
    ); do
      fargs=()
      for f in "$app_dir"/audit/*; do fargs+=(-f "$f"); done
      if "$AUDIT2RBAC" "${fargs[@]}" --serviceaccount "$sa" >"$pred.one" 2>/dev/null; then
        cat "$pred.one" >>"$pred"; echo "---" >>"$pred"
      fi
    done
    "$KG" eval --corpus "$CORPUS" --app "$app" --engine deterministic --predicted "$pred" --format json >"$DIR/eval-$app.json"
    python3 - "$DIR/eval-$app.json" "$app" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
for row in r["rows"]:
    if row["app"] == sys.argv[2] and row["task"] == "create" and row["kind"] == "role":
        c, m = row["counts"], row["micro"]
        eng = "audit2rbac" if row["engine"].startswith("predicted:") else "kubeguard " + row["engine"]
        print("| %s | %s | %d | %d | %d | %.3f | %.3f | %.3f |" % (sys.argv[2], eng, c["tp"], c["fp"], c["fn"],
              m["precision"], m["recall"], m["f1"]))
PY
  done | { echo "| app | tool | TP | FP | FN | P | R | F1 |"; echo "|---|---|---|---|---|---|---|---|"; cat; }
fi
