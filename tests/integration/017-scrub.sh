#!/usr/bin/env bash
# 017 — scrub: every copy read back and checked, damaged copies replaced
# from good ones. Copies are damaged behind cairn's back (bytes flipped in
# place, files removed) in the pool and in s3rver's data dir. `cairn tier
# scrub` must: repair a DUAL object's damaged or missing pool copy from S3
# and its damaged or missing S3 copy from the pool (both then hash to the
# object's id, checked here with xxhsum, not with cairn's code); name, on
# stderr and in the job, every object with no good copy left (both copies
# of a DUAL object, the S3 copy of a COLD one, the pool copy of a HOT one)
# and exit 1; change nothing on a clean catalog. A read through catalogd
# that meets a damaged pool copy of a DUAL object is served from S3 and
# queues the same repair. A kill -9 in the middle of a pool repair leaves
# the object readable and byte-identical after the restart. Scheduled
# scrubs (scrub_interval) repair a damaged pool copy no one asked about, and
# their schedule survives a restart.
. "$(dirname "$0")/lib.sh"

CHUNK=262144

state_of() { api "/v1/objects/$1/info" | jq -r .state; }
is_dual() { [ "$(state_of "$1")" = dual ]; }
pool_file() { echo "$POOL/${1:0:2}/${1:2:2}/$1"; }
# good FILE OID — FILE's bytes hash to OID (xxhsum, not cairn's code).
good() { [ -f "$1" ] && [ "$(xxhsum -H2 "$1" 2>/dev/null | awk '{ sub("^XXH128_", "", $1); print $1 }')" = "$2" ]; }
flip() { printf 'XXXXXXXX' | dd of="$1" bs=1 seek=1000 conv=notrunc 2>/dev/null; }
job_of() { jq -r .job "$1"; }

mkdir -p "$T/d" "$T/c" "$T/h"
for f in one two three; do head -c $((4 * CHUNK)) /dev/urandom >"$T/d/$f.bin"; done
head -c $((4 * CHUNK)) /dev/urandom >"$T/c/cold.bin"
head -c $((2 * CHUNK)) /dev/urandom >"$T/h/hot.bin"

start_s3
# shellcheck disable=SC2046
start_catalogd $(s3_catalogd_opts) -o s3.retries=1 -o pool.chunk_size=256K \
	-o tiering.min_idle=0 -o tiering.scan_interval=1h -o tiering.recall_on_read=no
cairn dataset create d >/dev/null
cairn commit d "$T/d" >/dev/null
cairn dataset create c >/dev/null
cairn commit c "$T/c" >/dev/null
cairn tier pin d@1 >/dev/null
cairn tier run >/dev/null
wait_until "every object dual" 60 all_in dual 16
cairn tier policy set high_watermark=1% low_watermark=0% >/dev/null
cairn tier run >/dev/null
wait_until "c released" 60 all_in cold 4
wait_until "no moves in flight" 30 no_moves
cairn tier policy set high_watermark=99% low_watermark=98% min_idle=1d >/dev/null
cairn dataset create h >/dev/null
cairn commit h "$T/h" >/dev/null
assert_eq "hot objects" 2 "$(state_count hot)"

mount_cairnfs "$T/mnt"
mapfile -t ONE < <(ids_of "$T/mnt/d/1/one.bin")
mapfile -t TWO < <(ids_of "$T/mnt/d/1/two.bin")
mapfile -t THREE < <(ids_of "$T/mnt/d/1/three.bin")
mapfile -t COLD < <(ids_of "$T/mnt/c/1/cold.bin")
mapfile -t HOT < <(ids_of "$T/mnt/h/1/hot.bin")
umount_cairnfs "$T/mnt"

# ---- a clean catalog: everything checked, nothing changed --------------------------
cairn tier scrub --all --json >"$T/job.json" 2>"$T/err" || fail "scrub of a clean catalog: $(cat "$T/err")"
assert_eq "clean scrub: state" done "$(jq -r .state "$T/job.json")"
assert_eq "clean scrub: kind" scrub "$(jq -r .kind "$T/job.json")"
assert_eq "clean scrub: objects checked" 18 "$(jq -r .done_objects "$T/job.json")"
assert_eq "clean scrub: repaired" 0 "$(jq -r .repaired "$T/job.json")"
assert_eq "clean scrub: failed" 0 "$(jq -r .failed "$T/job.json")"
assert_eq "clean scrub: still dual" 12 "$(state_count dual)"
assert_eq "clean scrub: still cold" 4 "$(state_count cold)"
assert_eq "clean scrub: still hot" 2 "$(state_count hot)"

# ---- damage ------------------------------------------------------------------------
P_BAD=${ONE[1]}         # DUAL: pool copy overwritten in place
P_GONE=${TWO[1]}        # DUAL: pool copy removed
S_BAD=${THREE[1]}       # DUAL: S3 copy overwritten in place
S_GONE=${THREE[2]}      # DUAL: S3 copy removed
BOTH=${ONE[3]}          # DUAL: both copies damaged: lost
C_BAD=${COLD[1]}        # COLD: its only copy damaged: lost
H_BAD=${HOT[0]}         # HOT: its only copy damaged: lost
cp "$(pool_file "$BOTH")" "$T/both.orig"
flip "$(pool_file "$P_BAD")"
rm "$(pool_file "$P_GONE")"
flip "$(s3_object_file "$S_BAD")"
rm "$(s3_object_file "$S_GONE")"
flip "$(pool_file "$BOTH")"
flip "$(s3_object_file "$BOTH")"
flip "$(s3_object_file "$C_BAD")"
flip "$(pool_file "$H_BAD")"

# ---- scrub of the DUAL version: four repaired, one lost ----------------------------
expect_fail "scrub of d@1 with an object that has no good copy" cairn tier scrub d@1
grep -q "$BOTH" "$T/err" || fail "scrub did not name the lost object $BOTH: $(cat "$T/err")"
grep -q "no good copy" "$T/err" || fail "scrub did not say why: $(cat "$T/err")"
for id in "$P_BAD" "$P_GONE" "$S_BAD" "$S_GONE"; do
	! grep -q "$id" "$T/err" || fail "a repaired object is reported as lost: $id"
done
grep -q "4 repaired" "$T/out" || fail "scrub summary: $(cat "$T/out")"
job=$(cairn tier status --json | jq -r '.scrub')
assert_eq "status: repaired" 4 "$(jq -r .repaired <<<"$job")"
assert_eq "status: no good copy" 1 "$(jq -r .damaged <<<"$job")"
for id in "$P_BAD" "$P_GONE"; do
	good "$(pool_file "$id")" "$id" || fail "pool copy of $id not repaired"
	assert_eq "state after a pool repair" dual "$(state_of "$id")"
done
for id in "$S_BAD" "$S_GONE"; do
	good "$(s3_object_file "$id")" "$id" || fail "S3 copy of $id not repaired"
	assert_eq "state after an S3 repair" dual "$(state_of "$id")"
done
# Never "repaired" from a bad copy: both copies of the lost object stay as
# they were found, and it stays DUAL.
! good "$(pool_file "$BOTH")" "$BOTH" || fail "the lost object's pool copy changed"
assert_eq "the lost object's state" dual "$(state_of "$BOTH")"
api /v1/tier/status | jq -e --arg v "$BOTH" '[.errors[]? | tostring | contains($v)] | any' \
	>/dev/null || fail "tier status does not name $BOTH"
grep -q "$BOTH" "$T/catalogd.log" || fail "catalogd's log does not name $BOTH"

# ---- the COLD and the HOT object with their only copy damaged -------------------------
expect_fail "scrub of c@1 (a cold object damaged in S3)" cairn tier scrub c@1
grep -q "$C_BAD" "$T/err" || fail "scrub did not name $C_BAD: $(cat "$T/err")"
assert_eq "damaged cold object stays cold" cold "$(state_of "$C_BAD")"
expect_fail "scrub of h@1 (a hot object damaged in the pool)" cairn tier scrub h@1
grep -q "$H_BAD" "$T/err" || fail "scrub did not name $H_BAD: $(cat "$T/err")"
assert_eq "damaged hot object stays hot" hot "$(state_of "$H_BAD")"

# A job can be looked at again by its id, with the objects it could not save.
cairn tier scrub h@1 --no-wait --json >"$T/start.json" 2>/dev/null || fail "scrub --no-wait"
id=$(job_of "$T/start.json")
expect_fail "tier job of a scrub with a lost object" cairn tier job "$id" --wait
cairn tier job "$id" --json >"$T/job.json" 2>/dev/null || true
assert_eq "job bad list" "$H_BAD" "$(jq -r '.bad[0].object' "$T/job.json")"

# ---- a read meets a damaged pool copy: served from S3, then repaired -------------------
R=${TWO[2]}
flip "$(pool_file "$R")"
cairn get d@1 two.bin -o "$T/two.out" || fail "cairn get with a damaged pool copy"
cmp "$T/two.out" "$T/d/two.bin" || fail "cairn get served wrong bytes"
wait_until "pool copy of $R repaired after a read" 30 good "$(pool_file "$R")" "$R"
wait_until "$R dual again" 30 is_dual "$R"

# ---- kill -9 in the middle of a pool repair ----------------------------------------
K=${TWO[3]}
flip "$(pool_file "$K")"
stop_catalogd
# shellcheck disable=SC2046
CAIRN_CRASH=tier.scrub.marked start_catalogd $(s3_catalogd_opts) -o s3.retries=1 \
	-o pool.chunk_size=256K -o tiering.scan_interval=1h -o tiering.recall_on_read=no
