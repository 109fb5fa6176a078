#!/usr/bin/env bash
# s3-server.sh — the S3-compatible server cairn's tests and quickstart use:
# s3rver (pinned in tools/s3server/package-lock.json), on 127.0.0.1 only.
#
#   scripts/s3-server.sh install
#       Node.js and npm from Debian when missing; `npm ci` of tools/s3server
#       when its node_modules is missing or older than the lockfile.
#   scripts/s3-server.sh start DIR [--port PORT] [--log FILE] [s3rver args...]
#       Starts s3rver in the background with its data in DIR and the bucket
#       "cairn", on PORT or on a free port picked now, waits until it
#       answers, and prints "PID PORT". The log goes to FILE (default
#       DIR/../s3rver.log). Other arguments go to s3rver, e.g.
#       --allow-mismatched-signatures. Credentials: S3RVER / S3RVER.
#   scripts/s3-server.sh stop PID
#       SIGTERM, then SIGKILL after a grace period; returns once it is gone.
#
# What s3rver does not check, so cairn must: it accepts a wrong Content-MD5,
# and after being killed mid-upload it can keep a truncated object whose
# ETag matches. It also rejects every V2-signed bucket listing with
# SignatureDoesNotMatch (object requests are fine); a test that lists must
# start it with --allow-mismatched-signatures.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PKG=$ROOT/tools/s3server
BIN=$PKG/node_modules/.bin/s3rver
STOP_GRACE=${S3_STOP_GRACE:-5}     # seconds between TERM and KILL
START_WAIT=${S3_START_WAIT:-30}    # seconds for the server to answer

die() { echo "s3-server: $*" >&2; exit 1; }

as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Fresh when npm's record of the installed tree is newer than the lockfile.
installed() {
	[ -x "$BIN" ] && [ -f "$PKG/node_modules/.package-lock.json" ] &&
		[ ! "$PKG/package-lock.json" -nt "$PKG/node_modules/.package-lock.json" ]
}

npm_ci() {
	echo "s3-server: npm ci in tools/s3server" >&2
	npm ci --prefix "$PKG" --no-audit --no-fund --loglevel=error >&2
}

cmd_install() {
	if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
		echo "s3-server: installing Node.js and npm from Debian" >&2
		as_root apt-get update -qq
		DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq nodejs npm >/dev/null
	fi
	installed || npm_ci
}

# A port nobody listens on now. The kernel picks it (bind to port 0); the
# caller retries with another if s3rver loses the race for it.
free_port() {
	python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# Whether PID still runs: a zombie (exited, not yet reaped by whoever
# inherited it) has stopped serving and counts as gone.
alive() {
	local state
	state=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$state" ] && [ "$state" != Z ]
}

answers() {
	# Any HTTP answer will do: an anonymous request is refused, but only
	# a listening s3rver can refuse it.
	curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$1/" 2>/dev/null
}

cmd_start() {
	[ $# -ge 1 ] || die "usage: start DIR [--port PORT] [--log FILE] [s3rver args...]"
	local dir=$1; shift
	local port='' log='' fixed=0
	while [ $# -gt 0 ]; do
		case $1 in
		--port) port=$2; fixed=1; shift 2 ;;
		--log) log=$2; shift 2 ;;
		*) break ;;
		esac
	done
	case " $* " in
	*" --silent "*|*" -s "*) die "start: s3rver must log; --silent is not supported" ;;
	esac
	command -v node >/dev/null || die "node is missing; run scripts/s3-server.sh install"
	installed || npm_ci
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	[ -n "$log" ] || log=$(dirname "$dir")/s3rver.log

	local pid logsize
	for _ in 1 2 3 4 5; do
		[ $fixed -eq 1 ] || port=$(free_port)
		logsize=$(stat -c %s "$log" 2>/dev/null || echo 0)
		# Started directly (no subshell in between) so that $! is s3rver's
		# own PID; its output goes to the log so that it holds no pipe of
		# ours open after we return.
		"$BIN" --directory "$dir" --address 127.0.0.1 --port "$port" \
			--configure-bucket cairn "$@" </dev/null >>"$log" 2>&1 &
		pid=$!
		for _ in $(seq 1 $((START_WAIT * 20))); do
			# Ours, not another server on the same port: s3rver says where
			# it listens once the bind succeeded.
			if alive "$pid" &&
				grep -qx ".*listening on 127.0.0.1:$port" <<<"$(tail -c +$((logsize + 1)) "$log")" &&
				answers "$port"; then
				echo "$pid $port"
				return 0
			fi
			alive "$pid" || break
			sleep 0.05
		done
		if alive "$pid"; then
			cmd_stop "$pid"
			die "s3rver did not answer on 127.0.0.1:$port within ${START_WAIT}s (log: $log)"
		fi
		# It exited: another process took the port between our pick and
		# its bind, or a restart found the old port still held.
		if [ $fixed -eq 1 ]; then
			sleep 0.2
		fi
		grep -q EADDRINUSE <<<"$(tail -c +$((logsize + 1)) "$log")" ||
			die "s3rver exited at start: $(tail -n 5 "$log")"
	done
	[ $fixed -eq 0 ] || die "port $port on 127.0.0.1 stays taken (log: $log)"
	die "no free port for s3rver after 5 tries (log: $log)"
}

cmd_stop() {
	[ $# -eq 1 ] || die "usage: stop PID"
	local pid=$1
	kill -TERM "$pid" 2>/dev/null || return 0
	for _ in $(seq 1 $((STOP_GRACE * 20))); do
		alive "$pid" || return 0
		sleep 0.05
	done
	kill -KILL "$pid" 2>/dev/null || true
	while alive "$pid"; do
		sleep 0.05
	done
}

case ${1:-} in
install) shift; cmd_install "$@" ;;
start) shift; cmd_start "$@" ;;
stop) shift; cmd_stop "$@" ;;
*) die "usage: $0 install | start DIR [--port PORT] [--log FILE] [args...] | stop PID" ;;
esac
