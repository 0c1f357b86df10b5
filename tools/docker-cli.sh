#!/bin/sh
# Extract the docker CLI (only the client binary) from Debian's docker.io package into DEST,
# without installing the package: no dockerd or containerd is installed or started.
# Usage: tools/docker-cli.sh DEST_DIR     (makes DEST_DIR/docker)
set -eu
dest=$(realpath -m "$1")
[ -x "$dest/docker" ] && exit 0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
apt-get download docker.io >/dev/null 2>&1 || { apt-get update -qq && apt-get download docker.io >/dev/null; }
dpkg-deb -x docker.io_*.deb root
mkdir -p "$dest"
install -m 0755 root/usr/bin/docker "$dest/docker"
"$dest/docker" --version
