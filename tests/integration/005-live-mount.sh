#!/usr/bin/env bash
# 005 — a live mount: versions and tags committed after the mount appear
# without a remount; the mount refuses every write with EROFS; names longer
# than 255 bytes get ENAMETOOLONG; unknown names ENOENT.
. "$(dirname "$0")/lib.sh"

start_catalogd -o pool.chunk_size=64K
mkdir -p "$T/src/dir"
echo one >"$T/src/dir/file"
cairn dataset create imaging/plates >/dev/null
cairn commit imaging/plates "$T/src" >/dev/null
mount_cairnfs "$T/mnt"
M=$T/mnt/imaging/plates
assert_eq "version 1 content" "one" "$(cat "$M/1/dir/file")"

# new version and a new dataset after the mount
echo two >"$T/src/dir/file"
cairn commit imaging/plates "$T/src" >/dev/null
cairn dataset create later >/dev/null
cairn commit later "$T/src" >/dev/null
ok=0
for i in $(seq 1 50); do
	if [ -d "$M/2" ] && [ "$(readlink "$M/latest" 2>/dev/null)" = 2 ] && [ -d "$T/mnt/later/1" ]; then ok=1; break; fi
	sleep 0.1
done
[ $ok = 1 ] || fail "a version committed after the mount did not appear"
assert_eq "version 2 content" "two" "$(cat "$M/2/dir/file")"
assert_eq "version 1 unchanged" "one" "$(cat "$M/1/dir/file")"
assert_eq "latest content" "two" "$(cat "$M/latest/dir/file")"
ls "$M" | sort | tr '\n' ' ' | grep -q "^1 2 latest $" || fail "dataset dir lists '$(ls "$M" | tr '\n' ' ')'"

# a tag moves
cairn tag imaging/plates@1 paper
for i in $(seq 1 50); do [ "$(readlink "$M/paper" 2>/dev/null)" = 1 ] && break; sleep 0.1; done
assert_eq "tag paper" 1 "$(readlink "$M/paper")"
cairn tag imaging/plates@2 paper
for i in $(seq 1 50); do [ "$(readlink "$M/paper" 2>/dev/null)" = 2 ] && break; sleep 0.1; done
assert_eq "moved tag paper" 2 "$(readlink "$M/paper")"

# read-only: every write-type call fails with EROFS
erofs() {
	local what=$1; shift
	local err
	err=$("$@" 2>&1) && fail "$what succeeded on a read-only mount"
	grep -qi "read-only" <<<"$err" || fail "$what: expected EROFS, got: $err"
}
erofs "create" touch "$M/1/new"
erofs "write" sh -c "echo x >> '$M/1/dir/file'"
erofs "truncate" truncate -s 0 "$M/1/dir/file"
erofs "mkdir" mkdir "$M/1/newdir"
erofs "unlink" rm -f "$M/1/dir/file"
erofs "rmdir" rmdir "$M/1/dir"
erofs "rename" mv "$M/1/dir/file" "$M/1/dir/file2"
erofs "symlink" ln -s x "$M/1/l"
erofs "chmod" chmod 777 "$M/1/dir/file"
erofs "setxattr" setfattr -n user.x -v y "$M/1/dir/file"
assert_eq "content after refused writes" "two" "$(cat "$M/2/dir/file")"

long=$(printf 'n%.0s' $(seq 1 256))
err=$(stat "$M/1/$long" 2>&1) && fail "stat of a 256-byte name succeeded"
grep -qi "too long" <<<"$err" || fail "expected ENAMETOOLONG, got: $err"
err=$(stat "$M/1/nonexistent" 2>&1) && fail "stat of a missing name succeeded"
grep -qi "no such file" <<<"$err" || fail "expected ENOENT, got: $err"
[ ! -e "$M/99" ] || fail "unknown version directory exists"

umount_cairnfs "$T/mnt"
stop_catalogd
log "pass"
