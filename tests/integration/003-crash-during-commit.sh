#!/usr/bin/env bash
# 003 — catalogd killed (-9) at different moments of a commit: while objects
# stream in, while the manifest is being staged, right before the version is
# published; and the CLI itself killed mid-upload. After each crash and a
# restart: no partial version is visible, the re-run commit succeeds and
# re-uses what was stored, every pool object matches its digest, and fsck
# finds no dangling reference.
. "$(dirname "$0")/lib.sh"

CHUNK=262144
tool="$PY $(dirname "$0")/treetool.py"
$tool gen "$T/src" --files 3000 --chunk-size $CHUNK --seed 7
# enough bytes that the upload phase takes a while
mkdir -p "$T/src/large"
for i in 1 2 3 4; do head -c $((24 * 1024 * 1024 + i)) /dev/urandom >"$T/src/large/blob$i"; done

start_catalogd -o pool.chunk_size=256K
cairn dataset create trials >/dev/null

versions() { cairn log trials --json | jq '.versions | length'; }

check_after_crash() {
	local what=$1
	start_catalogd -o pool.chunk_size=256K
	assert_eq "$what: versions visible after the crash" 0 "$(versions)"
	verify_pool
	cairn fsck --json >"$T/fsck.json" || fail "$what: fsck failed: $(cat "$T/fsck.json")"
	assert_eq "$what: fsck bad objects" 0 "$(jq '.bad | length' "$T/fsck.json")"
	assert_eq "$what: fsck dangling references" 0 "$(jq '.dangling' "$T/fsck.json")"
}

# 1. kill -9 while objects stream in: wait until some objects exist.
"$CAIRN_BIN" commit trials "$T/src" >"$T/c1.out" 2>"$T/c1.err" &
cpid=$!
for i in $(seq 1 400); do [ "$(pool_objects)" -gt 50 ] && break; sleep 0.01; done
kill9_catalogd
rc=0; wait $cpid || rc=$?
[ $rc -ne 0 ] || fail "commit reported success although catalogd was killed"
[ -s "$T/c1.err" ] || fail "commit failed without a message"
log "commit after kill said: $(head -n 1 "$T/c1.err")"
check_after_crash "kill during upload"
stop_catalogd

# 2..5. crash points inside catalogd, each on a fresh catalog: objects
# durable in the pool but not yet recorded (before and after their names are
# synced), manifest entries staged, and right before the version is
# published. Each time the re-run commit must succeed and be exact.
for point in pool.synced:1 pool.linked:1 objects.pooled:1 commit.batch:2 commit.publish:1; do
	rm -rf "$STATE"
	CAIRN_CRASH=$point start_catalogd -o pool.chunk_size=256K
	cairn dataset create trials >/dev/null
	rc=0; cairn commit trials "$T/src" >/dev/null 2>"$T/c.err" || rc=$?
	[ $rc -ne 0 ] || fail "commit succeeded through crash point $point"
	wait "$CATALOGD_PID" 2>/dev/null || true
	CATALOGD_PID=
	grep -q "crash point reached" "$T/catalogd.log" || fail "crash point $point was not reached"
	: >"$T/catalogd.log"
	check_after_crash "crash at $point"
	out=$(cairn commit trials "$T/src") || fail "re-run after $point failed"
	assert_eq "re-run after $point" "trials@1" "${out%% *}"
	verify_pool
	stop_catalogd
done

# 6. the CLI killed mid-upload: the daemon stays up, nothing is published.
rm -rf "$STATE"
start_catalogd -o pool.chunk_size=256K
cairn dataset create trials >/dev/null
"$CAIRN_BIN" commit trials "$T/src" >/dev/null 2>&1 &   # the process itself, not a subshell
cpid=$!
for i in $(seq 1 400); do [ "$(pool_objects)" -gt 20 ] && break; sleep 0.01; done
kill -KILL $cpid 2>/dev/null || true
wait $cpid 2>/dev/null || true
assert_eq "versions after the CLI was killed" 0 "$(versions)"

# The re-run succeeds, re-uses stored objects, and the version is exact.
out=$(cairn commit trials "$T/src" --message "after crashes")
assert_eq "re-run commit" "trials@1" "${out%% *}"
expected=$($tool chunks $CHUNK "$T/src")
assert_eq "objects stored once" "$expected" "$(pool_objects)"
verify_pool
cairn fsck >/dev/null || fail "fsck after the re-run"
mount_cairnfs "$T/mnt"
$tool compare "$T/src" "$T/mnt/trials/1" || fail "committed tree differs"
umount_cairnfs "$T/mnt"
stop_catalogd
log "pass"
