#!/usr/bin/env bash
# 016 — objects damaged inside the S3 server's data directory, behind its
# back: truncated part-way, truncated to nothing, overwritten in place
# (same size), and gone. s3rver serves what its files hold (it keeps the
# ETag it computed at upload), so only cairn's own digest check stands
# between these bytes and a reader. For each kind, through a fresh mount
# with an empty cache: the read gets EIO and the objects before the damaged
# one are still served; a read of the damaged bytes alone (served from
# block digests, not the whole object) gets EIO too, while an intact block
# of a damaged object is served; catalogd refuses the object over its API too; the
# damaged object is never cached by cairnfs and never written to the pool;
# `cairn tier recall` fails with the reason and recalls everything else;
# catalogd's log and `tier status` name the object. A DUAL object whose S3
# copy is damaged still reads from the pool. Once the S3 copies are put
# back, the version recalls and reads back byte-identical. Last, a DUAL
# copy damaged in S3 is caught by the read-back before its release.
. "$(dirname "$0")/lib.sh"

CHUNK=262144
TIMEOUT=3

api_status() { curl -s -o "$2" -w '%{http_code}' --unix-socket "$SOCK" "http://cairn$1"; }
state_of() { api "/v1/objects/$1/info" | jq -r .state; }
in_dir() { [ -e "$1/${2:0:2}/${2:2:2}/$2" ]; }

mkdir -p "$T/src/data" "$T/keep"
# Four files of four objects each: one kind of damage per file, on its
# third object.
for f in trunc empty flip gone; do
	head -c $((4 * CHUNK)) /dev/urandom >"$T/src/data/$f.bin"
done
head -c $((2 * CHUNK)) /dev/urandom >"$T/keep/pinned.bin"

start_s3
# shellcheck disable=SC2046
start_catalogd $(s3_catalogd_opts) -o s3.retries=1 -o pool.chunk_size=256K -o tiering.min_idle=0 \
	-o tiering.scan_interval=1h -o tiering.recall_on_read=no
cairn dataset create dmg >/dev/null
cairn commit dmg "$T/src" >/dev/null
cairn dataset create keep >/dev/null
cairn commit keep "$T/keep" >/dev/null
cairn tier pin keep@1 >/dev/null
total=$(api /v1/status | jq -r .objects.count)
cairn tier run >/dev/null
wait_until "every object dual" 60 all_in dual "$total"
cairn tier policy set high_watermark=1% low_watermark=0% >/dev/null
cairn tier run >/dev/null
wait_until "dmg released" 60 all_in cold $((total - 2))
wait_until "no moves in flight" 30 no_moves
cairn tier policy set high_watermark=99% low_watermark=98% >/dev/null

# ---- damage: one object of each file, originals kept aside --------------------
mount_cairnfs "$T/mnt0" --cache-dir "$T/cache0"
declare -A VICTIM
for f in trunc empty flip gone; do
	mapfile -t ids < <(ids_of "$T/mnt0/dmg/1/data/$f.bin")
	assert_eq "objects of $f.bin" 4 "${#ids[@]}"
	VICTIM[$f]=${ids[2]}
done
mapfile -t PIN < <(ids_of "$T/mnt0/keep/1/pinned.bin")
umount_cairnfs "$T/mnt0"
mkdir -p "$T/orig"
for f in trunc empty flip gone; do
	file=$(s3_object_file "${VICTIM[$f]}")
	[ -f "$file" ] || fail "no S3 copy of ${VICTIM[$f]} at $file"
	cp -p "$file" "$T/orig/${VICTIM[$f]}"
done
truncate -s 100000 "$(s3_object_file "${VICTIM[trunc]}")"
truncate -s 0 "$(s3_object_file "${VICTIM[empty]}")"
printf 'XXXXXXXX' | dd of="$(s3_object_file "${VICTIM[flip]}")" bs=1 seek=$((CHUNK - 8)) \
	conv=notrunc 2>/dev/null
rm -f "$(s3_object_file "${VICTIM[gone]}")"
pinfile=$(s3_object_file "${PIN[0]}")
cp -p "$pinfile" "$T/orig/${PIN[0]}"
printf 'XXXX' | dd of="$pinfile" bs=1 seek=1000 conv=notrunc 2>/dev/null

# ---- reads through cairnfs: EIO, the good head served, nothing cached -------
mount_cairnfs "$T/mnt" --cache-dir "$T/cache" --timeout $TIMEOUT
M=$T/mnt/dmg/1/data
drop_caches
for f in trunc empty flip gone; do
	v=${VICTIM[$f]}
	if cat "$M/$f.bin" >/dev/null 2>"$T/cat.err"; then fail "$f: a damaged object was served"; fi
	grep -q "Input/output error" "$T/cat.err" || fail "$f: expected EIO: $(cat "$T/cat.err")"
	cmp -n $((2 * CHUNK)) "$M/$f.bin" "$T/src/data/$f.bin" || fail "$f: the good head differs"
	# Its last 4 KiB are damaged in every kind: a read of them alone
	# (served from the blocks that cover it, not the whole object) fails.
	if dd if="$M/$f.bin" of="$T/part" bs=4096 skip=$((3 * CHUNK / 4096 - 1)) count=1 \
		status=none 2>/dev/null; then
		fail "$f: a read of the damaged bytes succeeded"
	fi
	! in_dir "$T/cache" "$v" || fail "$f: the damaged object was cached"
	! in_dir "$POOL" "$v" || fail "$f: the damaged object reached the pool"
	assert_eq "$f: state of the damaged object" cold "$(state_of "$v")"
	# An empty file breaks s3rver's connection, which catalogd retries as
	# it would any network fault: cairnfs gave up at --timeout before.
	wait_until "catalogd's log naming $v ($f)" 40 grep -q "$v" "$T/catalogd.log"
	log "ok: $f — EIO, head served, not cached"
