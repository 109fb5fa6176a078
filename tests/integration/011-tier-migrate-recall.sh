#!/usr/bin/env bash
# 011 — the life cycle against a real S3 server: HOT → DUAL → COLD → DUAL.
# Two datasets share objects; with min_idle=0 a run migrates every object
# exactly once (checked in s3rver's data directory, byte for byte); a low
# high_watermark releases every pool copy except those of a pinned version;
# an archive_now rule migrates and releases a third dataset at once; a FRESH
# cairnfs mount (empty cache) reads everything back byte-identical, which
# recalls the COLD objects (recall_on_read) so that they end DUAL with
# verified pool copies; `cairn tier recall` warms a whole version; a version
# pinned while in S3 only is brought back by the next run; explain,
# dry-run and status say what happened and why; fsck finds nothing wrong.
# With S3 stopped, moves fail until tiering suspends itself (and says why)
# while pool reads go on; it resumes when S3 answers again. Without an
# [s3] endpoint the engine is off, and a cold read fails with a clear error.
. "$(dirname "$0")/lib.sh"

CHUNK=262144
TREE="$PY $(dirname "$0")/treetool.py"

# tier_json — GET a tiering endpoint over the socket, as a script would.
# oids_of DS@V PATH — the object ids of a file.
oids_of() { cairn tier explain "$1" "$2" --json | jq -r '.objects[].id'; }
no_moves() {
	local st
	st=$(api /v1/tier/status)
	[ "$(jq '.queue.migrate + .queue.release + .queue.recall + .queue.busy' <<<"$st")" = 0 ] &&
	[ "$(jq '.states.migrating.objects + .states.releasing.objects + .states.recalling.objects' <<<"$st")" = 0 ]
}

$TREE gen "$T/src" --files 300 --chunk-size $CHUNK --seed 11
# A second dataset that shares the big files with the first (dedup: one
# object, two datasets) and has a few files of its own.
mkdir -p "$T/src2"
cp -a "$T/src/big" "$T/src2/"
head -c 100000 /dev/urandom >"$T/src2/own.bin"
# A third, for the archive_now rule.
mkdir -p "$T/src3"
head -c $((3 * CHUNK + 7)) /dev/urandom >"$T/src3/archive.bin"
echo "small" >"$T/src3/small.txt"

start_s3
# Nothing moves by itself: idle objects only after a day, and the scanner
# sleeps for an hour; each step below is a `tier run`.
start_catalogd $(s3_catalogd_opts) -o pool.chunk_size=256K \
	-o tiering.min_idle=1d -o tiering.scan_interval=1h -o tiering.verify=readback

cairn dataset create lab/runs >/dev/null
cairn dataset create lab/shared >/dev/null
cairn dataset create lab/archive >/dev/null
cairn commit lab/runs "$T/src" --message one >/dev/null
cairn commit lab/shared "$T/src2" --message two >/dev/null

total=$(api /v1/status | jq -r .objects.count)
assert_eq "objects recorded" "$($TREE chunks $CHUNK "$T/src" "$T/src2")" "$total"
assert_eq "all hot at first" "$total" "$(state_count hot)"
jq -e '.enabled and (.suspended | not) and .s3.bucket == "cairn"' \
	<<<"$(api /v1/tier/status)" >/dev/null || fail "status: engine not on: $(api /v1/tier/status)"

# ---- nothing is idle long enough: dry run and explain agree ----
plan=$(cairn tier run --dry-run --json)
assert_eq "dry run with min_idle=1d" 0 "$(jq '.plan | length' <<<"$plan")"
why=$(cairn tier explain lab/runs@1 big/f1.bin --json | jq -r '.objects[0].decision + ": " + .objects[0].why')
case "$why" in "keep: idle "*"< min_idle 1d") ;; *) fail "explain before: '$why'";; esac

