#!/usr/bin/env bash
# 018 — cold objects read straight from S3 with URLs catalogd signs
# (GET /v1/objects/{id}/url), so that a compute node holds no S3 credentials
# and catalogd is not on the data path. catalogd signs a URL only for an
# object whose bytes are only in S3, never for one with a pool copy, and an
# unknown id is 404; the URL serves the object's bytes and nothing else (a
# changed signature, another key, or an expired URL is refused by S3);
# presign_ttl = 0 turns URLs off, and cairnfs then reads through catalogd;
# a URL this host cannot use (public_endpoint pointing nowhere) costs a
# warning and a read through catalogd, not the read; a read through a
# direct URL counts as an access and, under recall_on_read, brings the
# object back to the pool like a read through catalogd.
. "$(dirname "$0")/lib.sh"

CHUNK=262144
TIMEOUT=5

requests() { grep -c "$1" "$T/catalogd.log" || true; }
state_of() { api "/v1/objects/$1/info" | jq -r .state; }
http_code() { curl -s -o "$2" -w '%{http_code}' "$1"; }

mkdir -p "$T/src"
head -c $((8 * CHUNK)) /dev/urandom >"$T/src/big.bin"
head -c $((3 * CHUNK + 100)) /dev/urandom >"$T/src/odd.bin"

start_s3
# shellcheck disable=SC2046
CATOPTS="$(s3_catalogd_opts) -o pool.chunk_size=256K -o catalog.log_level=debug
	-o tiering.min_idle=0 -o tiering.scan_interval=1h -o tiering.recall_on_read=no"
# shellcheck disable=SC2086
start_catalogd $CATOPTS
cairn dataset create d >/dev/null
cairn commit d "$T/src" >/dev/null
total=$(api /v1/status | jq -r .objects.count)

mount_cairnfs "$T/mnt0" --cache-dir "$T/cache0"
mapfile -t BIG < <(ids_of "$T/mnt0/d/1/big.bin")
mapfile -t ODD < <(ids_of "$T/mnt0/d/1/odd.bin")
umount_cairnfs "$T/mnt0"
O=${BIG[1]}

# ---- no URL for an object with a pool copy; 404 for an unknown one -------------
api "/v1/objects/$O/url" >"$T/u.json" || fail "url of a hot object"
jq -e '.state == "hot" and .url == null and .expires == null and .size == 262144' "$T/u.json" >/dev/null ||
	fail "url of a hot object: $(cat "$T/u.json")"
assert_eq "url of an unknown object" 404 \
	"$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$SOCK" http://cairn/v1/objects/00000000000000000000000000000000/url)"
assert_eq "url of a bad id" 400 \
	"$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$SOCK" http://cairn/v1/objects/xyz/url)"
cairn tier run >/dev/null
wait_until "every object dual" 60 all_in dual "$total"
jq -e '.state == "dual" and .url == null' <<<"$(api "/v1/objects/$O/url")" >/dev/null ||
	fail "url of a dual object: $(api "/v1/objects/$O/url")"
release_all "$total"

# ---- a COLD object's URL: its bytes, and only them ---------------------------------
api "/v1/objects/$O/url" >"$T/u.json" || fail "url of a cold object"
url=$(jq -r .url "$T/u.json")
now=$(date +%s)
jq -e --argjson now "$now" '.state == "cold" and (.expires - $now) > 800 and (.expires - $now) <= 900' \
	"$T/u.json" >/dev/null || fail "url of a cold object: $(cat "$T/u.json")"
case $url in "http://127.0.0.1:$S3_PORT/$S3_BUCKET/objects/${O:0:2}/$O?"*) ;;
	*) fail "url of $O points elsewhere: ${url%%\?*}" ;; esac
assert_eq "GET of the URL" 200 "$(http_code "$url" "$T/obj")"
cmp "$T/obj" <(tail -c +$((CHUNK + 1)) "$T/src/big.bin" | head -c $CHUNK) || fail "the URL served other bytes"
# The signature covers the key and the expiry, not the host: another key
# with the same signature, or another expiry, is refused.
other=${BIG[2]}
assert_eq "the URL for another key" 403 \
	"$(http_code "${url/objects\/${O:0:2}\/$O/objects/${other:0:2}/$other}" /dev/null)"
exp=$(jq -r .expires "$T/u.json")
assert_eq "the URL with a later expiry" 403 "$(http_code "${url/Expires=$exp/Expires=$((exp + 3600))}" /dev/null)"
grep -q "Signature=" "$T/catalogd.log" && fail "catalogd logged a signed URL"

