#!/usr/bin/env bash
# 013 — `cairn tier …` as an administrator uses it, against a real S3
# server: the policy round-trips and outlives a catalogd restart (over the
# config file); a malformed or refused KEY=VALUE is a clear error that
# changes nothing, not even the good keys given with it; rules and pins show
# up in the policy and in explain; `run --dry-run` lists every candidate
# with its reason and moves nothing; `recall` shows progress on a terminal,
# ends with the version back on the pool, and exits 1 when an object cannot
# be recalled; every subcommand's --json is one JSON document.
. "$(dirname "$0")/lib.sh"

CHUNK=262144

# expect_usage DESCRIPTION CMD... — CMD must exit 2 (bad arguments) with a
# message on stderr.
expect_usage() {
	local what=$1 rc=0
	shift
	"$@" >"$T/out" 2>"$T/err" || rc=$?
	[ $rc -eq 2 ] || fail "$what: expected exit 2, got $rc ($(head -n 1 "$T/err"))"
	[ -s "$T/err" ] || fail "$what: no message on stderr"
	log "ok: $what -> $(head -n 1 "$T/err")"
}
policy_json() { cairn tier policy show --json | jq -S .; }
s3_objects() { find "$S3_DIR/$S3_BUCKET" -name '*._S3rver_object' 2>/dev/null | wc -l; }

mkdir -p "$T/src/d"
head -c $((3 * CHUNK + 100)) /dev/urandom >"$T/src/d/a.bin"
head -c 5000 /dev/urandom >"$T/src/b.bin"
echo hello >"$T/src/c.txt"     # 6 bytes: under the min_size set below

start_s3
CATOPTS="$(s3_catalogd_opts) -o pool.chunk_size=256K -o tiering.min_idle=1d -o tiering.scan_interval=1h"
# shellcheck disable=SC2086
start_catalogd $CATOPTS
cairn dataset create lab >/dev/null
cairn commit lab "$T/src" >/dev/null
cairn tag lab@1 prod >/dev/null
total=$(api /v1/status | jq -r .objects.count)
assert_eq "objects" 6 "$total"

# ---- help and usage -----------------------------------------------------
cairn tier --help | grep -q "cairn tier policy set KEY=VALUE" || fail "tier --help lacks the synopsis"
cairn help tier | grep -q "cairn tier recall" || fail "cairn help tier"
cairn --help | grep -q "tier status" || fail "cairn --help does not list tier"
expect_usage "tier without a subcommand" cairn tier
expect_usage "unknown tier subcommand" cairn tier frobnicate
expect_usage "unknown policy subcommand" cairn tier policy frob
expect_usage "explain without PATH" cairn tier explain lab@1
expect_usage "run --limit 0" cairn tier run --limit 0
expect_usage "recall with an unknown option" cairn tier recall lab --fast

# ---- status -------------------------------------------------------------
cairn tier status >"$T/status.txt"
grep -Eq "^engine: +running$" "$T/status.txt" || fail "status: $(cat "$T/status.txt")"
grep -Eq "^hot +$total " "$T/status.txt" || fail "status table: $(cat "$T/status.txt")"
grep -Eq "^s3: +127\.0\.0\.1:$S3_PORT, bucket cairn$" "$T/status.txt" || fail "status s3 line"
cairn tier status --json | jq -e --argjson n "$total" '.states.hot.objects == $n' >/dev/null ||
	fail "status --json"

# ---- policy: show, set, show ---------------------------------------------
cairn tier policy show >"$T/policy.txt"
grep -Eq "^min_idle +1d +config$" "$T/policy.txt" || fail "policy show: $(cat "$T/policy.txt")"
grep -q "^rules: none" "$T/policy.txt" || fail "policy show rules"
# 2d rather than 0: catalogd scans once when it starts, and nothing may
# move before the dry runs below.
cairn tier policy set min_idle=2d min_size=4K >"$T/set.txt"
grep -q "^min_idle = 2d$" "$T/set.txt" && grep -q "^min_size = " "$T/set.txt" ||
	fail "policy set output: $(cat "$T/set.txt")"