# ---- migrate: min_idle=0 ----
cairn tier policy set min_idle=0 >/dev/null
plan=$(cairn tier run --dry-run --json)
assert_eq "dry run plans every object" "$total" "$(jq '[.plan[] | select(.action == "migrate")] | length' <<<"$plan")"
jq -e '.plan[0].reason | test("idle .* ≥ min_idle 0s")' <<<"$plan" >/dev/null ||
	fail "plan reason: $(jq -r '.plan[0].reason' <<<"$plan")"
assert_eq "dry run moved nothing" "$total" "$(state_count hot)"
cairn tier run >/dev/null
wait_until "every object dual" 120 all_in dual "$total"
wait_until "no moves in flight" 30 no_moves
st=$(api /v1/tier/status)
# Shared objects are one object: migrated once.
assert_eq "objects migrated (each once)" "$total" "$(jq .totals.migrated.objects <<<"$st")"
nfiles=$(find "$S3_DIR/$S3_BUCKET/objects" -name '*._S3rver_object' | wc -l)
assert_eq "objects in s3rver" "$total" "$nfiles"
bad=$(find "$S3_DIR/$S3_BUCKET/objects" -name '*._S3rver_object' -print0 | xargs -0 xxhsum -H2 |
	awk '{ h = $1; sub("^XXH128_", "", h); n = $NF; sub(".*/", "", n); sub("\\._S3rver_object$", "", n); if (h != n) print n }')
[ -z "$bad" ] || fail "S3 copies that do not match their id: $bad"
assert_eq "pool copies kept while dual" "$total" "$(pool_objects)"
oid=$(oids_of lab/runs@1 big/f1.bin | head -n 1)
info=$(api "/v1/objects/$oid/info")
jq -e '.state == "dual" and .pool and .s3_verified > 0' <<<"$info" >/dev/null || fail "info: $info"

# ---- release: pool over a tiny high watermark; lab/shared@1 is pinned ----
cairn tier pin lab/shared@1
shared=$(cairn tier explain lab/shared@1 own.bin --json | jq -r '.objects[0].id')
cairn tier policy set high_watermark=1% low_watermark=0% >/dev/null
plan=$(cairn tier run --dry-run --json)
jq -e '[.plan[] | select(.action == "release")] | length > 0' <<<"$plan" >/dev/null ||
	fail "no release planned: $plan"
jq -e --arg s "$shared" '[.plan[] | select(.object == $s)] | length == 0' <<<"$plan" >/dev/null ||
	fail "a pinned object is planned for release"
cairn tier run >/dev/null
pinned_objs=$(cairn show lab/shared@1 --json | jq -r .objects)
wait_until "unpinned objects cold" 120 all_in cold $((total - pinned_objs))
wait_until "no moves in flight" 30 no_moves
assert_eq "dual objects (the pinned version's)" "$pinned_objs" "$(state_count dual)"
assert_eq "pool copies left" "$pinned_objs" "$(pool_objects)"
[ -f "$(s3_object_file "$shared")" ] || fail "pinned object has no S3 copy"
ex=$(cairn tier explain lab/shared@1 own.bin --json | jq -r '.objects[0] | .state + " " + .decision + " " + .why')
case "$ex" in "dual keep pinned by lab/shared@1"*) ;; *) fail "explain pinned: '$ex'";; esac
cold_oid=$(oids_of lab/runs@1 with\ space.txt)
assert_eq "cold object state" cold "$(api "/v1/objects/$cold_oid/info" | jq -r .state)"
assert_eq "cold object pool copy" false "$(api "/v1/objects/$cold_oid/info" | jq -r .pool)"
# The policy and the pin outlive a restart (they are in the catalog).
stop_catalogd
start_catalogd $(s3_catalogd_opts) -o pool.chunk_size=256K \
	-o tiering.min_idle=1d -o tiering.scan_interval=1h -o tiering.verify=readback
pol=$(cairn tier policy show --json)
jq -e '.effective.high_watermark == "1%" and .effective.low_watermark == "0%" and
       .effective.min_idle == "0s" and .overrides.min_idle == "0" and
       (.pins | length == 1 and .[0].dataset == "lab/shared" and .[0].seq == 1)' \
	<<<"$pol" >/dev/null ||
	fail "policy after restart: $pol"
wait_until "no moves in flight" 30 no_moves
assert_eq "dual objects after restart" "$pinned_objs" "$(state_count dual)"
# Back to normal watermarks: nothing more is released.
cairn tier policy set high_watermark=85% low_watermark=70% >/dev/null
cairn tier unpin lab/shared@1

# ---- archive_now: a rule beats idle time and watermarks ----
cairn tier policy set min_idle=1d >/dev/null
cairn commit lab/archive "$T/src3" >/dev/null
cairn tier rule add dataset:lab/archive archive-now >/dev/null
arch=$(cairn show lab/archive@1 --json | jq -r .objects)
plan=$(cairn tier run --dry-run --json)
jq -e '[.plan[] | select(.action == "migrate" and (.reason | test("archive_now")))] | length > 0' \
	<<<"$plan" >/dev/null || fail "archive rule not in the plan: $plan"
cairn tier run >/dev/null
arch_cold() { [ "$(cairn show lab/archive@1 --json | jq -r '.tiers.cold.objects // 0')" = "$arch" ]; }
wait_until "archived dataset cold" 60 arch_cold
wait_until "no moves in flight" 30 no_moves
cairn tier rule rm dataset:lab/archive >/dev/null

# ---- recall through a fresh mount: empty cache, COLD objects ----
cold_before=$(state_count cold)
[ "$cold_before" -gt 0 ] || fail "nothing cold before the read-back"
mount_cairnfs "$T/mnt" --cache-dir "$T/cache"
$TREE compare "$T/src" "$T/mnt/lab/runs/1" || fail "lab/runs@1 read back through cairnfs differs"
$TREE compare "$T/src2" "$T/mnt/lab/shared/1" || fail "lab/shared@1 read back differs"
umount_cairnfs "$T/mnt"
# Every object read came back to the pool (recall_on_read), verified.
runs_cold() { [ "$(cairn show lab/runs@1 --json | jq -r '.tiers.cold.objects // 0')" = 0 ]; }
wait_until "lab/runs@1 recalled by the reads" 60 runs_cold
wait_until "no moves in flight" 30 no_moves
assert_eq "lab/runs@1 all dual" "$(cairn show lab/runs@1 --json | jq -r .objects)" \
	"$(cairn show lab/runs@1 --json | jq -r '.tiers.dual.objects')"
verify_pool
st=$(api /v1/tier/status)
[ "$(jq .totals.recalled.objects <<<"$st")" -gt 0 ] || fail "no recall counted: $st"

# ---- cairn get of a cold file, and an explicit recall job ----
cmp "$T/src3/archive.bin" <(cairn get lab/archive@1 archive.bin) || fail "cairn get of a cold file differs"
out=$(cairn tier recall lab/archive@1 --json)
jq -e '.state == "done" and .failed == 0' <<<"$out" >/dev/null || fail "recall job: $out"
assert_eq "archive all dual after recall" "$arch" \
	"$(cairn show lab/archive@1 --json | jq -r '.tiers.dual.objects')"
verify_pool

# ---- the catalog agrees with the pool ----
fsck=$(cairn fsck --json)
jq -e '.bad == [] and .missing == [] and .dangling == 0' <<<"$fsck" >/dev/null || fail "fsck: $fsck"
api /v1/audit | jq -e '[.records[] | select(.action == "tier.policy")] | length > 0' >/dev/null ||
	fail "policy changes are not audited"
api /v1/audit | jq -e '[.records[] | select(.action == "tier.pin")] | length == 1' >/dev/null ||
	fail "the pin is not audited"

# ---- S3 down: moves fail, tiering suspends itself and says why, nothing
# is released, pool reads go on; when S3 answers again, tiering resumes ----
cairn tier policy set min_idle=0 scan_interval=2s >/dev/null
stop_s3
mkdir -p "$T/src4"
for i in $(seq 1 12); do head -c 70000 /dev/urandom >"$T/src4/f$i"; done
cairn dataset create lab/down >/dev/null
cairn commit lab/down "$T/src4" >/dev/null
down=$(cairn show lab/down@1 --json | jq -r .objects)
dual_before=$(state_count dual)
cairn tier run >/dev/null
suspended() { api /v1/tier/status | jq -e .suspended >/dev/null; }
wait_until "tiering suspended" 120 suspended
# Moves already under way end (failing) and roll back; queued ones are dropped.
wait_until "no moves in flight" 60 no_moves
st=$(api /v1/tier/status)
jq -e '(.suspended_reason | test("max_error_rate")) and (.errors | length > 0) and
       .errors[0].op == "migrate"' <<<"$st" >/dev/null || fail "suspended status: $st"
assert_eq "nothing of lab/down migrated" "$down" \
	"$(cairn show lab/down@1 --json | jq -r '.tiers.hot.objects')"
assert_eq "nothing released while S3 is down" "$dual_before" "$(state_count dual)"
cmp "$T/src/big/f1.bin" <(cairn get lab/runs@1 big/f1.bin) || fail "pool read while S3 is down"
start_s3
resumed() { api /v1/tier/status | jq -e '.suspended | not' >/dev/null; }
wait_until "tiering resumed by itself" 60 resumed
down_dual() { [ "$(cairn show lab/down@1 --json | jq -r '.tiers.dual.objects // 0')" = "$down" ]; }
wait_until "lab/down migrated once S3 is back" 60 down_dual
cairn tier policy set scan_interval=1h >/dev/null

# ---- without an [s3] endpoint: the engine is off and says so ----
cairn tier policy set high_watermark=1% low_watermark=0% >/dev/null
cairn tier run >/dev/null
wait_until "everything cold again" 60 all_in cold "$(api /v1/status | jq -r .objects.count)"

# ---- a pin keeps a version on the pool: pinned while in S3 only, it comes
# back with the next run, whatever the watermarks; the rest stays cold ----
cairn tier pin lab/archive@1 >/dev/null
ex=$(cairn tier explain lab/archive@1 archive.bin --json | jq -r '.objects[0] | .state + " " + .decision + " " + .why')
case "$ex" in "cold recall pinned by lab/archive@1: brought back to the pool") ;;
	*) fail "explain pinned cold: '$ex'";; esac
cairn tier run >/dev/null
arch_dual() { [ "$(cairn show lab/archive@1 --json | jq -r '.tiers.dual.objects // 0')" = "$arch" ]; }
wait_until "pinned version back in the pool" 60 arch_dual
wait_until "no moves in flight" 30 no_moves
assert_eq "objects still cold" "$(( $(api /v1/status | jq -r .objects.count) - arch ))" "$(state_count cold)"
verify_pool
cairn tier unpin lab/archive@1 >/dev/null
stop_catalogd
start_catalogd -o pool.chunk_size=256K
st=$(api /v1/tier/status)
jq -e '(.enabled | not) and .suspended and (.suspended_reason | test("s3")) and .s3 == null' \
	<<<"$st" >/dev/null || fail "status without S3: $st"
expect_fail "cairn get of a cold file without S3" cairn get lab/runs@1 big/f0.bin -o "$T/nos3.out"
grep -q "s3\] endpoint" "$T/err" || fail "unclear error without S3: $(cat "$T/err")"
expect_fail "tier run without S3" cairn tier run
assert_eq "nothing moved without S3" cold "$(api "/v1/objects/$cold_oid/info" | jq -r .state)"
stop_catalogd
log "pass"
