#!/usr/bin/env bash
# 014 — cairnfs reading objects that are in S3 only, against a real S3
# server: user.cairn.tier asks catalogd in batches and says cold / mixed /
# dual; concurrent readers of a cold file cause one download per object
# (single flight); the first read of a cold file is served from the
# blocks that cover it; a sequential reader gets the next objects prefetched,
# not the whole file; a random reader reads blocks, and an object is
# downloaded whole only once it reads it twice; the cache directory stays under --cache-size; with
# S3 stopped a cold read fails with EIO within --timeout while objects that
# still have a pool copy read fine; an object whose S3 copy is damaged is
# EIO, logged and never cached; with recall_on_read later opens read the
# pool, and a cold read on the pool's host waits for catalogd's pool copy
# instead of caching a second one; reads from the pool are reported to
# catalogd as accesses; released objects keep heads, a damaged head is
# never served, and fsck drops heads of objects that are not released.
. "$(dirname "$0")/lib.sh"

CHUNK=262144
TIMEOUT=3

tier_of() { getfattr --only-values -n user.cairn.tier "$1"; }
# Requests catalogd has logged so far (its log level is debug here).
requests() { grep -c "$1" "$T/catalogd.log" || true; }
cached() { [ -f "$1/${2:0:2}/${2:2:2}/$2" ]; }
# A download's file sits in tmp/ from its start until the keeper thread
# renames it: checks that an object was NOT downloaded look there too.
cached_or_coming() { cached "$1" "$2" || compgen -G "$1/tmp/$2.*" >/dev/null; }
# Whole downloads cairnfs started of object $1 (a regex: [0-9a-f]* for
# all): through catalogd, or straight from S3 with a URL it asked for.
downloads() { requests "GET /v1/objects/$1\(/url\)\? "; }

mkdir -p "$T/src"
head -c $((32 * CHUNK)) /dev/urandom >"$T/src/big.bin"
head -c $((6 * CHUNK + 10)) /dev/urandom >"$T/src/mid.bin"
head -c $((4 * CHUNK)) /dev/urandom >"$T/src/warm.bin"
# A random reader's jumps must be longer than a sequential reader's
# read-ahead span (16 MiB plus 10 chunks): 48 MiB.
head -c $((192 * CHUNK)) /dev/urandom >"$T/src/wide.bin"

start_s3
CATOPTS="$(s3_catalogd_opts) -o pool.chunk_size=256K -o catalog.log_level=debug
	-o tiering.min_idle=0 -o tiering.scan_interval=1h -o tiering.recall_on_read=no"
# shellcheck disable=SC2086
start_catalogd $CATOPTS
cairn dataset create cold >/dev/null
cairn commit cold "$T/src" >/dev/null
total=$(api /v1/status | jq -r .objects.count)
cairn tier run >/dev/null
wait_until "every object dual" 60 all_in dual "$total"
release_all "$total"

mount_cairnfs "$T/mnt" --cache-dir "$T/cache" --timeout $TIMEOUT
M=$T/mnt/cold/1
mapfile -t BIG < <(ids_of "$M/big.bin")
mapfile -t MID < <(ids_of "$M/mid.bin")
assert_eq "objects of big.bin" 32 "${#BIG[@]}"

# ---- user.cairn.tier: one batch request for a file's objects ----------------
info0=$(requests "POST /v1/objects/info")
single0=$(requests "GET /v1/objects/[0-9a-f]*/info")
assert_eq "tier of a released file" cold "$(tier_of "$M/big.bin")"
log_settled
# getfattr asks twice (the value's size, then the value): one request each.
assert_eq "batch info requests for 32 objects" $((info0 + 2)) "$(requests "POST /v1/objects/info")"
assert_eq "single info requests" "$single0" "$(requests "GET /v1/objects/[0-9a-f]*/info")"

# ---- kept heads: every released object keeps its first 64 KiB on the pool ---
head_of() { echo "$POOL/heads/${1:0:2}/${1:2:2}/$1"; }
# (mid.bin's last object is 10 bytes: one block or less keeps none)
for id in "${BIG[@]}" "${MID[@]:0:6}"; do
	[ -f "$(head_of "$id")" ] || fail "released object $id kept no head"