pol=$(policy_json)
jq -e '.overrides.min_idle != null and .overrides.min_size != null and
       .effective.min_idle == "2d" and (.effective.min_size | test("^4(\\.0)?K"))' \
	<<<"$pol" >/dev/null || fail "policy after set: $pol"
cairn tier policy show | grep -Eq "^min_size +4[^ ]* +policy$" || fail "min_size not from the policy"

# ---- bad KEY=VALUE: a clear error, nothing changed -------------------------
before=$(policy_json)
expect_usage "KEY without =" cairn tier policy set min_idle
expect_usage "empty KEY" cairn tier policy set =5
expect_usage "KEY with a dash" cairn tier policy set high-watermark=50%
expect_usage "a good and a malformed KEY=VALUE" cairn tier policy set min_size=1M bogus
expect_usage "policy set without KEY=VALUE" cairn tier policy set
expect_fail "unknown key" cairn tier policy set no_such_key=1
grep -q "no_such_key" "$T/err" || fail "the error does not name the key: $(cat "$T/err")"
expect_fail "bad value" cairn tier policy set high_watermark=banana
grep -q "high_watermark" "$T/err" || fail "the error does not name the key: $(cat "$T/err")"
expect_fail "a good key with a refused one" cairn tier policy set min_size=1M high_watermark=banana
expect_fail "low_watermark above high_watermark" cairn tier policy set low_watermark=90% high_watermark=80%
grep -q "low_watermark" "$T/err" || fail "the error does not name the key: $(cat "$T/err")"
assert_eq "policy after refused changes" "$before" "$(policy_json)"

# ---- the policy outlives a restart and overrides the config file ----------
stop_catalogd
# shellcheck disable=SC2086
start_catalogd $CATOPTS
assert_eq "policy after a restart" "$before" "$(policy_json)"
policy_json | jq -e '.effective.min_idle == "2d"' >/dev/null || fail "the config file won over the policy"

# ---- rules ----------------------------------------------------------------
cairn tier rule add dataset:lab always-hot | grep -q "dataset:lab always-hot" || fail "rule add output"
policy_json | jq -e '.rules | map({match, action}) == [{"match": "dataset:lab", "action": "always_hot"}]' >/dev/null ||
	fail "rule not in the policy: $(policy_json)"
cairn tier policy show | grep -Eq "^dataset:lab +always-hot$" || fail "rule not shown"
expect_usage "rule with a bad match" cairn tier rule add lab always-hot
expect_usage "rule with a bad action" cairn tier rule add dataset:lab keep-forever
ex=$(cairn tier explain lab@1 d/a.bin --json)
jq -e '[.objects[] | select(.rule == "dataset:lab" and .decision == "keep")] | length == 4' \
	<<<"$ex" >/dev/null || fail "explain under an always-hot rule: $ex"
assert_eq "plan under an always-hot rule" 0 "$(cairn tier run --dry-run --json | jq '.plan | length')"
cairn tier rule rm dataset:lab | grep -q "removed" || fail "rule rm output"
policy_json | jq -e '.rules == []' >/dev/null || fail "rule not removed"

# ---- run --dry-run: candidates and reasons; nothing moves ------------------
cairn tier policy set min_idle=0 >/dev/null
plan=$(cairn tier run --dry-run --json)
# Objects under min_size 4K: c.txt's and the 100-byte tail of d/a.bin.
objs=$(for f in d/a.bin b.bin c.txt; do cairn tier explain lab@1 "$f" --json | jq -c '.objects[]'; done)
small=$(jq -r 'select(.size < 4096) | .id' <<<"$objs" | sort)
assert_eq "objects under min_size" 2 "$(wc -l <<<"$small")"
jq -e --argjson n $((total - 2)) --arg small "$small" '
	(.plan | length) == $n and (.started | not) and
	all(.plan[]; .action == "migrate" and (.reason | test("min_idle")) and .size >= 4096) and
	([.plan[] | select(.object as $o | $small | contains($o))] | length == 0)' <<<"$plan" >/dev/null ||
	fail "dry-run plan: $plan"