cairn tier scrub d@1 >/dev/null 2>&1 || true
wait "$CATALOGD_PID" 2>/dev/null || true
CATALOGD_PID=
grep -q "crash point reached" "$T/catalogd.log" ||
	fail "catalogd did not stop at tier.scrub.marked: $(tail -n 3 "$T/catalogd.log")"
# shellcheck disable=SC2046
start_catalogd $(s3_catalogd_opts) -o s3.retries=1 -o pool.chunk_size=256K \
	-o tiering.scan_interval=1h -o tiering.recall_on_read=no
# Recovery leaves the object COLD or DUAL, never half moved. d is pinned, so a
# COLD object is recalled by the first policy pass after the start: the state
# may already be "recalling" here, so wait for it to come to rest.
at_rest() { case "$(state_of "$1")" in cold | dual) return 0 ;; esac; return 1; }
wait_until "$K at rest after the crash" 30 at_rest "$K"
is_dual "$K" && { good "$(pool_file "$K")" "$K" || fail "$K dual with a bad pool copy"; }
# Whatever was interrupted, the object reads back whole, and the pin puts it
# back on the pool without anyone asking.
cairn get d@1 two.bin -o "$T/two.out2" || fail "cairn get after the crash"
cmp "$T/two.out2" "$T/d/two.bin" || fail "two.bin differs after the crash"
wait_until "$K dual again (d@1 is pinned)" 30 is_dual "$K"
good "$(pool_file "$K")" "$K" || fail "pool copy of $K bad after the crash and recall"

# ---- the lost object's copy put back: the next scrub is clean for d ---------------------
cp "$T/both.orig" "$(pool_file "$BOTH")"
cairn tier scrub d@1 >"$T/out" 2>"$T/err" || fail "scrub after the pool copy was restored: $(cat "$T/err")"
grep -q "1 repaired" "$T/out" || fail "the restored pool copy should repair S3: $(cat "$T/out")"
good "$(s3_object_file "$BOTH")" "$BOTH" || fail "S3 copy of $BOTH not repaired from the restored pool copy"
mount_cairnfs "$T/mnt2" --cache-dir "$T/cache2"
drop_caches
for f in one two three; do
	cmp "$T/mnt2/d/1/$f.bin" "$T/d/$f.bin" || fail "$f.bin differs at the end"
done
umount_cairnfs "$T/mnt2"

# ---- scheduled scrubs: scrub_interval finds and repairs what no one asked about ---------
last0=$(api /v1/tier/status | jq -r .scrub.last_all)
[ "$last0" -gt 0 ] || fail "no scrub of the whole catalog recorded: $(api /v1/tier/status | jq -c .scrub)"
cairn tier status | grep -q "^scrubs: *not scheduled (scrub_interval 0); last of all: .* ago" ||
	fail "status without a schedule: $(cairn tier status | grep scrub)"
good "$(pool_file "$K")" "$K" || fail "$K's pool copy is bad before the scheduled scrub"
flip "$(pool_file "$K")"
cairn tier policy set scrub_interval=2s >/dev/null
wait_until "the scheduled scrub repaired $K" 60 good "$(pool_file "$K")" "$K"
wait_until "$K dual again" 30 is_dual "$K"
grep -q "scrub of the catalog (scheduled) started" "$T/catalogd.log" ||
	fail "no scheduled scrub in the log"
jq -e --argjson l "$last0" '.scrub.interval == 2 and .scrub.last_all > $l and .scrub.next > .scrub.last_all' 	<<<"$(api /v1/tier/status)" >/dev/null || fail "scrub schedule in status: $(api /v1/tier/status | jq -c .scrub)"
# The time of the last one is kept in the catalog: a restart does not move it.
cairn tier policy set scrub_interval=1h >/dev/null
sleep 1
last1=$(api /v1/tier/status | jq -r .scrub.last_all)
stop_catalogd
# shellcheck disable=SC2046
start_catalogd $(s3_catalogd_opts) -o s3.retries=1 -o pool.chunk_size=256K \
	-o tiering.scan_interval=1h -o tiering.recall_on_read=no
jq -e --argjson l "$last1" '.scrub.last_all == $l and .scrub.next == $l + 3600' \
	<<<"$(api /v1/tier/status)" >/dev/null || fail "scrub schedule after a restart: $(api /v1/tier/status | jq -c .scrub) (last $last1)"
cairn tier status | grep -q "^scrubs: *every 1h, next " || fail "status with a schedule: $(cairn tier status | grep scrub)"
cairn tier policy set scrub_interval=0 >/dev/null

stop_catalogd
log "pass"