done
[ ! -e "$(head_of "${MID[6]}")" ] || fail "a 10-byte object kept a head"
assert_eq "size of a kept head" 65536 "$(stat -c %s "$(head_of "${BIG[0]}")")"
assert_eq "heads in explain" "65536 0" \
	"$(cairn tier explain cold@1 mid.bin --json | jq -r '[.objects[0].head, .objects[6].head] | join(" ")')"
cmp "$(head_of "${BIG[0]}")" <(head -c 65536 "$T/src/big.bin") || fail "the head of big.bin is not its first 64 KiB"
# Range GETs (206) s3rver has logged for an object: what serving blocks from
# S3 costs (a whole object is 200).
s3_ranges() { grep -cE "/objects/${1:0:2}/$1(\?[^ ]*)? 206 " "$T/s3rver.log" || true; }
ranges0=$(s3_ranges "${BIG[0]}")

# ---- a sequential reader: the first object, then a few ahead -----------------
t0=$(date +%s%N)
head -c 4096 "$M/big.bin" >"$T/first"
t1=$(date +%s%N)
cmp "$T/first" <(head -c 4096 "$T/src/big.bin") || fail "first bytes of big.bin differ"
log "time to first byte of a cold file: $(((t1 - t0) / 1000000)) ms (informational)"
# That first read waited for the blocks that cover it, not the object, and
# they came from the head kept on the pool, not from S3.
log_settled
assert_eq "block reads of the first object" 1 "$(requests "GET /v1/objects/${BIG[0]}/blocks")"
assert_eq "range GETs for the first read" "$ranges0" "$(s3_ranges "${BIG[0]}")"
wait_until "the next objects prefetched" 20 cached "$T/cache" "${BIG[4]}"
n=0
for id in "${BIG[@]}"; do cached_or_coming "$T/cache" "$id" && n=$((n + 1)); done
[ "$n" -lt 16 ] || fail "reading 4 KiB fetched $n of 32 objects"
log "ok: 4 KiB read fetched $n of 32 objects"
# The whole file, front to back, by a new reader: its first pages are in
# the page cache, so its first reads land past them and may go by blocks;
# from then on it waits for the objects fetched whole ahead of it, even
# when the kernel's read-ahead reaches cairnfs out of order.
declare -A bb
for id in "${BIG[@]}"; do bb[$id]=$(requests "GET /v1/objects/$id/blocks"); done
cmp "$M/big.bin" "$T/src/big.bin" || fail "big.bin read front to back differs"
touched=0
for id in "${BIG[@]}"; do
	[ "$(requests "GET /v1/objects/$id/blocks")" = "${bb[$id]}" ] || touched=$((touched + 1))
done
[ "$touched" -le 2 ] || fail "a sequential read went by blocks in $touched of 32 objects"
log "ok: a sequential read went by blocks in $touched of 32 objects"
umount_cairnfs "$T/mnt"
rm -rf "$T/cache"
mount_cairnfs "$T/mnt" --cache-dir "$T/cache" --timeout $TIMEOUT

