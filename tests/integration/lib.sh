# lib.sh — shared by the integration scenarios. Each scenario sources this,
# gets its own temp dir ($T) and process group, and leaves nothing behind:
# everything it starts is stopped by PID, everything it mounts is unmounted.
# KEEP_T=1 keeps the temp dir (logs, state, S3 data) for a look afterwards.
set -euo pipefail

BUILD=${CAIRN_BUILD_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build}
SRC=${CAIRN_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
CAIRN_BIN=$BUILD/cli/cairn
CATALOGD_BIN=$BUILD/catalogd/catalogd
CAIRNFS_BIN=$BUILD/fusefs/cairnfs
TEST_NAME=$(basename "$0" .sh)

T=$(mktemp -d "${TMPDIR:-/tmp}/cairn-$TEST_NAME.XXXXXX")
SOCK=$T/catalogd.sock
STATE=$T/state
POOL=$T/state/pool
export CAIRN_CATALOG=unix:$SOCK

CATALOGD_PID=
declare -a CAIRN_MOUNTS=()
declare -a CAIRN_PIDS=()

log() { printf '[%s] %s\n' "$TEST_NAME" "$*" >&2; }
fail() { printf '[%s] FAIL: %s\n' "$TEST_NAME" "$*" >&2; exit 1; }

# stop_all — unmounts every cairnfs mount, stops the cairnfs processes and
# catalogd by PID, and forgets them (so a second call does nothing).
stop_all() {
	local m p
	for m in "${CAIRN_MOUNTS[@]}"; do
		mountpoint -q "$m" && fusermount3 -u "$m" 2>/dev/null
		mountpoint -q "$m" && fusermount3 -uz "$m" 2>/dev/null
	done
	for p in "${CAIRN_PIDS[@]}"; do
		kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	CAIRN_MOUNTS=()
	CAIRN_PIDS=()
	if [ -n "$CATALOGD_PID" ]; then
		kill "$CATALOGD_PID" 2>/dev/null && wait "$CATALOGD_PID" 2>/dev/null
		CATALOGD_PID=
	fi
	return 0
}

cleanup() {
	local rc=$?
	set +e
	stop_all
	if [ $rc -ne 0 ] && [ -f "$T/catalogd.log" ]; then
		echo "--- catalogd.log (last 30 lines) ---" >&2
		tail -n 30 "$T/catalogd.log" >&2
	fi
	if [ $rc -ne 0 ] && [ -s "$T/cairnfs.log" ]; then
		echo "--- cairnfs.log (last 40 lines) ---" >&2
		tail -n 40 "$T/cairnfs.log" >&2
	fi
	[ -n "${KEEP_T:-}" ] || rm -rf "$T"
	exit $rc
}
trap cleanup EXIT

cairn() { "$CAIRN_BIN" "$@"; }

# start_catalogd [-o key=value]... — starts catalogd on $SOCK, waits for it.
# spawn_catalogd [OPTS] — catalogd on the test's state and socket, in the
# background (CATALOGD_PID), not waited for: it may die before it answers
# (a crash point). Environment assignments before the call reach it.
spawn_catalogd() {
	"$CATALOGD_BIN" -o catalog.state_dir="$STATE" -o catalog.socket="$SOCK" \
		-o catalog.log_level=info "$@" >>"$T/catalogd.log" 2>&1 &
	CATALOGD_PID=$!
}

start_catalogd() {
	spawn_catalogd "$@"
	local i
	for i in $(seq 1 200); do
		if [ -S "$SOCK" ] && cairn status >/dev/null 2>&1; then
			return 0
		fi
		kill -0 "$CATALOGD_PID" 2>/dev/null || fail "catalogd exited at start: $(tail -n 5 "$T/catalogd.log")"
		sleep 0.05
	done
	fail "catalogd did not become ready"
}

stop_catalogd() {
	kill -TERM "$CATALOGD_PID"
	local rc=0
	wait "$CATALOGD_PID" || rc=$?
	CATALOGD_PID=
	[ $rc -eq 0 ] || fail "catalogd exited with $rc on SIGTERM"
}

kill9_catalogd() {
	kill -KILL "$CATALOGD_PID" 2>/dev/null || true
	wait "$CATALOGD_PID" 2>/dev/null || true
	CATALOGD_PID=
}

# mount_cairnfs MNT [args...] — runs cairnfs in the foreground in the
# background (so its PID is ours to stop) and waits for the mount.
mount_cairnfs() {
	local mnt=$1; shift
	mkdir -p "$mnt"
	"$CAIRNFS_BIN" "$mnt" --catalog "unix:$SOCK" -f "$@" >>"$T/cairnfs.log" 2>&1 &
	local pid=$!
	CAIRN_PIDS+=("$pid")
	CAIRN_MOUNTS+=("$mnt")
	local i
	for i in $(seq 1 200); do
		mountpoint -q "$mnt" && return 0
		kill -0 "$pid" 2>/dev/null || fail "cairnfs exited at start: $(tail -n 5 "$T/cairnfs.log")"
		sleep 0.05
	done
	fail "cairnfs did not mount $mnt"
}

umount_cairnfs() {
	fusermount3 -u "$1" || fail "cannot unmount $1"
}

# expect_fail DESCRIPTION CMD... — CMD must exit non-zero and explain on stderr.
expect_fail() {
	local what=$1; shift
	local rc=0
	"$@" >"$T/out" 2>"$T/err" || rc=$?
	[ $rc -ne 0 ] || fail "$what: expected failure, got exit 0"
	[ -s "$T/err" ] || fail "$what: failed (exit $rc) without a message on stderr"
	log "ok: $what -> $(head -n 1 "$T/err")"
}

# assert_eq WHAT EXPECTED ACTUAL
assert_eq() {
	[ "$2" = "$3" ] || fail "$1: expected '$2', got '$3'"
}

# pool_objects — number of object files in the pool.
pool_objects() {
	find "$POOL" -mindepth 3 -maxdepth 3 -type f | wc -l
}

# verify_pool — every pool object hashes to its own name (independent of
# cairn's code: xxhsum from the xxhash package).
verify_pool() {
	local bad
	bad=$(find "$POOL" -mindepth 3 -maxdepth 3 -type f -print0 |
		xargs -0 -r xxhsum -H2 | awk '{ n = $NF; sub(".*/", "", n); h = $1; sub("^XXH128_", "", h); if (h != n) print n }')
	[ -z "$bad" ] || fail "pool objects that do not match their id: $bad"
}

PY=python3

# ---- S3: a real s3rver per scenario (scripts/s3-server.sh) ---------------
# start_s3 [s3rver args...] starts one with its data in $S3_DIR and sets
# S3_PID and S3_PORT; stop_s3 stops it by PID (SIGTERM, then SIGKILL) and
# kill9_s3 kills it outright, as a crash would. Either keeps S3_PORT and
# S3_DIR, so the next start_s3 brings the same server back where a running
# catalogd expects it. Whatever is running when the scenario ends is stopped
# before the temp dir goes. Credentials are s3rver's: S3RVER / S3RVER.
S3_SERVER=$SRC/scripts/s3-server.sh
S3_DIR=$T/s3data
S3_PID=
S3_PORT=
S3_BUCKET=cairn

start_s3() {
	local out
	local -a port=()
	[ -z "$S3_PID" ] || fail "start_s3: s3rver already runs (pid $S3_PID)"
	[ -z "$S3_PORT" ] || port=(--port "$S3_PORT")
	out=$("$S3_SERVER" start "$S3_DIR" "${port[@]}" --log "$T/s3rver.log" "$@") ||
		fail "cannot start s3rver: $(tail -n 5 "$T/s3rver.log" 2>/dev/null)"
	read -r S3_PID S3_PORT <<<"$out"
	[ -n "$S3_PORT" ] || fail "start_s3: no port from $S3_SERVER ('$out')"
	log "s3rver pid $S3_PID on 127.0.0.1:$S3_PORT${*:+ ($*)}"
}

stop_s3() {
	[ -n "$S3_PID" ] || return 0
	"$S3_SERVER" stop "$S3_PID"
	S3_PID=
}

kill9_s3() {
	[ -n "$S3_PID" ] || return 0
	kill -KILL "$S3_PID" 2>/dev/null || true
	# Not our child (the start script's), so poll instead of wait; a
	# zombie no one has reaped yet is gone for our purposes.
	while [ -e "/proc/$S3_PID" ] && [ "$(awk '{ print $3 }' "/proc/$S3_PID/stat" 2>/dev/null)" != Z ]; do
		sleep 0.05
	done
	S3_PID=
}

# s3_catalogd_opts — the -o options that point catalogd at this server:
#   start_catalogd $(s3_catalogd_opts)
s3_catalogd_opts() {
	[ -n "$S3_PORT" ] || fail "s3_catalogd_opts: start_s3 first"
	echo "-o s3.endpoint=127.0.0.1:$S3_PORT -o s3.bucket=$S3_BUCKET -o s3.protocol=http" \
		"-o s3.access_key=S3RVER -o s3.secret_key=S3RVER"
}

# s3_object_file OID — where s3rver keeps an object's bytes, for scenarios
# that damage it behind the server's back.
s3_object_file() {
	echo "$S3_DIR/$S3_BUCKET/objects/${1:0:2}/$1._S3rver_object"
}

# Runs before cleanup (which ends by removing $T and exiting) and hands it
# the scenario's exit status; errexit goes off first, or a failed
# scenario's status would end the trap before cleanup ran.
s3_on_exit() {
	local rc=$?
	set +e
	if [ -n "$S3_PID" ]; then
		"$S3_SERVER" stop "$S3_PID" >/dev/null 2>&1
		S3_PID=
	fi
	if [ $rc -ne 0 ] && [ -s "$T/s3rver.log" ]; then
		echo "--- s3rver.log (last 10 lines) ---" >&2
		tail -n 10 "$T/s3rver.log" >&2
	fi
	return $rc
}
trap 's3_on_exit; cleanup' EXIT

# ---- catalogd's API and tiering, for the scenarios with an S3 tier ---------

api() { curl -sf --unix-socket "$SOCK" "http://cairn$1"; }
# state_count STATE — objects in that tier state.
state_count() { api /v1/tier/status | jq -r ".states.$1.objects"; }
# wait_until WHAT SECONDS CMD... — polls CMD until it succeeds.
wait_until() {
	local what=$1 secs=$2 i
	shift 2
	for i in $(seq 1 $((secs * 10))); do
		"$@" && return 0
		sleep 0.1
	done
	fail "timed out after ${secs}s waiting for: $what"
}
# all_in STATE COUNT — exactly COUNT objects are in STATE.
all_in() { [ "$(state_count "$1")" = "$2" ]; }
# no_moves — nothing queued, nothing in an in-flight state.
no_moves() {
	api /v1/tier/status | jq -e '.queue.migrate + .queue.release + .queue.recall +
		(.queue.busy // 0) + .states.migrating.objects + .states.releasing.objects +
		.states.recalling.objects == 0' >/dev/null
}
# release_all COUNT — every one of the COUNT objects released to S3 (the
# watermarks forced down, a policy run), then the watermarks put back where
# nothing more is released.
release_all() {
	cairn tier policy set high_watermark=1% low_watermark=0% >/dev/null
	cairn tier run >/dev/null
	wait_until "every object cold" 60 all_in cold "$1"
	wait_until "no moves in flight" 30 no_moves
	cairn tier policy set high_watermark=99% low_watermark=98% >/dev/null
}
# log_settled — catalogd logs a request once its answer is out, so a client
# may be ahead of the log: before counting the requests an action caused
# (catalog.log_level=debug), wait for the log to stay still for 0.3 s (at
# most about 5 s).
log_settled() {
	local i size=-1
	for i in $(seq 1 16); do
		[ "$(stat -c %s "$T/catalogd.log")" = "$size" ] && return 0
		size=$(stat -c %s "$T/catalogd.log")
		sleep 0.3
	done
}
ids_of() { getfattr --only-values -n user.cairn.objects "$1"; }
drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }
