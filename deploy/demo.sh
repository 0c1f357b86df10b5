#!/usr/bin/env bash
# Start palletd in the background (default roots), make a busybox base image
# from Debian's busybox-static, and run a container that greets you.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
LOG=/var/log/pallet/palletd.log

if ! $BIN/palletctl version >/dev/null 2>&1; then
    mkdir -p /var/log/pallet
    echo "starting palletd (log: $LOG)"
    setsid nohup $BIN/palletd >>"$LOG" 2>&1 < /dev/null &
    for _ in $(seq 1 100); do
        $BIN/palletctl version >/dev/null 2>&1 && break
        sleep 0.1
    done
    $BIN/palletctl version >/dev/null || { echo "palletd did not start; see $LOG" >&2; exit 1; }
fi

if ! $BIN/palletctl inspect --type image busybox:latest >/dev/null 2>&1; then
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    $BIN/python tools/mkrootfs.py "$tmp/rootfs.tar"
    $BIN/palletctl import -c 'CMD ["sh"]' -m "busybox-static from Debian" "$tmp/rootfs.tar" busybox:latest
fi

$BIN/palletctl run --rm busybox echo "Hello from Pallet: this container runs busybox in its own namespaces."
echo
echo "Try: $BIN/palletctl ps -a; $BIN/palletctl images; $BIN/palletctl run --rm busybox uname -a"
