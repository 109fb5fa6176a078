#!/usr/bin/env bash
# 004 — every bad input gets a clear message on stderr and a non-zero exit,
# and leaves the catalog and the pool exactly as they were.
. "$(dirname "$0")/lib.sh"

start_catalogd -o pool.chunk_size=64K
mkdir -p "$T/good/sub"
echo hello >"$T/good/a.txt"
echo world >"$T/good/sub/b.txt"
cairn dataset create assays --description "plate reader" >/dev/null
cairn commit assays "$T/good" >/dev/null

snapshot() {
	{
		cairn dataset list --json | jq -S .
		cairn log assays --json | jq -S .
		cairn audit list --json 2>/dev/null | jq -S '.records | length' || true
		find "$POOL" -mindepth 3 -type f | sort
	} >"$1"
}
snapshot "$T/before"

# invalid dataset names
expect_fail "empty name" cairn dataset create ""
expect_fail "name '..'" cairn dataset create ..
expect_fail "name '/'" cairn dataset create /
expect_fail "upper case" cairn dataset create Assays
expect_fail "two namespaces" cairn dataset create a/b/c
expect_fail "over-long name" cairn dataset create "$(printf 'a%.0s' $(seq 1 300))"
expect_fail "control character" cairn dataset create "$(printf 'ab\001c')"
expect_fail "newline" cairn dataset create "$(printf 'ab\nc')"
expect_fail "duplicate dataset" cairn dataset create assays
grep -qi "exist" "$T/err" || fail "duplicate dataset message does not say it exists: $(cat "$T/err")"

# commit: bad directory, unknown dataset, special files, escaping links
expect_fail "missing directory" cairn commit assays "$T/nope"
grep -q "$T/nope" "$T/err" || fail "missing directory message does not name it"
expect_fail "not a directory" cairn commit assays "$T/good/a.txt"
expect_fail "unknown dataset" cairn commit nosuch "$T/good"
expect_fail "invalid dataset name in commit" cairn commit "Bad Name" "$T/good"

mkdir -p "$T/fifo-tree" && echo x >"$T/fifo-tree/ok" && mkfifo "$T/fifo-tree/pipe"
expect_fail "tree with a fifo" cairn commit assays "$T/fifo-tree"
grep -q "pipe" "$T/err" || fail "fifo message does not name the file"

mkdir -p "$T/escape/d" && ln -s ../../outside "$T/escape/d/link"
expect_fail "symlink escaping the tree" cairn commit assays "$T/escape"
mkdir -p "$T/abs" && ln -s /etc/passwd "$T/abs/link"
expect_fail "absolute symlink" cairn commit assays "$T/abs"

# unreadable file and directory (root reads everything: drop privileges)
mkdir -p "$T/unreadable/d" && echo secret >"$T/unreadable/f" && chmod 000 "$T/unreadable/f"
chmod 755 "$T" "$T/unreadable"
chmod 666 "$SOCK"
if command -v setpriv >/dev/null; then
	expect_fail "unreadable file" setpriv --reuid=65534 --regid=65534 --clear-groups \
		env CAIRN_CATALOG="$CAIRN_CATALOG" "$CAIRN_BIN" commit assays "$T/unreadable"
	grep -q "unreadable/f\|'f'" "$T/err" || fail "unreadable file message does not name it: $(cat "$T/err")"
	chmod 644 "$T/unreadable/f"; chmod 000 "$T/unreadable/d"
	expect_fail "unreadable directory" setpriv --reuid=65534 --regid=65534 --clear-groups \
		env CAIRN_CATALOG="$CAIRN_CATALOG" "$CAIRN_BIN" commit assays "$T/unreadable"
	chmod 755 "$T/unreadable/d"
fi

# unknown versions, tags, paths that escape
expect_fail "unknown version" cairn show assays@9
expect_fail "unknown tag" cairn show assays@nosuchtag
expect_fail "unknown dataset (show)" cairn show nosuch
expect_fail "unknown path" cairn get assays@1 missing.txt
expect_fail "path escaping the version" cairn get assays@1 ../../etc/passwd
expect_fail "path escaping via sub" cairn ls assays@1 sub/../../x
expect_fail "absolute path" cairn get assays@1 /etc/passwd
expect_fail "tag on unknown version" cairn tag assays@7 prod
expect_fail "invalid tag name" cairn tag assays@1 "Bad Tag"
expect_fail "all-digit tag" cairn tag assays@1 42
expect_fail "get of a directory" cairn get assays@1 sub
# new content with a bad lineage input: refused before any object is sent
mkdir -p "$T/fresh" && head -c 100000 /dev/urandom >"$T/fresh/new.bin"
expect_fail "bad --derived-from" cairn commit assays "$T/fresh" --derived-from nosuch@1
expect_fail "--derived-from an unknown version" cairn commit assays "$T/fresh" --derived-from assays@5
expect_fail "bad --meta" cairn commit assays "$T/good" --meta novalue
expect_fail "unknown command" cairn frobnicate
expect_fail "unreachable catalogd" cairn --catalog "unix:$T/absent.sock" dataset list
grep -qi "catalogd" "$T/err" || fail "unreachable message does not mention catalogd"

# Keys of the config contract this catalogd cannot honour yet: refused,
# never ignored (no plaintext in S3 where encryption was asked for).
echo "0123456789abcdef0123456789abcdef" >"$T/key"
expect_fail "encryption_key_file" "$CATALOGD_BIN" --check-config -o s3.encryption_key_file="$T/key"
grep -q "encryption_key_file" "$T/err" || fail "no word of encryption_key_file: $(cat "$T/err")"
expect_fail "listen" "$CATALOGD_BIN" --check-config -o catalog.listen=127.0.0.1:8443
grep -q "listen" "$T/err" || fail "no word of listen: $(cat "$T/err")"
expect_fail "tls_cert" "$CATALOGD_BIN" --check-config -o catalog.tls_cert="$T/key" \
	-o catalog.tls_key="$T/key"
grep -q "tls_cert" "$T/err" || fail "no word of tls_cert: $(cat "$T/err")"
"$CATALOGD_BIN" --check-config -o s3.encryption_key_file= >/dev/null ||
	fail "an empty encryption_key_file was refused"

snapshot "$T/after"
diff -u "$T/before" "$T/after" >&2 || fail "a failed command changed the catalog or the pool"

# and the good paths still work
cairn get assays@1 sub/b.txt | grep -qx world || fail "catalog damaged after bad inputs"
stop_catalogd
log "pass"
