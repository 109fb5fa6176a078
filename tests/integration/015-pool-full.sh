#!/usr/bin/env bash
# 015 — the pool's filesystem runs out of space (a small tmpfs). A commit
# bigger than the pool fails cleanly: a non-zero exit that says the pool is
# full, no version, every object file in the pool whole (it hashes to its
# name), nothing left in pool/tmp, fsck clean, catalogd still up. Once
# there is space again the same commit succeeds and reads back exact.
# Then with S3: the dataset is archived (COLD, no pool copy), the pool is
# shrunk and filled to the last page, and a fresh cairnfs mount still reads
# every byte (from S3) although recall_on_read cannot write the copies
# back; the failed recalls are reported, catalogd stays up, and nothing
# partial lands in the pool. When space returns, reads recall again (DUAL).
. "$(dirname "$0")/lib.sh"

CHUNK=262144
TREE="$PY $(dirname "$0")/treetool.py"
PFS=$T/poolfs
POOL=$PFS/pool
OPTS="-o pool.path=$POOL -o pool.chunk_size=256K"

# The tmpfs is unmounted before lib.sh's handlers remove $T: catalogd
# (which holds the pool open) and the cairnfs mounts are stopped first,
# here, and forgotten so that cleanup does not stop them twice.
pool_fs_on_exit() {
	local rc=$?
	set +e
	stop_all
	if mountpoint -q "$PFS"; then
		umount "$PFS" 2>/dev/null || umount -l "$PFS"
	fi
	return $rc
}
trap 'pool_fs_on_exit; s3_on_exit; cleanup' EXIT

alive() { kill -0 "$CATALOGD_PID" 2>/dev/null && cairn status >/dev/null 2>&1; }
tier_of() { getfattr --absolute-names --only-values -n user.cairn.tier "$1"; }
versions() { cairn log data --json | jq '.versions | length'; }
tmp_leftovers() { find "$POOL/tmp" -mindepth 1 | wc -l; }
fs_avail_kb() { df --output=avail -k "$PFS" | tail -n 1 | tr -d ' '; }
fs_used_kb() { df --output=used -k "$PFS" | tail -n 1 | tr -d ' '; }
fsck_clean() {
	local out
	out=$(cairn fsck --json) || fail "$1: fsck failed: $out"
	jq -e '.bad == [] and .missing == [] and .dangling == 0' <<<"$out" >/dev/null ||
		fail "$1: fsck: $out"
}

# 80 MiB of random data in large files, plus a varied small tree: more
# than one upload batch of the CLI (64 MiB), so that the first batch lands
# in the 72 MiB pool and the next one finds it full.
$TREE gen "$T/src" --files 200 --chunk-size $CHUNK --seed 15
mkdir -p "$T/src/large"
for i in $(seq 1 10); do head -c $((8 * 1024 * 1024 + i * 4099)) /dev/urandom >"$T/src/large/blob$i"; done

mkdir -p "$PFS"
mount -t tmpfs -o size=72M,mode=0755 cairn-pool-test "$PFS" || fail "cannot mount a tmpfs on $PFS"
mountpoint -q "$PFS" || fail "$PFS is not a mount point"

# ---- 1. a commit bigger than the pool ----------------------------------------
start_catalogd $OPTS
cairn dataset create data >/dev/null
rc=0
cairn commit data "$T/src" >"$T/c1.out" 2>"$T/c1.err" || rc=$?
[ $rc -ne 0 ] || fail "an 83 MiB commit into a 72 MiB pool succeeded"
[ -s "$T/c1.err" ] || fail "the failed commit said nothing on stderr"
grep -qi "full\|space" "$T/c1.err" || fail "the failed commit does not say the pool is full: $(cat "$T/c1.err")"
log "ok: commit into a full pool -> $(head -n 1 "$T/c1.err")"
alive || fail "catalogd did not survive a full pool"
assert_eq "versions after the failed commit" 0 "$(versions)"
# What was stored before the pool filled up stays (whole objects, in no
# version yet); what did not fit left nothing behind, not even space held
# by files no longer named: the filesystem's use is the objects' pages.
stored=$(pool_objects)
obj_kb=$(find "$POOL" -mindepth 3 -maxdepth 3 -type f -printf '%s\n' | awk '{ k += int(($1 + 4095) / 4096) * 4 } END { print k + 0 }')
[ "$(fs_used_kb)" -le $((obj_kb + 512)) ] ||
	fail "pool filesystem has $(fs_used_kb) KiB in use, its objects $obj_kb KiB: space leaked"
log "ok: $stored objects ($obj_kb KiB) stored before the pool was full, $(fs_avail_kb) KiB free"
verify_pool
assert_eq "files left in pool/tmp" 0 "$(tmp_leftovers)"
fsck_clean "after the failed commit"
# A second try while still full fails the same way, and cleanly.
expect_fail "commit into a pool still full" cairn commit data "$T/src"
grep -qi "full\|space" "$T/err" || fail "second failed commit: $(cat "$T/err")"
assert_eq "versions after the second failed commit" 0 "$(versions)"
verify_pool
assert_eq "files left in pool/tmp (2)" 0 "$(tmp_leftovers)"