# ---- cairnfs reads cold objects straight from S3 -------------------------------
signed0=$(api /v1/tier/status | jq -r .urls.signed)
gets0=$(requests "GET /v1/objects/[0-9a-f]* ")
mount_cairnfs "$T/mnt" --cache-dir "$T/cache" --timeout $TIMEOUT
drop_caches
cmp "$T/mnt/d/1/big.bin" "$T/src/big.bin" || fail "big.bin read from S3 differs"
cmp "$T/mnt/d/1/odd.bin" "$T/src/odd.bin" || fail "odd.bin read from S3 differs"
log_settled
assert_eq "object bytes catalogd sent" "$gets0" "$(requests "GET /v1/objects/[0-9a-f]* ")"
signed=$(($(api /v1/tier/status | jq -r .urls.signed) - signed0))
[ "$signed" -ge $((${#BIG[@]} + ${#ODD[@]} - 2)) ] || fail "only $signed URLs signed for the reads"
assert_eq "cold after direct reads (recall_on_read=no)" "$total" "$(state_count cold)"
umount_cairnfs "$T/mnt"
grep -q "Signature=" "$T/cairnfs.log" && fail "cairnfs logged a signed URL"

# ---- direct reads are accesses --------------------------------------------------
# Access times are coalesced and written when catalogd stops.
seen0=$(api "/v1/objects/${BIG[5]}/info" | jq -r .last_access)
sleep 1.1
mount_cairnfs "$T/mnt" --cache-dir "$T/cache1" --timeout $TIMEOUT
drop_caches
cmp "$T/mnt/d/1/big.bin" "$T/src/big.bin" || fail "big.bin read again differs"
umount_cairnfs "$T/mnt"
stop_catalogd
# shellcheck disable=SC2086
start_catalogd $CATOPTS
seen1=$(api "/v1/objects/${BIG[5]}/info" | jq -r .last_access)
[ "$seen1" -gt "$seen0" ] || fail "a direct read was not recorded as an access ($seen0, then $seen1)"

# read_via_catalogd FILE CACHE — FILE (of d@1) read whole through a fresh
# mount with an empty cache, its objects sent by catalogd.
read_via_catalogd() {
	local gets0
	gets0=$(requests "GET /v1/objects/[0-9a-f]* ")
	mount_cairnfs "$T/mnt" --cache-dir "$2" --timeout $TIMEOUT
	drop_caches
	cmp "$T/mnt/d/1/$1" "$T/src/$1" || fail "$1 through catalogd differs"
	umount_cairnfs "$T/mnt"
	log_settled
	[ "$(requests "GET /v1/objects/[0-9a-f]* ")" -gt "$gets0" ] || fail "no object of $1 went through catalogd"
}

# ---- presign_ttl = 0: no URLs; cairnfs reads through catalogd ------------------
stop_catalogd
# shellcheck disable=SC2086
start_catalogd $CATOPTS -o s3.presign_ttl=0
code=$(curl -s -o "$T/e.json" -w '%{http_code}' --unix-socket "$SOCK" "http://cairn/v1/objects/$O/url")
assert_eq "status of a refused url" 403 "$code"
jq -e '.error.message | test("presign_ttl = 0")' "$T/e.json" >/dev/null || fail "refusal: $(cat "$T/e.json")"
read_via_catalogd big.bin "$T/cache2"
grep -q "cold objects come through catalogd: .*presign_ttl = 0" "$T/cairnfs.log" ||
	fail "cairnfs did not say why cold objects come through catalogd"

# ---- a URL this host cannot use: the read goes through catalogd ----------------
stop_catalogd
nowhere=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# shellcheck disable=SC2086
start_catalogd $CATOPTS -o "s3.public_endpoint=127.0.0.1:$nowhere"
case $(api "/v1/objects/$O/url" | jq -r .url) in "http://127.0.0.1:$nowhere/"*) ;;
	*) fail "public_endpoint not in the URL" ;; esac
read_via_catalogd odd.bin "$T/cache3"
grep -q "direct read from S3 failed (cannot reach 127.0.0.1:$nowhere" "$T/cairnfs.log" ||
	fail "no warning about the failed direct read: $(grep -i direct "$T/cairnfs.log" | tail -n 3)"
expect_fail "public_endpoint with a scheme" "$CATALOGD_BIN" --check-config -o s3.public_endpoint=http://x:1

# ---- recall_on_read: a direct read brings the object back to the pool ---------
# A cairnfs on this host waits for the pool copy instead (014); a node
# elsewhere asks for URLs, as here.
stop_catalogd
# shellcheck disable=SC2086
start_catalogd $CATOPTS -o tiering.recall_on_read=yes
for id in "${ODD[@]}"; do
	[ "$(state_of "$id")" = cold ] || fail "$id is not cold before the read"
	api "/v1/objects/$id/url" | jq -e '.url != null' >/dev/null || fail "no URL for $id"
done
odd_dual() { for id in "${ODD[@]}"; do [ "$(state_of "$id")" = dual ] || return 1; done; }
wait_until "odd.bin recalled by its read" 30 odd_dual
wait_until "no moves in flight" 30 no_moves
verify_pool

stop_catalogd
log "passed"
