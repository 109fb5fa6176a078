#!/usr/bin/env bash
# 002 — a modified tree becomes version 2; both versions read back exactly,
# chunks shared by the two are stored once, and committing an unchanged tree
# adds no object at all. A restart keeps everything.
. "$(dirname "$0")/lib.sh"

CHUNK=262144
tool="$PY $(dirname "$0")/treetool.py"
$tool gen "$T/v1" --files 2000 --chunk-size $CHUNK
cp -a "$T/v1" "$T/v2"
$tool mutate "$T/v2"
start_catalogd -o pool.chunk_size=256K

cairn dataset create cells >/dev/null
cairn commit cells "$T/v1" --message v1 >/dev/null
n1=$(pool_objects)
cairn commit cells "$T/v2" --message v2 --meta stage=clean >/dev/null
n2=$(pool_objects)
expected=$($tool chunks $CHUNK "$T/v1" "$T/v2")
assert_eq "objects after two versions (distinct chunks of both trees)" "$expected" "$n2"
[ "$n2" -gt "$n1" ] || fail "version 2 added no object"

# same tree again: a new version, no new object
out=$(cairn commit cells "$T/v2" --message "same again")
assert_eq "third commit" "cells@3" "${out%% *}"
assert_eq "objects after an unchanged commit" "$n2" "$(pool_objects)"
d2=$(cairn show cells@2 --json | jq -r .digest)
d3=$(cairn show cells@3 --json | jq -r .digest)
assert_eq "same tree, same manifest digest" "$d2" "$d3"
d1=$(cairn show cells@1 --json | jq -r .digest)
[ "$d1" != "$d2" ] || fail "different trees have the same digest"

# log: newest first
seqs=$(cairn log cells --json | jq -r '.versions[].seq' | tr '\n' ' ')
assert_eq "log order" "3 2 1 " "$seqs"
# digest prefix resolves
assert_eq "digest prefix" "1" "$(cairn show "cells@${d1:0:10}" --json | jq -r .seq)"

# A digest prefix made only of digits is still a digest prefix when no
# version has that number (about 1 digest in 16 starts with 6 digits).
cairn dataset create digits >/dev/null
mkdir -p "$T/d"
found=
for i in $(seq 1 300); do
	echo "$i" >"$T/d/f"
	out=$(cairn commit digits "$T/d")
	d=${out#* }
	if [[ ${d:0:6} =~ ^[0-9]{6}$ ]]; then found=${out%% *}; break; fi
done
[ -n "$found" ] || fail "no digest with six leading digits in 300 commits"
assert_eq "all-digit digest prefix" "${found#digits@}" "$(cairn show "digits@${d:0:6}" --json | jq -r .seq)"
expect_fail "an all-digit reference that is neither" cairn show digits@99999999

# restart keeps everything
stop_catalogd
start_catalogd -o pool.chunk_size=256K
mount_cairnfs "$T/mnt"
$tool compare "$T/v1" "$T/mnt/cells/1" || fail "version 1 differs after restart"
$tool compare "$T/v2" "$T/mnt/cells/2" || fail "version 2 differs after restart"
assert_eq "latest" "3" "$(readlink "$T/mnt/cells/latest")"
umount_cairnfs "$T/mnt"
stop_catalogd
log "pass"