cairn tier run --dry-run >"$T/plan.txt"
for id in $(jq -r '.plan[].object' <<<"$plan"); do
	grep -Eq "^$id +[0-9.]+ [KMG]?i?B +migrate +idle " "$T/plan.txt" || fail "plan row of $id: $(cat "$T/plan.txt")"
done
tail -n 1 "$T/plan.txt" | grep -q "dry run, nothing moved" || fail "plan summary: $(tail -n 1 "$T/plan.txt")"
assert_eq "dry run --limit 2" 2 "$(cairn tier run --dry-run --limit 2 --json | jq '.plan | length')"
# Why the small object stays: explain says which setting keeps it.
why=$(cairn tier explain lab@1 c.txt --json | jq -r '.objects[0] | .decision + ": " + .why')
case "$why" in keep*min_size*) ;; *) fail "explain of the small object: '$why'";; esac
sleep 1
assert_eq "hot after dry runs" "$total" "$(state_count hot)"
assert_eq "S3 objects after dry runs" 0 "$(s3_objects)"
assert_eq "migrations after dry runs" 0 "$(api /v1/tier/status | jq .totals.migrated.objects)"

# ---- pin / unpin ------------------------------------------------------------
assert_eq "pin output" "pinned lab@1" "$(cairn tier pin lab@prod)"
policy_json | jq -e '.pins | map({dataset, seq}) == [{"dataset": "lab", "seq": 1}]' >/dev/null || fail "pin: $(policy_json)"
cairn tier policy show | grep -Eq "^  lab@1$" || fail "pin not shown"
cairn tier explain lab@1 d/a.bin --json | jq -e 'all(.objects[]; .pinned)' >/dev/null ||
	fail "explain does not show the pin"
cairn tier pin lab --json | jq -e '.dataset == "lab" and .seq == 1 and .pinned' >/dev/null ||
	fail "pin --json"
expect_fail "pin of a missing version" cairn tier pin lab@9
assert_eq "unpin output" "unpinned lab@1" "$(cairn tier unpin lab)"
policy_json | jq -e '.pins == []' >/dev/null || fail "unpin: $(policy_json)"
cairn tier explain lab@1 d/a.bin --json | jq -e 'all(.objects[]; .pinned | not)' >/dev/null ||
	fail "explain still shows the pin"

# ---- explain, human form ------------------------------------------------------
cairn tier explain lab@prod d/a.bin >"$T/explain.txt"
head -n 1 "$T/explain.txt" | grep -q "^lab@1 d/a.bin: 4 objects$" || fail "explain header: $(cat "$T/explain.txt")"
grep -q "^OBJECT .* STATE .* PINNED .* DECISION .* WHY" "$T/explain.txt" || fail "explain columns"
for id in $(cairn tier explain lab@1 d/a.bin --json | jq -r '.objects[].id'); do
	grep -Eq "^$id +[0-9.]+ ([KMG]i)?B +hot +[0-9a-z ]+ago +no +- +(keep|migrate) +[a-z]" "$T/explain.txt" || fail "explain row of $id: $(cat "$T/explain.txt")"
done
expect_fail "explain of a missing path" cairn tier explain lab@1 nope.txt

# ---- migrate and release for real, then recall with progress ----------------
cairn tier policy set min_size=0 >/dev/null
cairn tier run | tail -n 1 | grep -q "; started$" || fail "run did not start"
wait_until "every object dual" 60 all_in dual "$total"
cairn tier policy set high_watermark=1% low_watermark=0% >/dev/null
cairn tier run >/dev/null
wait_until "every object cold" 60 all_in cold "$total"
wait_until "no moves in flight" 30 no_moves
cairn show lab --json | jq -e --argjson n "$total" '.tiers.cold.objects == $n and .tiers.cold.bytes > 0' \
	>/dev/null || fail "show: per-tier counts: $(cairn show lab --json | jq -c .tiers)"