done
# Block by block: the first 64 KiB block of the overwritten object is
# intact and its digest says so — a read of it alone is served, right.
dd if="$M/flip.bin" of="$T/part" bs=4096 skip=$((2 * CHUNK / 4096)) count=1 status=none ||
	fail "an intact block of a damaged object was not served"
cmp "$T/part" <(dd if="$T/src/data/flip.bin" bs=4096 skip=$((2 * CHUNK / 4096)) count=1 \
	status=none) || fail "an intact block of a damaged object read wrong"
! in_dir "$T/cache" "${VICTIM[flip]}" || fail "flip: cached after a block read"
# The pinned version is DUAL: its S3 copy is damaged, its pool copy is not.
cmp "$T/mnt/keep/1/pinned.bin" "$T/keep/pinned.bin" || fail "a dual object did not read from the pool"

# ---- catalogd's API refuses them as well ---------------------------------------
for f in trunc empty flip gone; do
	code=$(api_status "/v1/objects/${VICTIM[$f]}" "$T/body")
	[ "$code" != 200 ] || fail "$f: GET /v1/objects answered 200"
	jq -e '.error.message | length > 0' "$T/body" >/dev/null ||
		fail "$f: no error message: $(head -c 200 "$T/body")"
done
[ "$(api_status "/v1/objects/${VICTIM[flip]}" "$T/body")" = 422 ] ||
	fail "a digest mismatch should be 422: $(head -c 200 "$T/body")"
api /v1/tier/status | jq -e --arg v "${VICTIM[flip]}" \
	'[.errors[]? | tostring | contains($v)] | any' >/dev/null ||
	fail "tier status does not name ${VICTIM[flip]}: $(api /v1/tier/status | jq -c .errors)"

# ---- a recall of the version: fails, says why, recalls the rest ---------------
expect_fail "recall of a version with damaged S3 copies" cairn tier recall dmg@1
grep -q "could not be recalled\|failed" "$T/err" || fail "recall failure message: $(cat "$T/err")"
wait_until "no moves in flight" 30 no_moves
for f in trunc empty flip gone; do
	assert_eq "$f: stays cold after a failed recall" cold "$(state_of "${VICTIM[$f]}")"
	! in_dir "$POOL" "${VICTIM[$f]}" || fail "$f: a recall wrote the damaged object to the pool"
done
assert_eq "every undamaged object recalled" $((total - 4)) "$(state_count dual)"
verify_pool

# ---- S3 copies put back: the version recalls and reads back whole --------------
for id in "${VICTIM[@]}" "${PIN[0]}"; do
	cp -p "$T/orig/$id" "$(s3_object_file "$id")"
done
cairn tier recall dmg@1 >/dev/null || fail "recall after the S3 copies were restored"
assert_eq "everything dual" "$total" "$(state_count dual)"
umount_cairnfs "$T/mnt"
mount_cairnfs "$T/mnt2" --cache-dir "$T/cache2"
drop_caches
for f in trunc empty flip gone; do
	cmp "$T/mnt2/dmg/1/data/$f.bin" "$T/src/data/$f.bin" || fail "$f.bin differs after recovery"
done
cairn fsck >/dev/null || fail "fsck after recovery"
verify_pool
umount_cairnfs "$T/mnt2"

# ---- release reads the S3 copy back first (verify=readback, the default) -------
# A DUAL object whose S3 copy is overwritten in place after its migration
# (same size, same ETag on record: a HEAD cannot tell). The release reads
# it back, refuses it and sends the object back to HOT with its pool copy;
# the pass that follows (the pool is still over its watermark) copies it
# again, and only then is it released: its S3 copy is whole at the end.
hold=${PIN[0]}
assert_eq "state of $hold before the damage" dual "$(state_of "$hold")"
verified_by() { cairn tier explain keep@1 pinned.bin --json | jq -r '[.objects[].s3_verify] | unique | join(",")'; }
assert_eq "how keep@1's copies were verified at migration" checksum "$(verified_by)"
printf 'XXXX' | dd of="$(s3_object_file "$hold")" bs=1 seek=1000 conv=notrunc 2>/dev/null
migrated=$(api /v1/tier/status | jq .totals.migrated.objects)
cairn tier unpin keep@1 >/dev/null
cairn tier policy set high_watermark=1% low_watermark=0% >/dev/null
cairn tier run >/dev/null
wait_until "every object released" 30 all_in cold "$total"
wait_until "no moves in flight" 30 no_moves
grep "$hold" "$T/catalogd.log" | grep -q "read back.*not released" ||
	fail "catalogd's log does not name the failed read-back of $hold"
api /v1/tier/status | jq -e --arg v "$hold" \
	'[.errors[]? | tostring | contains($v) and contains("read back")] | any' >/dev/null ||
	fail "tier status does not name $hold: $(api /v1/tier/status | jq -c .errors)"
assert_eq "objects copied again" $((migrated + 1)) "$(api /v1/tier/status | jq .totals.migrated.objects)"
assert_eq "the S3 copy of $hold" "$hold" "$(xxhsum -H2 "$(s3_object_file "$hold")" |
	awk '{ h = $1; sub("^XXH128_", "", h); print h }')"
assert_eq "how keep@1's copies were verified once released" readback "$(verified_by)"
cairn tier policy set high_watermark=99% low_watermark=98% >/dev/null
mount_cairnfs "$T/mnt3" --cache-dir "$T/cache3"
drop_caches
cmp "$T/mnt3/keep/1/pinned.bin" "$T/keep/pinned.bin" || fail "pinned.bin differs after its re-copy"
umount_cairnfs "$T/mnt3"

stop_catalogd
log "pass"
