#!/usr/bin/env bash
# 012 — kill -9 catalogd while tiering moves objects, again and again.
#
# Rounds cycle through three phases: migrate (a new version of fresh and
# shared objects, min_idle=0), release (high_watermark 1%: every pool copy
# not pinned goes) and recall (a recall job and cold reads). Each round
# arms one of the engine's crash points (lib/fault.h: catalogd SIGKILLs
# itself the N-th time it passes it, N random) or kills catalogd at a
# random instant, then restarts it and checks, against an expected-state
# record kept by this script (every version's source tree and every object
# id computed from it, outside cairn):
#   - recovery left no object in flight, and moves then settled;
#   - every object is recorded, in a state whose copies really exist and
#     hash to its id: hot/dual → pool, dual/cold → S3 — so no object lost
#     its last verified copy, and the catalog claims nothing it lacks;
#   - fsck finds no damaged, missing or dangling object;
#   - every file of every version reads back byte-identical through a
#     FRESH cairnfs mount (empty cache), cold objects included.
# At least 20 rounds; CAIRN_TIER_CRASH_ROUNDS=100 for a longer run.
# CAIRN_TIER_CRASH_SEED replays a run.
. "$(dirname "$0")/lib.sh"

ROUNDS=${CAIRN_TIER_CRASH_ROUNDS:-21}
[ "$ROUNDS" -ge 20 ] || ROUNDS=20
SEED=${CAIRN_TIER_CRASH_SEED:-$RANDOM}
RANDOM=$SEED
CHUNK=65536
DS=crash/data
EXPECT=$T/expected          # "seq srcdir" per version
OIDS=$T/expected-oids       # every object id of every version
: >"$EXPECT"
: >"$OIDS"
log "seed $SEED, $ROUNDS rounds"

MIGRATE_POINTS=(tier.migrate.marked tier.migrate.uploaded tier.migrate.verified tier.migrate.recorded)
RELEASE_POINTS=(tier.release.readback tier.release.marked tier.release.unlinked)
RECALL_POINTS=(tier.recall.fetched tier.recall.marked tier.recall.pooled)

api() { curl -sf --unix-socket "$SOCK" "http://cairn$1"; }
api_post() { curl -sf --unix-socket "$SOCK" -X POST -H 'Content-Type: application/json' \
	--data-binary @- "http://cairn$1"; }
hash_of() { xxhsum -H2 "$1" | awk '{ h = $1; sub("^XXH128_", "", h); print h }'; }

# start_crashy — catalogd that may die at any moment, even before it
# answers (the scanner starts moving objects at once); CAIRN_CRASH from the
# caller's assignment.
start_crashy() {
	# shellcheck disable=SC2046
	spawn_catalogd -o pool.chunk_size=64K $(s3_catalogd_opts) -o tiering.scan_interval=1h
}

start_normal() {
	start_catalogd -o pool.chunk_size=64K $(s3_catalogd_opts) -o tiering.scan_interval=1h
}

# settled — recovery done and nothing moving: no queue, no pass, no job,
# no object in flight; twice in a row, a beat apart.
settled_once() {
	local st
	st=$(api /v1/tier/status) || return 1
	jq -e '(.queue.migrate + .queue.release + .queue.recall + .queue.busy) == 0 and
	       (.states.migrating.objects + .states.releasing.objects +
	        .states.recalling.objects) == 0 and (.scanning | not) and
	       .jobs_running == 0' <<<"$st" >/dev/null
}
wait_settled() {
	local i
	for i in $(seq 1 600); do
		if settled_once && sleep 0.2 && settled_once; then
			return 0
		fi
		sleep 0.1
	done
	fail "moves did not settle: $(api /v1/tier/status)"
}

policy() {
	local body
	body=$(jq -n --arg kv "$*" '{set: ($kv | split(" ") | map(split("=") | {(.[0]): .[1]}) | add)}')
	curl -sf --unix-socket "$SOCK" -X PUT -H 'Content-Type: application/json' \
		--data-binary "$body" http://cairn/v1/tier/policy >/dev/null || fail "policy set $*"
}

