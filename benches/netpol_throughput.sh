#!/usr/bin/env bash
# Hubble ingest throughput on a generated ≥ 1 GB flow log: MB/s and peak RSS for kubeguard and,
# on the same file, for a named peer (jq selecting the connection-opening events, the usual
# shell pipeline people use on `hubble observe -o json`).
# Usage: benches/netpol_throughput.sh [SIZE_MB]   (log cached under $KUBEGUARD_BENCH_DIR)
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE="${1:-1100}"
DIR="${KUBEGUARD_BENCH_DIR:-${KUBEGUARD_TEST_CACHE:-$HOME/.cache/kubeguard-tests}/bench}"
LOG="$DIR/hubble-${SIZE}MB.json"
mkdir -p "$DIR"
[ -s "$LOG" ] || python3 benches/gen_hubble_flows.py "$LOG" "$SIZE"
BYTES=$(stat -c %s "$LOG")
cargo build --release --bench hubble_throughput >/dev/null
BIN=$(ls -t "${CARGO_TARGET_DIR:-target}"/release/deps/hubble_throughput-* | grep -v '\.d$' | head -1)
echo "input: $LOG ($BYTES bytes)"
/usr/bin/time -f "kubeguard peak RSS: %M KiB, wall %e s" "$BIN" "$LOG"
if command -v jq >/dev/null; then
  START=$(date +%s.%N)
  /usr/bin/time -f "jq peak RSS: %M KiB, wall %e s" \
    jq -c 'select(.flow.is_reply == false) | [.flow.source.pod_name, .flow.destination.pod_name, .flow.l4]' "$LOG" | sort -u | wc -l
  END=$(date +%s.%N)
  python3 -c "print('jq (+ sort -u): %.1f MB/s' % ($BYTES / 1e6 / ($END - $START)))"
fi