cairn show lab | grep -Eq "^cold +$total " || fail "show does not print the cold tier"
cairn tier status | grep -Eq "^cold +$total " || fail "status after release"
# Recalled objects must stay: no more releases.
cairn tier policy set high_watermark=99% low_watermark=98% >/dev/null

# On a terminal, progress goes to stderr and is redrawn in place.
script -qec "'$CAIRN_BIN' tier recall lab@prod" "$T/typescript" >/dev/null ||
	fail "recall on a terminal failed: $(cat "$T/typescript")"
grep -q $'recall lab@1: [0-9]*/6 objects.*\033\[K' "$T/typescript" ||
	fail "no progress on the terminal: $(cat -v "$T/typescript")"
grep -q "recall lab@1: 6/6 objects, .*, done" "$T/typescript" || fail "no summary: $(cat -v "$T/typescript")"
assert_eq "dual after recall" "$total" "$(state_count dual)"
# Not a terminal: no progress, one JSON document.
cairn tier recall lab --json >"$T/recall.json" 2>"$T/recall.err"
[ ! -s "$T/recall.err" ] || fail "progress without a terminal: $(cat "$T/recall.err")"
jq -e '.state == "done" and .failed == 0' "$T/recall.json" >/dev/null || fail "recall --json: $(cat "$T/recall.json")"
job=$(cairn tier recall lab --no-wait --json | jq -r .job)
[ -n "$job" ] && [ "$job" != null ] || fail "recall --no-wait gave no job id"
cairn tier job "$job" --wait --json | jq -e '.state == "done"' >/dev/null || fail "job --wait"
cairn tier job "$job" | grep -q ", done$" || fail "job: $(cairn tier job "$job")"
expect_fail "a job that does not exist" cairn tier job 999999
# ?wait=MS holds a running job's answer until it ends; an ended job is
# answered at once (a generous bound: it must not sit out the 30 s).
curl -sf --max-time 10 --unix-socket "$SOCK" "http://cairn/v1/tier/jobs/$job?wait=30000" |
	jq -e '.state == "done" and .kind == "recall"' >/dev/null || fail "GET a done job with ?wait"
code=$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$SOCK" "http://cairn/v1/tier/jobs/$job?wait=x")
assert_eq "a bad ?wait" 400 "$code"
code=$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$SOCK" "http://cairn/v1/tier/jobs/$job?wait=30001")
assert_eq "a ?wait past 30 s" 400 "$code"

# ---- a recall that cannot complete exits 1 and serves nothing bad -----------
cairn tier policy set high_watermark=1% low_watermark=0% >/dev/null
cairn tier run >/dev/null
wait_until "every object cold again" 60 all_in cold "$total"
wait_until "no moves in flight" 30 no_moves
cairn tier policy set high_watermark=99% low_watermark=98% >/dev/null
victim=$(cairn tier explain lab@1 d/a.bin --json | jq -r '.objects[1].id')
f=$(s3_object_file "$victim")
[ -f "$f" ] || fail "no S3 copy of $victim at $f"
printf 'XXXX' | dd of="$f" bs=1 seek=1000 conv=notrunc 2>/dev/null
expect_fail "recall with a damaged S3 copy" cairn tier recall lab@1
grep -q "could not be recalled\|failed" "$T/err" || fail "recall failure message: $(cat "$T/err")"
assert_eq "the damaged object stays cold" cold "$(api "/v1/objects/$victim/info" | jq -r .state)"
[ ! -e "$POOL/${victim:0:2}/${victim:2:2}/$victim" ] || fail "a damaged object reached the pool"
verify_pool

stop_catalogd
log "pass"
