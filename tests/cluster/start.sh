#!/usr/bin/env bash
# Starts the harness apiserver in the background: start.sh STATE_DIR [extra kube-apiserver flags...]
# Waits for /readyz, then prints STATE_DIR/ready (JSON: server, kubeconfig, auditLog, pid).
# The admin kubeconfig is STATE_DIR/kubeconfig; the audit log STATE_DIR/audit.log.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dir="${1:?usage: start.sh STATE_DIR [extra kube-apiserver flags...]}"
shift
bin="$("$here/setup.sh" | tail -n1)"
mkdir -p "$dir"
rm -f "$dir/ready"
nohup "$bin" start --dir "$dir" -- "$@" >"$dir/harness.log" 2>&1 &
pid=$!
for _ in $(seq 1 720); do
  if [ -f "$dir/ready" ]; then cat "$dir/ready"; echo; exit 0; fi
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "kube-harness exited early; last log lines:" >&2
    tail -n 30 "$dir/harness.log" >&2
    exit 1
  fi
  sleep 0.25
done
echo "kube-harness not ready after 180s; see $dir/harness.log" >&2
kill "$pid" 2>/dev/null || true
exit 1
