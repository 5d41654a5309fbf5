#!/usr/bin/env bash
# Idempotent, cached install of np-guard's netpol-analyzer (the peer evaluator used by the
# differential test tests/netpol_differential.rs). Installs `netpolicy` into
# ${KUBEGUARD_TEST_CACHE:-$HOME/.cache/kubeguard-tests}/bin.
set -euo pipefail
CACHE="${KUBEGUARD_TEST_CACHE:-$HOME/.cache/kubeguard-tests}"
BIN="$CACHE/bin"
# `latest` first; the registry mirror reachable here serves only some versions, so fall back to
# pinned releases that verify against the checksum database.
VERSIONS="${NETPOL_ANALYZER_VERSION:-latest v1.2.1 v1.1.0}"
if [ -x "$BIN/netpolicy" ]; then
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  if [ -x /usr/local/go/bin/go ]; then
    export PATH="/usr/local/go/bin:$PATH"
  else
    echo "netpol setup: Go toolchain not found (needed to install netpol-analyzer)" >&2
    exit 1
  fi
fi
mkdir -p "$BIN" "$CACHE/go" "$CACHE/gocache"
export GOPATH="$CACHE/go" GOBIN="$BIN" GOCACHE="$CACHE/gocache" GOFLAGS="-mod=mod"
for v in $VERSIONS; do
  if go install "github.com/np-guard/netpol-analyzer/cmd/netpolicy@${v}"; then
    echo "netpol setup: installed netpol-analyzer ${v} as $BIN/netpolicy"
    echo "$v" > "$CACHE/netpolicy.version"
    exit 0
  fi
  # `go install pkg@version` also asks the proxy for the version list (deprecation check),
  # which some mirrors refuse; building inside the downloaded module avoids that query.
  if [ "$v" != latest ] && dir=$(go mod download -json "github.com/np-guard/netpol-analyzer@${v}" \
      | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p') && [ -n "$dir" ] \
      && (cd "$dir" && go build -mod=mod -o "$BIN/netpolicy" ./cmd/netpolicy); then
    echo "netpol setup: built netpol-analyzer ${v} as $BIN/netpolicy"
    echo "$v" > "$CACHE/netpolicy.version"
    exit 0
  fi
  echo "netpol setup: version ${v} not installable, trying the next" >&2
done
echo "netpol setup: could not install netpol-analyzer" >&2
exit 1
