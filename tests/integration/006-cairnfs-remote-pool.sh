#!/usr/bin/env bash
# 006 — cairnfs on a node that does not see catalogd's pool: objects come
# from catalogd into --cache-dir, every cached copy hashes to its id, a
# damaged cached copy is fetched again, and an object catalogd cannot vouch
# for is EIO with nothing cached. The pool is hidden from cairnfs by a
# private mount namespace; catalogd, outside it, still sees the pool.
. "$(dirname "$0")/lib.sh"

command -v unshare >/dev/null || fail "unshare (util-linux) is needed"
start_catalogd -o pool.chunk_size=256K
mkdir -p "$T/src"
head -c 3000000 /dev/urandom >"$T/src/big.bin"
echo small >"$T/src/small.txt"
cairn dataset create remote >/dev/null
cairn commit remote "$T/src" >/dev/null

# The ids of big.bin in file order, from the mount's own xattr.
mount_cairnfs "$T/mnt0"
mapfile -t ids < <(getfattr --only-values -n user.cairn.objects "$T/mnt0/remote/1/big.bin")
umount_cairnfs "$T/mnt0"
assert_eq "objects of big.bin" 12 "${#ids[@]}"
BAD=${ids[5]}
BADPATH=$POOL/${BAD:0:2}/${BAD:2:2}/$BAD
cp "$BADPATH" "$T/saved"

cat >"$T/inside.sh" <<INNER
set -u
M="$T/mnt/remote/1"
C="$T/cache"
mount --make-rprivate /
# The real pool stays reachable here only under another name, for the
# damage below; cairnfs finds an empty directory at the pool's path.
mkdir -p "$T/realpool"
mount --bind "$POOL" "$T/realpool"
mount -t tmpfs none "$POOL"
mkdir -p "$T/mnt"
"$CAIRNFS_BIN" "$T/mnt" --catalog "unix:$SOCK" --cache-dir "\$C" -f >>"$T/cairnfs.log" 2>&1 &
pid=\$!
for i in \$(seq 1 200); do mountpoint -q "$T/mnt" && break; sleep 0.05; done
rc=0
cmp "\$M/big.bin" "$T/src/big.bin" || rc=1
cmp "\$M/small.txt" "$T/src/small.txt" || rc=1
# Verified downloads get their names in the cache from a thread of their
# own, a moment after the read that needed them.
for i in \$(seq 1 100); do
	n=\$(find "\$C" -mindepth 3 -maxdepth 3 -type f | wc -l)
	[ "\$n" -eq 13 ] && break
	sleep 0.1
done
[ "\$n" -eq 13 ] || { echo "cached objects: \$n, expected 13"; rc=1; }
[ -z "\$(ls "\$C/tmp")" ] || { echo "leftovers in cache/tmp"; rc=1; }

# A cached copy cut short is dropped and fetched again.
f=\$(find "\$C" -mindepth 3 -maxdepth 3 -type f -size +100k | head -n 1)
size=\$(stat -c %s "\$f")
truncate -s 1000 "\$f"
echo 3 >/proc/sys/vm/drop_caches
cmp "\$M/big.bin" "$T/src/big.bin" || rc=1
for i in \$(seq 1 100); do
	[ "\$(stat -c %s "\$f")" -eq "\$size" ] && break
	sleep 0.1
done
[ "\$(stat -c %s "\$f")" -eq "\$size" ] || { echo "damaged copy not replaced"; rc=1; }

# The pool copy of one object goes bad (catalogd sees it; we do not):
# catalogd refuses to send it, the read is EIO, nothing is cached.
rm -rf "\$C"/??
printf XXXX | dd of="$T/realpool/${BAD:0:2}/${BAD:2:2}/$BAD" bs=1 seek=100 conv=notrunc 2>/dev/null
echo 3 >/proc/sys/vm/drop_caches
if cat "\$M/big.bin" >/dev/null 2>"$T/cat.err"; then echo "read of a damaged object succeeded"; rc=1; fi
grep -q "Input/output error" "$T/cat.err" || { echo "expected EIO: \$(cat "$T/cat.err")"; rc=1; }
[ ! -e "\$C/${BAD:0:2}/${BAD:2:2}/$BAD" ] || { echo "unverified object cached"; rc=1; }
fusermount3 -u "$T/mnt"
wait \$pid || rc=1
exit \$rc
INNER

rc=0
unshare -m bash "$T/inside.sh" || rc=$?
cp "$T/saved" "$BADPATH"
[ $rc -eq 0 ] || fail "remote-pool checks failed (see above)"

# Every cached copy left is byte-exact: it hashes to its own name.
bad=$(find "$T/cache" -mindepth 3 -maxdepth 3 -type f -print0 |
	xargs -0 -r xxhsum -H2 | awk '{ n = $NF; sub(".*/", "", n); h = $1; sub("^XXH128_", "", h); if (h != n) print n }')
[ -z "$bad" ] || fail "cached objects that do not match their id: $bad"
grep -q "$BAD" "$T/cairnfs.log" || fail "no log line names the damaged object"
stop_catalogd
log "pass"
