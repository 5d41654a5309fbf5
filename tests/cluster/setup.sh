#!/usr/bin/env bash
# Builds kube-harness (a real kube-apiserver from k8s.io/kubernetes plus an embedded etcd, see
# main.go) into the kubeguard test cache. Idempotent: the binary is keyed by a hash of go.mod,
# go.sum and main.go, and the Go build cache lives next to it, so reruns take well under a second.
# Prints the binary path on the last line of stdout.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="${KUBEGUARD_TEST_CACHE:-$HOME/.cache/kubeguard-tests}/cluster"
mkdir -p "$cache/bin"
key="$(cat "$here/go.mod" "$here/go.sum" "$here/main.go" | sha256sum | cut -c1-16)"
bin="$cache/bin/kube-harness-$key"
if [ -x "$bin" ]; then
  ln -sfn "$(basename "$bin")" "$cache/bin/kube-harness"
  echo "kube-harness: cached" >&2
  echo "$bin"
  exit 0
fi
if ! command -v go >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  # Any Go >= 1.21 will do: GOTOOLCHAIN=auto fetches the go.mod toolchain from the module proxy.
  echo "kube-harness: installing golang-go (apt)" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq golang-go >&2 || true
fi
if ! command -v go >/dev/null 2>&1; then
  echo "kube-harness: 'go' (>= 1.21; the go.mod toolchain is fetched automatically) is required to build the test kube-apiserver" >&2
  exit 1
fi
export GOTOOLCHAIN="${GOTOOLCHAIN:-auto}"
export GOCACHE="$cache/gocache" CGO_ENABLED=0 GOFLAGS=-mod=readonly
start=$(date +%s)
echo "kube-harness: building kube-apiserver $(grep -m1 'k8s.io/kubernetes v' "$here/go.mod" | awk '{print $2}') + etcd (first build takes a while)..." >&2
(cd "$here" && nice -n 10 go build -trimpath -ldflags='-s -w' -o "$bin.tmp" .)
mv "$bin.tmp" "$bin"
ln -sfn "$(basename "$bin")" "$cache/bin/kube-harness"
secs=$(( $(date +%s) - start ))
echo "$(date -u +%FT%TZ) build $key ${secs}s" >> "$cache/build-times.log"
echo "kube-harness: built in ${secs}s" >&2
echo "$bin"
