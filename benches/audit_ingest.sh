#!/usr/bin/env bash
# Audit-log ingest benchmark: kubeguard vs audit2rbac on the same generated log.
#
#   benches/audit_ingest.sh [SIZE_MB]        (default 1024; files go to $BENCH_DIR, default /tmp/kubeguard-bench)
#   KG_BIN=path/to/audit_ingest benches/audit_ingest.sh   (skip the release build)
#   AUDIT2RBAC=path/to/audit2rbac benches/audit_ingest.sh (the peer binary, when not on PATH)
#
# Generates a realistic audit.k8s.io/v1 log (benches/gen_audit_log.py) of SIZE_MB and one of a
# quarter of that size with the same distinct-tuple mix, then measures wall time and peak RSS
# (/usr/bin/time -v) of
#   kubeguard   one pass that builds the profiles of *every* subject (examples/audit_ingest.rs,
#               which calls kubeguard::sources::audit::ingest, the code behind --audit-log);
#   peer        one run for *one* identity, which is all audit2rbac can do per run
#               (`audit2rbac -f FILE --serviceaccount team-00:api`; a full comparison would need
#               one run per subject, ~260 here). When audit2rbac is not installed and cannot be
#               (`go install github.com/liggitt/audit2rbac@latest`), the peer is
#               benches/go-baseline: Go encoding/json decoding of the same upstream Event type
#               with audit2rbac's user filter, a lower bound on audit2rbac's cost per run.
# Throughput is input MB (10^6 bytes) per wall-clock second.
set -euo pipefail

SIZE_MB=${1:-1024}
DIR=${BENCH_DIR:-/tmp/kubeguard-bench}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$DIR"
BIG="$DIR/audit-${SIZE_MB}m.log"
SMALL_MB=$((SIZE_MB / 4))
SMALL="$DIR/audit-${SMALL_MB}m.log"
SA_NS=team-00
SA_NAME=api

for pair in "$SIZE_MB:$BIG" "$SMALL_MB:$SMALL"; do
  mb=${pair%%:*}; f=${pair#*:}
  if [ ! -s "$f" ]; then
    echo "generating $f ($mb MB)..." >&2
    python3 "$ROOT/benches/gen_audit_log.py" --size-mb "$mb" --out "$f.tmp" && mv "$f.tmp" "$f"
  fi
done

# KG_BIN: use an already built examples/audit_ingest binary instead of building the release one.
if [ -n "${KG_BIN:-}" ]; then
  KG=$KG_BIN
else
  echo "building kubeguard (release)..." >&2
  (cd "$ROOT" && cargo build --release --quiet --example audit_ingest)
  KG="${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/audit_ingest"
fi

PEER_NAME=audit2rbac
# AUDIT2RBAC=/path/to/audit2rbac names the peer binary explicitly (see the README: the Go module
# proxy refuses the module, so it may have to be built from its source by hand).
PEER=${AUDIT2RBAC:-$(command -v audit2rbac || true)}
if [ -z "$PEER" ] && command -v go >/dev/null; then
  GOBIN="$DIR/bin" go install github.com/liggitt/audit2rbac@latest >/dev/null 2>&1 && PEER="$DIR/bin/audit2rbac" || true
fi
if [ -z "$PEER" ]; then
  PEER_NAME="go-encoding/json (audit2rbac unavailable)"
  (cd "$ROOT/benches/go-baseline" && go build -o "$DIR/auditdecode" .)
  PEER="$DIR/auditdecode"
  peer_cmd() { "$PEER" -f "$1" --user "system:serviceaccount:$SA_NS:$SA_NAME"; }
else
  peer_cmd() { "$PEER" -f "$1" --serviceaccount "$SA_NS:$SA_NAME"; }
fi

# measure NAME FILE CMD... → prints "wall_s cpu_s rss_kb" and keeps the tool's stdout in $DIR/NAME.out
measure() {
  local name=$1 file=$2; shift 2
  cat "$file" >/dev/null # warm the page cache so both tools read from memory
  /usr/bin/time -v -o "$DIR/$name.time" "$@" >"$DIR/$name.out" 2>"$DIR/$name.err"
  local wall rss cpu
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$DIR/$name.time" |
    awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$DIR/$name.time")
  cpu=$(awk -F': ' '/User time|System time/ {s += $2} END {print s}' "$DIR/$name.time")
  echo "$wall $cpu $rss"
}

bytes() { stat -c %s "$1"; }

read -r kg_big_s kg_big_cpu kg_big_rss < <(measure kg-big "$BIG" "$KG" "$BIG")
read -r kg_small_s kg_small_cpu kg_small_rss < <(measure kg-small "$SMALL" "$KG" "$SMALL")
read -r peer_big_s peer_big_cpu peer_big_rss < <(measure peer-big "$BIG" bash -c "$(declare -f peer_cmd); PEER='$PEER' SA_NS=$SA_NS SA_NAME=$SA_NAME; peer_cmd '$BIG'")
read -r peer_small_s peer_small_cpu peer_small_rss < <(measure peer-small "$SMALL" bash -c "$(declare -f peer_cmd); PEER='$PEER' SA_NS=$SA_NS SA_NAME=$SA_NAME; peer_cmd '$SMALL'")

python3 - "$(bytes "$BIG")" "$(bytes "$SMALL")" "$kg_big_s" "$kg_big_cpu" "$kg_big_rss" "$kg_small_s" "$kg_small_cpu" \
  "$kg_small_rss" "$peer_big_s" "$peer_big_cpu" "$peer_big_rss" "$peer_small_s" "$peer_small_cpu" "$peer_small_rss" \
  "$PEER_NAME" "$DIR" <<'EOF'
import sys
big, small = int(sys.argv[1]), int(sys.argv[2])
kb_s, kb_c, kb_r, ks_s, ks_c, ks_r, pb_s, pb_c, pb_r, ps_s, ps_c, ps_r = map(float, sys.argv[3:15])
peer, d = sys.argv[15], sys.argv[16]
def row(tool, size, secs, cpu, rss):
    return (f"| {tool} | {size/1e6:,.0f} MB | {secs:.2f} s | {size/1e6/secs:,.1f} MB/s | {cpu:.2f} s | "
            f"{size/1e6/cpu:,.1f} MB/s | {rss/1024:,.0f} MiB |")
print("| tool | input | wall | MB/s (wall) | CPU (user+sys) | MB per CPU-s | peak RSS |")
print("|---|---|---|---|---|---|---|")
print(row("kubeguard (all subjects)", small, ks_s, ks_c, ks_r))
print(row("kubeguard (all subjects)", big, kb_s, kb_c, kb_r))
print(row(f"{peer} (one subject)", small, ps_s, ps_c, ps_r))
print(row(f"{peer} (one subject)", big, pb_s, pb_c, pb_r))
print()
print(f"throughput ratio kubeguard / {peer} on {big/1e6:,.0f} MB: {pb_s/kb_s:.1f}x wall-clock, {pb_c/kb_c:.1f}x per CPU-second")
print(f"peak RSS ratio kubeguard / {peer} on {big/1e6:,.0f} MB: {kb_r/pb_r:.2f}")
print(f"kubeguard peak RSS {big/1e6:,.0f} MB vs {small/1e6:,.0f} MB input ({big/small:.1f}x events): {kb_r/ks_r:.2f}x")
print()
print("kubeguard:", open(f"{d}/kg-big.out").read().strip())
print("peer:     ", open(f"{d}/peer-big.out").read().strip()[:300])
EOF