# A new version: fresh files, plus files copied from older versions (shared
# objects, which must migrate once and survive whichever version moves).
new_version() {
	local seq=$1 dir=$T/v$seq n f
	mkdir -p "$dir/d"
	for n in $(seq 1 5); do
		head -c $(( (RANDOM * 7 + RANDOM) % (3 * CHUNK) + 1 )) /dev/urandom >"$dir/d/f$n.bin"
	done
	echo "version $seq" >"$dir/small.txt"
	if [ "$seq" -gt 1 ]; then
		cp "$T/v$((seq - 1))/d/f1.bin" "$dir/shared-prev.bin"
		cp "$T/v1/d/f2.bin" "$dir/shared-first.bin"
	fi
	cairn commit "$DS" "$dir" --message "round $seq" >/dev/null || fail "commit of version $seq"
	echo "$seq $dir" >>"$EXPECT"
	for f in $(find "$dir" -type f -size +0); do
		split -b $CHUNK --filter='xxhsum -H2' "$f" | awk '{ h = $1; sub("^XXH128_", "", h); print h }'
	done | sort -u >"$T/oids.$seq"
	sort -u -o "$OIDS" "$OIDS" "$T/oids.$seq"
}

# states_of FILE — "id state" of the ids listed in FILE.
states_of() {
	jq -R . "$1" | jq -s '{ids: .}' | api_post /v1/objects/info |
		jq -r '.objects[] | .id + " " + .state'
}

