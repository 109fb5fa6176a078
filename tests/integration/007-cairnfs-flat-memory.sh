#!/usr/bin/env bash
# 007 — walking versions much larger than cairnfs's entry cache keeps its
# memory flat; a directory of thousands of entries lists completely, in
# pages, and telldir/seekdir/rewinddir land where they should.
. "$(dirname "$0")/lib.sh"

start_catalogd
$PY - "$T/src" <<'PYEOF'
import os, sys
base = sys.argv[1]
for d in range(40):
    p = os.path.join(base, "d%02d" % d)
    os.makedirs(p)
    for f in range(1000):
        with open(os.path.join(p, "f%04d" % f), "w") as fh:
            fh.write("%d/%d\n" % (d, f))
os.makedirs(os.path.join(base, "wide"))
for f in range(5000):
    open(os.path.join(base, "wide", "n%d" % f), "w").close()
PYEOF
cairn dataset create many >/dev/null
cairn commit many "$T/src" >/dev/null
echo changed >"$T/src/d00/f0000"
cairn commit many "$T/src" >/dev/null
# Under AddressSanitizer freed memory sits in a quarantine (256 MiB by
# default) that would read as growth; keep it small so RSS means the same.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=4"
mount_cairnfs "$T/mnt"
pid=${CAIRN_PIDS[0]}
M=$T/mnt/many
rss() { awk '/^VmRSS/ { print $2 }' "/proc/$pid/status"; }

# 45k entries a version, 90k in all: beyond the 64k-entry cache.
n1=$(find "$M/1" -ls | wc -l)
assert_eq "entries of version 1" 45042 "$n1"
r1=$(rss)
find "$M/2" -ls >/dev/null
find "$M/1" -ls >/dev/null
r2=$(rss)
log "RSS after one version: ${r1} KiB, after both twice: ${r2} KiB"
[ $((r2 - r1)) -lt 8192 ] || fail "RSS grew by $((r2 - r1)) KiB walking a second version"
assert_eq "changed file" "changed" "$(cat "$M/2/d00/f0000")"
assert_eq "unchanged file" "0/0" "$(cat "$M/1/d00/f0000")"

# The 5000-entry directory, listed by pages of 1000 through a fresh mount.
umount_cairnfs "$T/mnt"
wait "$pid" 2>/dev/null || true
CAIRN_PIDS=()
CAIRN_MOUNTS=()
mount_cairnfs "$T/mnt2"
W=$T/mnt2/many/1/wide
diff <(ls "$W") <(ls "$T/src/wide") >/dev/null || fail "wide directory lists differently"
assert_eq "no duplicates" 0 "$(ls "$W" | sort | uniq -d | wc -l)"
out=$(perl -e '
	opendir(my $d, $ARGV[0]) or die; my ($n, $pos, $next) = (0);
	while (defined(my $e = readdir($d))) { $n++; $pos = telldir($d) if $n == 2500; $next = $e if $n == 2501; }
	seekdir($d, $pos); my $again = readdir($d);
	rewinddir($d); my $m = 0; $m++ while defined(readdir($d));
	print(($again eq $next ? "seek-ok" : "seek-bad:$again:$next"), " $n $m\n");' "$W")
assert_eq "telldir/seekdir/rewinddir" "seek-ok 5002 5002" "$out"
umount_cairnfs "$T/mnt2"
stop_catalogd
log "pass"
