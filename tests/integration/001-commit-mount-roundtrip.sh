#!/usr/bin/env bash
# 001 — commit a varied tree of 2,000+ files, mount it with cairnfs, and read
# every file back byte-identical with the same size, mode, mtime and targets.
# Also: `cairn get` returns the same bytes, ls/show agree with the tree, the
# xattrs describe the file, and the mount layout has latest and tag links.
. "$(dirname "$0")/lib.sh"

CHUNK=262144
$PY "$(dirname "$0")/treetool.py" gen "$T/src" --files 2000 --chunk-size $CHUNK
start_catalogd -o pool.chunk_size=256K

cairn dataset create genomics/runs --description "sequencing runs" --meta assay=rna >/dev/null
out=$(cairn commit genomics/runs "$T/src" --message "first import")
log "commit: $out"
case "$out" in genomics/runs@1\ *) ;; *) fail "commit printed '$out'";; esac
digest=${out#* }
[ ${#digest} -eq 32 ] || fail "digest '$digest' is not 32 hex digits"

# The catalog's own view of the version.
nfiles=$(find "$T/src" -type f | wc -l)
nbytes=$(find "$T/src" -type f -printf '%s\n' | awk '{ s += $1 } END { print s }')
show=$(cairn show genomics/runs@1 --json)
assert_eq "files in show" "$nfiles" "$(jq -r .files <<<"$show")"
assert_eq "bytes in show" "$nbytes" "$(jq -r .bytes <<<"$show")"
assert_eq "digest in show" "$digest" "$(jq -r .digest <<<"$show")"
distinct=$($PY "$(dirname "$0")/treetool.py" chunks $CHUNK "$T/src")
assert_eq "distinct objects" "$distinct" "$(jq -r .objects <<<"$show")"
assert_eq "pool objects" "$distinct" "$(pool_objects)"

# get without mounting
cairn get genomics/runs@1 "big/f1.bin" -o "$T/f1.out"
cmp "$T/src/big/f1.bin" "$T/f1.out" || fail "cairn get returned different bytes"
cairn get genomics/runs "données/été ☀.csv" >"$T/utf8.out"
cmp "$T/src/données/été ☀.csv" "$T/utf8.out" || fail "cairn get (UTF-8 name) differs"
ls_names=$(cairn ls genomics/runs@1 order --json | jq -r '.entries[].name' | tr '\n' '|')
assert_eq "ls order (canonical)" "a|a b|a-b|a.b|" "$ls_names"

mount_cairnfs "$T/mnt"
M=$T/mnt/genomics/runs
[ -d "$M/1" ] || fail "version directory $M/1 missing"
assert_eq "latest link" "1" "$(readlink "$M/latest")"
$PY "$(dirname "$0")/treetool.py" compare "$T/src" "$M/1" || fail "mounted tree differs from source"
$PY "$(dirname "$0")/treetool.py" compare "$T/src" "$M/latest/" >/dev/null || fail "latest differs"

# tags appear as symlinks
cairn tag genomics/runs@1 prod
for i in $(seq 1 40); do [ -L "$M/prod" ] && break; sleep 0.1; done
assert_eq "tag link" "1" "$(readlink "$M/prod")"

# xattrs
v=$(getfattr --only-values -n user.cairn.version "$M/1/big/f0.bin")
assert_eq "user.cairn.version" "genomics/runs@1 $digest" "$v"
nobj=$(getfattr --only-values -n user.cairn.objects "$M/1/big/f1.bin" | grep -c .)
assert_eq "objects of a 3-chunk+ file" 4 "$nobj"
first=$(getfattr --only-values -n user.cairn.objects "$M/1/one-byte" | head -n 1)
assert_eq "object id of one-byte" "$(printf x | xxhsum -H2 | awk '{print $1}')" "$first"
assert_eq "user.cairn.tier" "hot" "$(getfattr --only-values -n user.cairn.tier "$M/1/one-byte")"
getfattr -d -m - "$M/1/empty" >/dev/null || fail "listxattr on an empty file failed"

# statfs works and the mount is read-only
df "$T/mnt" >/dev/null || fail "statfs failed"
umount_cairnfs "$T/mnt"
stop_catalogd
log "pass"