# check_invariants ROUND — the catalog against the pool and S3 (see top).
check_invariants() {
	local r=$1 info bad
	find "$POOL" -mindepth 3 -maxdepth 3 -type f -print0 | xargs -0 -r xxhsum -H2 |
		awk '{ h = $1; sub("^XXH128_", "", h); n = $NF; sub(".*/", "", n); if (h == n) print n }' |
		sort >"$T/pool-good"
	find "$S3_DIR/$S3_BUCKET/objects" -name '*._S3rver_object' -print0 2>/dev/null |
		xargs -0 -r xxhsum -H2 |
		awk '{ h = $1; sub("^XXH128_", "", h); n = $NF; sub(".*/", "", n); sub("\\._S3rver_object$", "", n); if (h == n) print n }' |
		sort >"$T/s3-good"
	states_of "$OIDS" >"$T/states" || fail "round $r: objects/info"
	assert_eq "round $r: objects recorded" "$(wc -l <"$OIDS")" "$(grep -vc ' missing$' "$T/states" || true)"
	bad=$(awk -v pool="$T/pool-good" -v s3="$T/s3-good" '
		BEGIN { while ((getline x < pool) > 0) p[x] = 1; while ((getline x < s3) > 0) s[x] = 1 }
		{ id = $1; st = $2
		  if (st != "hot" && st != "dual" && st != "cold") { print id " is " st; next }
		  if ((st == "hot" || st == "dual") && !(id in p)) print id " is " st " without a good pool copy"
		  if ((st == "dual" || st == "cold") && !(id in s)) print id " is " st " without a good S3 copy"
		  if (!(id in p) && !(id in s)) print id " has no good copy at all" }' "$T/states")
	[ -z "$bad" ] || fail "round $r: $bad"
	# A pinned version's objects that were on the pool are still there.
	if [ -s "$T/pinned-warm" ]; then
		bad=$(join "$T/pinned-warm" <(sort "$T/states") | awk '$2 != "hot" && $2 != "dual" { print $1 " of pinned version is " $2 }')
		[ -z "$bad" ] || fail "round $r: $bad"
	fi
	local fsck
	fsck=$(api_post /v1/admin/fsck </dev/null) || fail "round $r: fsck"
	jq -e '.bad == [] and .missing == [] and .dangling == 0' <<<"$fsck" >/dev/null ||
		fail "round $r: fsck: $fsck"
}

# read_back ROUND — every version through a fresh mount and an empty cache.
read_back() {
	local r=$1 mnt=$T/mnt$1 seq dir
	mount_cairnfs "$mnt" --cache-dir "$T/cache$r"
	while read -r seq dir; do
		$PY "$(dirname "$0")/treetool.py" compare "$dir" "$mnt/$DS/$seq" >/dev/null ||
			fail "round $r: $DS@$seq reads back different"
	done <"$EXPECT"
	umount_cairnfs "$mnt"
	rm -rf "$T/cache$r"
}

start_s3
start_normal
cairn dataset create "$DS" >/dev/null
seq=0
PINNED=
: >"$T/pinned-warm"
declare -A reached=()

for r in $(seq 1 "$ROUNDS"); do
	phase=$(( (r - 1) % 3 ))
	case $phase in
	0)	seq=$((seq + 1))
		new_version $seq
		policy min_idle=0 high_watermark=85% low_watermark=70% recall_on_read=yes
		points=("${MIGRATE_POINTS[@]}") ;;
	1)	# Now and then an older version is pinned: whatever of it is on
		# the pool must stay there while everything else is released.
		[ -z "$PINNED" ] || cairn tier unpin "$DS@$PINNED"
		PINNED=
		: >"$T/pinned-warm"
		if [ "$seq" -gt 1 ] && [ $((RANDOM % 2)) -eq 0 ]; then
			PINNED=$((RANDOM % (seq - 1) + 1))
			cairn tier pin "$DS@$PINNED"
			states_of "$T/oids.$PINNED" | awk '$2 == "hot" || $2 == "dual" { print $1 }' |
				sort >"$T/pinned-warm"
		fi
		policy min_idle=1d high_watermark=1% low_watermark=0%
		points=("${RELEASE_POINTS[@]}") ;;
	2)	policy min_idle=1d high_watermark=85% low_watermark=70% recall_on_read=yes
		points=("${RECALL_POINTS[@]}") ;;
	esac
	# Each crash point in turn first, then at random; one round in four a
	# kill at a random instant instead.
	if [ $((RANDOM % 4)) -eq 0 ]; then
		crash=""
	else
		p=${points[$(( ((r - 1) / 3 + RANDOM % 2) % ${#points[@]} ))]}
		crash="$p:$((RANDOM % 3 + 1))"
	fi
	stop_catalogd
	CAIRN_CRASH=$crash start_crashy
	for i in $(seq 1 100); do
		[ -S "$SOCK" ] && api /v1/status >/dev/null 2>&1 && break
		kill -0 "$CATALOGD_PID" 2>/dev/null || break
		sleep 0.05
	done
	if kill -0 "$CATALOGD_PID" 2>/dev/null; then
		cairn tier run >/dev/null 2>&1 || true
		if [ $phase -eq 2 ]; then
			# A recall job of the newest version, and a reader of the oldest.
			cairn tier recall "$DS@$seq" --no-wait >/dev/null 2>&1 || true
			cairn get "$DS@1" d/f3.bin >/dev/null 2>&1 &
		fi
	fi
	if [ -n "$crash" ]; then
		for i in $(seq 1 150); do
			kill -0 "$CATALOGD_PID" 2>/dev/null || break
			sleep 0.1
		done
	else
		sleep "0.$((RANDOM % 9))$((RANDOM % 10))"
	fi
	if kill -0 "$CATALOGD_PID" 2>/dev/null; then
		how="kill -9${crash:+ ($crash not reached)}"
	else
		how="crash point $crash"
		reached[$crash]=1
	fi
	kill9_catalogd
	wait 2>/dev/null || true         # the background reader
	start_normal
	wait_settled
	check_invariants "$r"
	if [ $phase -eq 1 ]; then
		# Cold reads without bringing objects back: the next round has
		# something to recall.
		policy recall_on_read=no
	fi
	read_back "$r"
	st=$(api /v1/tier/status)
	log "round $r ($(echo migrate release recall | cut -d' ' -f$((phase + 1)))): $how;" \
	    "hot $(jq .states.hot.objects <<<"$st") dual $(jq .states.dual.objects <<<"$st")" \
	    "cold $(jq .states.cold.objects <<<"$st")"
done

# The run must have crashed at points of every kind, not only killed.
for kind in migrate release recall; do
	found=0
	for k in "${!reached[@]}"; do
		case $k in tier.$kind.*) found=1 ;; esac
	done
	[ $found -eq 1 ] || fail "no crash point of $kind was reached in $ROUNDS rounds (seed $SEED)"
done
log "crash points reached: ${!reached[*]}"
stop_catalogd
log "pass"