# ---- concurrent readers: one S3 GET per object --------------------------------
# GETs s3rver has logged for an object's key.
s3_gets() { grep -c "/objects/${1:0:2}/$1[ ?]" "$T/s3rver.log" || true; }
# Six readers of the whole file at once. Each object is fetched from S3
# once; "via" is how: straight from S3 with a URL catalogd signed (the
# default: catalogd sends no byte), or through catalogd (--no-direct).
# The blocks a first read of an object is served from (through catalogd)
# may be a range GET of their own (unless the head kept on the pool covers
# them): S3 sees 1 to 1 + (block requests) GETs of each object.
concurrent_reads() {
	local via=$1 id n b
	declare -A s3b catb urlb blkb
	drop_caches
	for id in "${BIG[@]}"; do
		s3b[$id]=$(s3_gets "$id")
		catb[$id]=$(requests "GET /v1/objects/$id ")
		urlb[$id]=$(requests "GET /v1/objects/$id/url ")
		blkb[$id]=$(requests "GET /v1/objects/$id/blocks")
	done
	pids=()
	for i in 1 2 3 4 5 6; do
		cmp "$M/big.bin" "$T/src/big.bin" >"$T/cmp.$i" 2>&1 &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p" || fail "a concurrent read of big.bin differs: $(cat "$T"/cmp.*)"; done
	log_settled
	for id in "${BIG[@]}"; do
		n=$(($(s3_gets "$id") - ${s3b[$id]}))
		b=$(($(requests "GET /v1/objects/$id/blocks") - ${blkb[$id]}))
		[ "$n" -ge 1 ] && [ "$n" -le $((1 + b)) ] ||
			fail "object $id was fetched from S3 $n times ($via; $b block reads)"
		n=$(($(requests "GET /v1/objects/$id ") - ${catb[$id]}))
		case $via in
		direct) [ "$n" -eq 0 ] || fail "object $id went through catalogd $n times (direct)"
			n=$(($(requests "GET /v1/objects/$id/url ") - ${urlb[$id]}))
			[ "$n" -eq 1 ] || fail "object $id: $n URLs asked for" ;;
		*) [ "$n" -eq 1 ] || fail "object $id went through catalogd $n times ($via)" ;;
		esac
	done
	log "ok: six concurrent readers, one S3 GET per object ($via)"
}
concurrent_reads direct
umount_cairnfs "$T/mnt"
# Verified downloads are synced and renamed into the cache by a thread of
# their own; an unmount right after the reads still leaves every object
# there under its final name, and no temporary file.
n=0
for id in "${BIG[@]}"; do cached "$T/cache" "$id" && n=$((n + 1)); done
[ "$n" -eq "${#BIG[@]}" ] || fail "$n of ${#BIG[@]} objects in the cache after the unmount"
[ -z "$(ls -A "$T/cache/tmp")" ] || fail "temporary files left in the cache: $(ls "$T/cache/tmp")"
log "ok: every object read is in the cache after the unmount"
rm -rf "$T/cache"
mount_cairnfs "$T/mnt" --cache-dir "$T/cache" --timeout $TIMEOUT --no-direct
concurrent_reads catalogd
# recall_on_read=no: everything is still cold, served from the cache.
assert_eq "cold after reads without recall_on_read" "$total" "$(state_count cold)"
jq -e '.urls.signed >= 32 and .urls.ttl == 900' <<<"$(api /v1/tier/status)" >/dev/null ||
	fail "URLs in tier status: $(api /v1/tier/status | jq -c .urls)"

umount_cairnfs "$T/mnt"

# ---- a random reader: blocks only, an object downloaded once read twice ------
# Reads of 4 KiB, read-ahead off (FADV_RANDOM), each further from the first
# than a sequential reader's read-ahead reaches: after three such jumps the
# handle is a random reader, and a cold object
# it reads once costs only the blocks of that read; reading one again
# queues its download.
mount_cairnfs "$T/mntr" --cache-dir "$T/cacher" --timeout $TIMEOUT
mapfile -t WIDE < <(ids_of "$T/mntr/cold/1/wide.bin")
drop_caches
declare -A gets
for k in 5 90; do gets[$k]=$(downloads "${WIDE[$k]}"); done
$PY - "$T/mntr/cold/1/wide.bin" "$T/src/wide.bin" $CHUNK 190 100 10 60 90 5 5 <<'PYEOF' ||
import os, sys
path, src, chunk = sys.argv[1], sys.argv[2], int(sys.argv[3])
fd = os.open(path, os.O_RDONLY)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
seen = {}
with open(src, "rb") as f:
    for k in map(int, sys.argv[4:]):
        # A chunk read again is read elsewhere: the page cache holds the
        # first read's page.
        off = k * chunk + 8192 + 131072 * seen.get(k, 0)
        seen[k] = seen.get(k, 0) + 1
        got = os.pread(fd, 4096, off)
        f.seek(off)
        if got != f.read(4096):
            sys.exit("chunk %d read wrong" % k)
PYEOF
	fail "random reads of wide.bin"
# 190, 100, 10 and 60 went the usual way (until its third jump the handle
# was not a random reader); 90 is read once, by blocks only; 5 is read
# twice: by blocks, then downloaded whole.
wait_until "the object read twice downloaded" 20 cached "$T/cacher" "${WIDE[5]}"
log_settled
assert_eq "whole downloads of an object a random reader read once" "${gets[90]}" \
	"$(downloads "${WIDE[90]}")"
! cached_or_coming "$T/cacher" "${WIDE[90]}" || fail "an object read once at random was downloaded"
[ "$(requests "GET /v1/objects/${WIDE[5]}/blocks")" -ge 2 ] ||
	fail "the random reader's reads of object 5 did not go by blocks"
umount_cairnfs "$T/mntr"

