#!/usr/bin/env bash
# Prerequisites of the TUI end-to-end tests (tests/tui_e2e.rs): tmux, which drives the real
# binary in a pseudo-terminal and answers crossterm's cursor-position query. Idempotent.
set -euo pipefail
if command -v tmux >/dev/null 2>&1; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "tests/tui/setup.sh: tmux is missing and apt-get is not available" >&2
    exit 1
fi
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq tmux
command -v tmux >/dev/null 2>&1