# ---- 2. space returns: the same commit succeeds -------------------------------
mount -o remount,size=200M "$PFS" || fail "cannot grow the tmpfs"
out=$(cairn commit data "$T/src" --message "after the pool grew" 2>"$T/c2.err") ||
	fail "commit after the pool grew failed: $(cat "$T/c2.err")"
assert_eq "commit once space returned" "data@1" "${out%% *}"
assert_eq "versions" 1 "$(versions)"
assert_eq "objects in the pool" "$($TREE chunks $CHUNK "$T/src")" "$(pool_objects)"
verify_pool
assert_eq "files left in pool/tmp (3)" 0 "$(tmp_leftovers)"
fsck_clean "after the recovered commit"
mount_cairnfs "$T/mnt"
$TREE compare "$T/src" "$T/mnt/data/1" || fail "the recovered commit reads back different"
umount_cairnfs "$T/mnt"
stop_catalogd

# ---- 3. archived to S3, then the pool fills up again ---------------------------
start_s3
# shellcheck disable=SC2086
start_catalogd $OPTS $(s3_catalogd_opts) -o tiering.scan_interval=1h
total=$(cairn show data@1 --json | jq -r .objects)
cairn tier policy set min_idle=0 >/dev/null
cairn tier rule add dataset:data archive-now >/dev/null
cairn tier run >/dev/null
data_cold() { [ "$(cairn tier status --json | jq -r '.states.cold.objects')" = "$total" ]; }
wait_until "every object cold" 180 data_cold
wait_until "no moves in flight" 30 no_moves
cairn tier rule rm dataset:data >/dev/null
assert_eq "pool copies after archiving" 0 "$(pool_objects)"
assert_eq "tier of an archived file" cold "$(cairn tier explain data@1 large/blob1 --json | jq -r '.objects[0].state')"
recalled0=$(api /v1/tier/status | jq -r .totals.recalled.objects)

# Shrink the tmpfs to just above what it holds, then fill it to the last page.
mount -o remount,size=$(($(fs_used_kb) + 2048))k "$PFS" || fail "cannot shrink the tmpfs"
rc=0
dd if=/dev/zero of="$PFS/filler" bs=4k 2>"$T/dd.err" || rc=$?
[ $rc -ne 0 ] && grep -q "No space" "$T/dd.err" || fail "filling the tmpfs: $(cat "$T/dd.err")"
assert_eq "free space on the pool's filesystem (KiB)" 0 "$(fs_avail_kb)"

# A fresh mount (empty cache): every byte still reads, served from S3.
mount_cairnfs "$T/mnt2" --cache-dir "$T/cache2"
$TREE compare "$T/src" "$T/mnt2/data/1" || fail "reads with a full pool differ"
cmp "$T/src/large/blob3" <(cairn get data@1 large/blob3) || fail "cairn get with a full pool differs"
alive || fail "catalogd died when recalls could not write"
umount_cairnfs "$T/mnt2"
wait_until "no moves in flight (full pool)" 30 no_moves
st=$(api /v1/tier/status)
assert_eq "objects recalled into a full pool" "$recalled0" "$(jq -r .totals.recalled.objects <<<"$st")"
assert_eq "objects cold while the pool is full" "$total" "$(jq -r .states.cold.objects <<<"$st")"
jq -e '[.errors[] | select(.op == "recall" and (.message | test("full|space"; "i")))] | length > 0' \
	<<<"$st" >/dev/null || fail "failed recalls are not reported: $(jq -c .errors <<<"$st")"
log "ok: recall into a full pool -> $(jq -r '[.errors[] | select(.op == "recall")][0].message' <<<"$st")"
jq -e '.suspended | not' <<<"$st" >/dev/null || fail "a full pool suspended tiering: $st"
assert_eq "pool copies while full" 0 "$(pool_objects)"
assert_eq "files left in pool/tmp (4)" 0 "$(tmp_leftovers)"

# ---- 4. space returns: reads recall again --------------------------------------
rm -f "$PFS/filler"
# ~2 MiB free now: a small file's objects fit.
mount_cairnfs "$T/mnt3" --cache-dir "$T/cache3"
M=$T/mnt3/data/1
assert_eq "tier of big/f1.bin before" cold "$(tier_of "$M/big/f1.bin")"
cmp "$M/big/f1.bin" "$T/src/big/f1.bin" || fail "big/f1.bin after the filler went"
f1_dual() { [ "$(tier_of "$M/big/f1.bin")" = dual ]; }
wait_until "big/f1.bin recalled once there is space" 60 f1_dual
umount_cairnfs "$T/mnt3"
# All the room back: everything comes back on read.
mount -o remount,size=200M "$PFS" || fail "cannot grow the tmpfs again"
mount_cairnfs "$T/mnt4" --cache-dir "$T/cache4"
$TREE compare "$T/src" "$T/mnt4/data/1" || fail "reads after space returned differ"
umount_cairnfs "$T/mnt4"
all_dual() { [ "$(state_count dual)" = "$total" ]; }
wait_until "every object recalled" 120 all_dual
wait_until "no moves in flight (after)" 30 no_moves
assert_eq "pool copies after recall" "$total" "$(pool_objects)"
verify_pool
assert_eq "files left in pool/tmp (5)" 0 "$(tmp_leftovers)"
fsck_clean "after the recalls"
alive || fail "catalogd is not up at the end"
stop_catalogd
log "pass"
