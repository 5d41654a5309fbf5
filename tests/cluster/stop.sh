#!/usr/bin/env bash
# Stops a harness started by start.sh: stop.sh STATE_DIR. SIGTERM, then SIGKILL after 30s.
set -euo pipefail
dir="${1:?usage: stop.sh STATE_DIR}"
[ -f "$dir/harness.pid" ] || exit 0
pid="$(cat "$dir/harness.pid")"
kill -TERM "$pid" 2>/dev/null || exit 0
for _ in $(seq 1 120); do
  kill -0 "$pid" 2>/dev/null || { rm -f "$dir/harness.pid" "$dir/ready"; exit 0; }
  sleep 0.25
done
kill -KILL "$pid" 2>/dev/null || true
rm -f "$dir/harness.pid" "$dir/ready"