# ---- the cache stays under --cache-size --------------------------------------
mount_cairnfs "$T/mnt2" --cache-dir "$T/cache2" --cache-size 1M --timeout $TIMEOUT
cmp "$T/mnt2/cold/1/big.bin" "$T/src/big.bin" || fail "big.bin read through a small cache differs"
cache_small() { [ "$(find "$T/cache2" -type f -path '*/??/??/*' -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')" -le $((1024 * 1024)) ]; }
wait_until "the cache under 1M" 40 cache_small
umount_cairnfs "$T/mnt2"

# ---- a damaged S3 copy: EIO, logged, not cached --------------------------------
mount_cairnfs "$T/mnt3" --cache-dir "$T/cache3" --timeout $TIMEOUT
M=$T/mnt3/cold/1
victim=${MID[2]}
printf 'XXXX' | dd of="$(s3_object_file "$victim")" bs=1 seek=1000 conv=notrunc 2>/dev/null
if cat "$M/mid.bin" >/dev/null 2>"$T/cat.err"; then fail "a damaged object was served"; fi
grep -q "Input/output error" "$T/cat.err" || fail "expected EIO: $(cat "$T/cat.err")"
! cached "$T/cache3" "$victim" || fail "a damaged object was cached"
grep -q "$victim" "$T/cairnfs.log" || fail "no log line names the damaged object"
# The objects before it were fine and are served.
cmp -n $((2 * CHUNK)) "$M/mid.bin" "$T/src/mid.bin" || fail "the good head of mid.bin differs"

# ---- S3 down: cold reads fail within --timeout, pool copies still read ------
cairn tier policy set recall_on_read=yes >/dev/null
cat "$M/warm.bin" >/dev/null            # recalled: dual now
warm_dual() { [ "$(api "/v1/objects/$(ids_of "$M/warm.bin" | tail -n 1)/info" | jq -r .state)" = dual ]; }
wait_until "warm.bin recalled" 30 warm_dual
wait_until "no moves in flight" 30 no_moves
stop_s3
rm -rf "$T/cache3"/??
drop_caches
cmp "$M/warm.bin" "$T/src/warm.bin" || fail "a dual object did not read with S3 down"
start=$(date +%s)
if cat "$M/big.bin" >/dev/null 2>"$T/cat.err"; then fail "a cold read succeeded with S3 down"; fi
took=$(($(date +%s) - start))
grep -q "Input/output error" "$T/cat.err" || fail "expected EIO with S3 down: $(cat "$T/cat.err")"
[ "$took" -le $((TIMEOUT + 4)) ] || fail "a cold read with S3 down took ${took}s (timeout ${TIMEOUT}s)"
log "ok: cold read with S3 down failed after ${took}s"
start_s3
# catalogd may still be backing off from the outage: the next reads fail
# until it tries again, then succeed.
big_reads() { cmp -s "$M/big.bin" "$T/src/big.bin"; }
wait_until "big.bin readable after S3 came back" 60 big_reads

# ---- recall_on_read: later opens read the pool ------------------------------------
big_dual() { [ "$(cairn show cold --json | jq -r '.tiers.dual.objects // 0')" -ge 32 ]; }
wait_until "big.bin recalled by its read" 60 big_dual
wait_until "no moves in flight" 30 no_moves
assert_eq "tier of a recalled file" dual "$(tier_of "$M/big.bin")"
for id in "${BIG[@]}"; do [ ! -e "$(head_of "$id")" ] || fail "recalled object $id kept its head"; done
rm -rf "$T/cache3"/??
drop_caches
before=$(downloads "[0-9a-f]*")
cmp "$M/big.bin" "$T/src/big.bin" || fail "big.bin from the pool differs"
assert_eq "downloads of a recalled file" "$before" "$(downloads "[0-9a-f]*")"
for id in "${BIG[@]}"; do ! cached_or_coming "$T/cache3" "$id" || fail "$id came from the cache, not the pool"; done

# ---- a partly recalled file is mixed ---------------------------------------------
cmp -n 4096 "$M/mid.bin" "$T/src/mid.bin" || fail "head of mid.bin"
mid_mixed() { [ "$(tier_of "$M/mid.bin")" = mixed ]; }
wait_until "mid.bin partly recalled" 30 mid_mixed

