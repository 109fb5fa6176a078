#!/usr/bin/env bash
# setup.sh — installs cairn's dependencies on Debian 12 (and the test S3
# server) and builds it.
#   scripts/setup.sh [--no-build] [cmake options...]
# Build directory: $CAIRN_BUILD_DIR (default ./build).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
	build-essential cmake pkg-config
	librocksdb-dev libfuse3-dev fuse3 libs3-dev libxxhash-dev xxhash libssl-dev
	libcmocka-dev libmicrohttpd-dev libjansson-dev libinih-dev libcurl4-openssl-dev
	attr fio util-linux procps curl python3 jq
)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "setup: installing ${missing[*]}" >&2
	sudo_cmd=()
	[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
	"${sudo_cmd[@]}" apt-get update -qq
	DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends \
		"${missing[@]}" >/dev/null
fi

# The S3 server the tests and the quickstart run (Node.js from Debian when
# missing, then the s3rver pinned in tools/s3server/package-lock.json).
scripts/s3-server.sh install

[ "${1:-}" = "--no-build" ] && exit 0
build=${CAIRN_BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build "$build" -j"$(nproc)"
