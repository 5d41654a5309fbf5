#!/usr/bin/env bash
# Stops a harness started by start.sh: stop.sh STATE_DIR. SIGTERM (the harness stops within ~7 s: apiserver grace 5 s, etcd 1 s), then SIGKILL after 30 s as a last resort.
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