# ---- pool reads are reported to catalogd -----------------------------------------
# catalogd coalesces access times for a while and writes them when it stops:
# a restart on each side of the read makes them visible now.
first=$(ids_of "$M/warm.bin" | head -n 1)
umount_cairnfs "$T/mnt3"
stop_catalogd
# shellcheck disable=SC2086
start_catalogd $CATOPTS
seen0=$(api "/v1/objects/$first/info" | jq -r .last_access)
sleep 2
reports0=$(requests "POST /v1/objects/accessed")
mount_cairnfs "$T/mnt4" --cache-dir "$T/cache4" --timeout $TIMEOUT
drop_caches
cmp "$T/mnt4/cold/1/warm.bin" "$T/src/warm.bin" || fail "warm.bin"
reported() { [ "$(requests "POST /v1/objects/accessed")" -gt "$reports0" ]; }
wait_until "an access report" 15 reported
! cached_or_coming "$T/cache4" "$first" || fail "warm.bin was not read from the pool"
umount_cairnfs "$T/mnt4"
stop_catalogd
# shellcheck disable=SC2086
start_catalogd $CATOPTS
seen1=$(api "/v1/objects/$first/info" | jq -r .last_access)
[ "$seen1" -gt "$seen0" ] || fail "the pool read was not recorded (last access $seen0, then $seen1)"

# ---- recall_on_read, pool on this host: read from the pool, no second copy ----------
# catalogd writes a read cold object back to the pool; cairnfs, which reads
# that pool, waits for it there instead of downloading the same bytes into
# its cache.
release_all "$total"
mount_cairnfs "$T/mnt5" --cache-dir "$T/cache5" --timeout $TIMEOUT
drop_caches
before=$(downloads "[0-9a-f]*")
recalls=$(requests "POST /v1/objects/[0-9a-f]*/recall")
cmp "$T/mnt5/cold/1/big.bin" "$T/src/big.bin" || fail "big.bin recalled into the pool differs"
for id in "${BIG[@]}"; do
	! cached_or_coming "$T/cache5" "$id" || fail "$id was copied into the cache as well as the pool"
	assert_eq "state of $id after its read" dual "$(api "/v1/objects/$id/info" | jq -r .state)"
done
log_settled
assert_eq "whole downloads when the pool gets the objects" "$before" \
	"$(downloads "[0-9a-f]*")"
[ "$(requests "POST /v1/objects/[0-9a-f]*/recall")" -gt "$recalls" ] ||
	fail "cairnfs did not ask catalogd to recall into the pool"
verify_pool
umount_cairnfs "$T/mnt5"

# ---- a damaged head is never served; keep_head = 0 keeps none ---------------------
release_all "$total"
h=$(head_of "${BIG[0]}")
printf 'XXXX' | dd of="$h" bs=1 seek=100 conv=notrunc 2>/dev/null
ranges0=$(s3_ranges "${BIG[0]}")
mount_cairnfs "$T/mnt6" --cache-dir "$T/cache6" --timeout $TIMEOUT
drop_caches
head -c 4096 "$T/mnt6/cold/1/big.bin" >"$T/first6"
cmp "$T/first6" <(head -c 4096 "$T/src/big.bin") || fail "a damaged head was served"
umount_cairnfs "$T/mnt6"
[ ! -e "$h" ] || fail "a head that fails its digests was kept"
grep -q "the head of object ${BIG[0]} kept in the pool does not match its block digests" \
	"$T/catalogd.log" || fail "the damaged head was not logged"
went_to_s3() { [ "$(s3_ranges "${BIG[0]}")" -gt "$ranges0" ]; }
wait_until "the first read served from S3 instead" 10 went_to_s3
cairn tier policy set keep_head=0 >/dev/null
mkdir -p "$T/src2"
head -c $((3 * CHUNK)) /dev/urandom >"$T/src2/nohead.bin"
cairn dataset create nohead >/dev/null
cairn commit nohead "$T/src2" >/dev/null
total=$(api /v1/status | jq -r .objects.count)
mount_cairnfs "$T/mnt7" --cache-dir "$T/cache7" --timeout $TIMEOUT
mapfile -t NOHEAD < <(ids_of "$T/mnt7/nohead/1/nohead.bin")
umount_cairnfs "$T/mnt7"
assert_eq "objects of nohead.bin" 3 "${#NOHEAD[@]}"
nohead_dual() {
	for id in "${NOHEAD[@]}"; do
		[ "$(api "/v1/objects/$id/info" | jq -r .state)" = dual ] || return 1
	done
}
cairn tier run >/dev/null
wait_until "nohead.bin copied to S3" 60 nohead_dual
release_all "$total"
for id in "${NOHEAD[@]}"; do [ ! -e "$(head_of "$id")" ] || fail "keep_head=0 kept the head of $id"; done

# ---- fsck drops heads of objects that are not released, keeps the others ----------
# (a head whose drop failed, or of an object the catalog no longer knows)
cairn tier policy set keep_head=64K >/dev/null
cairn tier recall nohead@1 >/dev/null || fail "recall of nohead@1"
release_all "$total"
[ -f "$(head_of "${NOHEAD[0]}")" ] || fail "released object ${NOHEAD[0]} kept no head"
kept=$(find "$POOL/heads" -type f | wc -l)
mkdir -p "$T/src3"
head -c 100000 /dev/urandom >"$T/src3/hot.bin"
cairn dataset create hot >/dev/null
cairn commit hot "$T/src3" >/dev/null
hot=$(xxhsum -H2 "$T/src3/hot.bin" | awk '{ h = $1; sub("^XXH128_", "", h); print h }')
assert_eq "state of a new object" hot "$(api "/v1/objects/$hot/info" | jq -r .state)"
orphan_hot=$(head_of "$hot")
orphan_unknown=$(head_of ffffffffffffffffffffffffffffffff)
mkdir -p "$(dirname "$orphan_hot")" "$(dirname "$orphan_unknown")"
cp "$(head_of "${NOHEAD[0]}")" "$orphan_hot"
cp "$(head_of "${NOHEAD[0]}")" "$orphan_unknown"
cairn fsck --json >"$T/fsck.json" || fail "fsck: $(cat "$T/fsck.json")"
assert_eq "heads fsck kept, dropped" "$kept 2" "$(jq -r '"\(.heads) \(.heads_dropped)"' "$T/fsck.json")"
[ ! -e "$orphan_hot" ] || fail "fsck kept the head of a hot object"
[ ! -e "$orphan_unknown" ] || fail "fsck kept the head of an unknown object"
[ -f "$(head_of "${NOHEAD[0]}")" ] || fail "fsck dropped the head of a cold object"
assert_eq "heads after fsck" "$kept" "$(find "$POOL/heads" -type f | wc -l)"

# ---- a crash after keeping a head leaves no head behind ----------------------
# hot.bin's object, the only one on the pool, is copied to S3. Its release
# then dies right after marking it releasing: the head is kept, the pool
# copy is still there. The next start makes the object dual again and must
# drop that head; that start dies in turn in its own release of it, before
# keeping a head. So a restart leaves no half state for fsck to find.
state_is() { [ "$(api "/v1/objects/$1/info" | jq -r .state)" = "$2" ]; }
heads() { find "$POOL/heads" -type f | sort; }
# crash_run POINT:N — catalogd with that crash point; waits until it dies.
crash_run() {
	local i
	# shellcheck disable=SC2086
	CAIRN_CRASH="$1" spawn_catalogd $CATOPTS
	for i in $(seq 1 300); do
		kill -0 "$CATALOGD_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$CATALOGD_PID" 2>/dev/null && fail "crash point $1 not reached in 30 s"
	wait "$CATALOGD_PID" 2>/dev/null || true
	CATALOGD_PID=
}
cairn tier run >/dev/null
wait_until "hot.bin copied to S3" 60 state_is "$hot" dual
heads_before=$(heads)
cairn tier policy set high_watermark=1% low_watermark=0% >/dev/null
stop_catalogd
crash_run tier.release.marked:1
[ -f "$(head_of "$hot")" ] || fail "the release died before keeping a head"
crash_run tier.release.readback:1
[ ! -e "$(head_of "$hot")" ] || fail "recovery kept the head of an object it made dual again"
assert_eq "heads after two crashes" "$heads_before" "$(heads)"
# shellcheck disable=SC2086
start_catalogd $CATOPTS
wait_until "hot.bin released" 60 state_is "$hot" cold
wait_until "no moves in flight" 30 no_moves
[ -f "$(head_of "$hot")" ] || fail "released object $hot kept no head"
cairn fsck --json >"$T/fsck.json" || fail "fsck: $(cat "$T/fsck.json")"
assert_eq "heads dropped by fsck after the crashes" 0 "$(jq -r .heads_dropped "$T/fsck.json")"
cairn tier policy set high_watermark=99% low_watermark=98% >/dev/null

stop_catalogd
log "pass"
