#!/usr/bin/env bash
# bench-step1.sh — cairn's step-1 benchmark: commit, sequential and random
# reads through cairnfs, find/stat, and memory, each measured side by side
# with its baseline in the same run on the same filesystem. A benchmark, not a
# test: it stops when a component fails, never because of a number.
#
#   scripts/bench-step1.sh [--runs N] [--quick] [--keep] [--build DIR] [--only LIST]
#
#   --runs N     runs per measurement; the table shows medians (default 3)
#   --quick      smaller sizes (256 MiB of large files, 10k small files,
#                a 256 MiB file to read, 3 s of fio), a few minutes
#   --keep       keep the source trees and catalog states after the run
#   --build DIR  where catalogd, cairn and cairnfs were built
#                (default $CAIRN_BUILD_DIR or ./build)
#   --only LIST  comma-separated subset of: commit,read,walk,rss
#
# Needs root: it drops the page cache (sync; echo 3 > /proc/sys/vm/drop_caches)
# and mounts cairnfs. Everything lives in one temp dir under $BENCH_DIR
# (default /var/tmp), so the pool, the source trees and the `cp -r` copies
# share a filesystem. catalogd listens only on a Unix socket in that dir; it
# and cairnfs are started here and stopped by PID, the mount is unmounted on
# exit. The table is printed and written to <temp dir>/bench-step1-results.md;
# the bulk data is removed at the end (unless --keep), the results stay.
#
# Method (repeated in the report's header):
#  commit   each run commits into a fresh catalogd state, so deduplication
#           never makes a later run free. The page cache is dropped before
#           every run of cairn and of cp -r: both read the source from disk.
#           `cp -r` is timed as is (its data may still be dirty in the page
#           cache when it returns) and followed by `sync` (a commit is
#           durable when it returns).
#  read     `dd bs=1M` of one large file through cairnfs against the same
#           bytes as a native file on the pool's filesystem. Cold: after
#           drop_caches (which also empties cairnfs's page cache). Warm: right
#           after a full read. The pool objects of that file, read in order
#           with cat, are in the raw medians.
#           fio: psync 4 KiB random reads, 2 jobs, time based, page cache warm.
#  walk     `find DIR` (names: readdir) and `find DIR -printf '%s %m %T@'`
#           (an lstat of every entry) through cairnfs against the source tree
#           on local disk. Cold: fresh mount + drop_caches (catalogd keeps its
#           own caches); warm: the run right after.
#  rss      VmHWM of a fresh catalogd and a fresh cairnfs after the same work
#           on the small reference tree and on the 10× larger one; for the
#           commits, the CLI's peak RSS too.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/bench/common.sh
. "$ROOT/scripts/bench/common.sh"

RUNS=3
QUICK=0
KEEP=0
BUILD=${CAIRN_BUILD_DIR:-$ROOT/build}
ONLY=commit,read,walk,rss
bench_args "$@"

need_root "it drops the page cache and mounts cairnfs"
need_built "$CAIRN" "$CATALOGD" "$CAIRNFS"
need_cmds fio fusermount3 mountpoint getfattr jq dd "$PY"

# --- sizes --------------------------------------------------------------
if [ $QUICK = 1 ]; then
	LARGE_COUNT=4 LARGE_SIZE=64M LARGE_LABEL="256 MiB (4 × 64 MiB)"
	SMALL_FILES=10000 REF_FILES=1000
	SEQ_SIZE=256M SEQ_LABEL="256 MiB"
	FIO_SECS=3
	NEED_GB=3
else
	LARGE_COUNT=8 LARGE_SIZE=256M LARGE_LABEL="2 GiB (8 × 256 MiB)"
	SMALL_FILES=100000 REF_FILES=10000
	SEQ_SIZE=1G SEQ_LABEL="1 GiB"
	FIO_SECS=10
	NEED_GB=12
fi
SMALL_DIRS=100
SMALL_MIN=1K SMALL_MAX=8K
FIO_JOBS=2

# --- work dir, processes, cleanup ---------------------------------------
CHUNK_SIZE="catalogd's default"

write_report() {
	report_infos
	$PY "$TOOL" report "$SAMPLES" "$RESULTS" "${INFOS[@]}" \
		--info "pool_fs=$(df -PT "$W" | awk 'NR == 2 { print $2 " on " $1 }') ($W)" \
		--info "chunk_size=$CHUNK_SIZE" \
		--info "commit=a fresh catalogd state per run; page cache dropped before every run of cairn and of cp -r (both read the source from disk); cp -r lands on the pool's filesystem" \
		--info "reads=dd bs=1M; cold = after drop_caches, warm = right after a full read; fio psync randread 4k, $FIO_JOBS jobs, ${FIO_SECS}s, warm" \
		--info "walk=find DIR (readdir only) and find DIR -printf '%s %m %T@' (lstat of every entry); cold = fresh mount + drop_caches (catalogd keeps its own caches), warm = the run right after" \
		--info "large=$LARGE_LABEL" \
		--info "small=$SMALL_FILES files of $SMALL_MIN–$SMALL_MAX in $SMALL_DIRS dirs" \
		--info "ref=$REF_FILES files" \
		--info "seq=$SEQ_LABEL file" \
		--info "tree=$SMALL_FILES files" \
		--info "fio_jobs=$FIO_JOBS"
}

LOGS=(catalogd.log cairnfs.log)
remove_data() {
	rm -rf "${W:?}/src" "$W/cp-dst" "$W"/state-* "$W/cache" "$W"/fio-*.json "$W/last.out"
	mountpoint -q "$MNT" || rm -rf "$MNT"
}

bench_workdir cairn-bench "$NEED_GB"
MNT=$W/mnt

hwm() { $PY "$TOOL" hwm "$1"; }

# start_catalogd STATE — catalogd on that state; the report gives its
# chunk size.
start_catalogd() {
	catalogd_up "$1"
	CHUNK_SIZE=$("$CAIRN" status --json 2>/dev/null | jq -r '.chunk_size // empty' 2>/dev/null || true)
	CHUNK_SIZE="${CHUNK_SIZE:-unknown} bytes (catalogd's default)"
}

mount_cairnfs() {
	mount_fuse cairnfs "$MNT" "$CAIRNFS" "$MNT" --catalog "unix:$SOCK" --cache-dir "$W/cache" -f ||
		die "cairnfs did not mount $MNT"
}

remount_cairnfs() {
	unmount_fuse
	mount_cairnfs
}

# tree_shape DIR — "<files> <bytes>" of the regular files under DIR.
tree_shape() {
	find "$1" -type f -printf '%s\n' | awk '{ n++; s += $1 } END { printf "%.0f %.0f\n", n, s }'
}

# check_version DS@V DIR — the catalog holds exactly DIR's files and bytes.
check_version() {
	local got want
	got=$("$CAIRN" show "$1" --json | jq -r '"\(.files) \(.bytes)"') || die "cairn show $1 failed"
	want=$(tree_shape "$2")
	[ "$got" = "$want" ] || die "$1 has files/bytes '$got', the source has '$want'"
}

# commit_cairn WL SRC RUN — one timed commit of SRC into a fresh catalogd
# state; records the commit's time, the CLI's and catalogd's peak RSS. The
# state is left in $W/state-WL-RUN, catalogd stopped.
commit_cairn() {
	local wl=$1 src=$2 run=$3 ds=bench/$1 out
	start_catalogd "$W/state-$wl-$run"
	"$CAIRN" dataset create "$ds" --description "benchmark $wl" >/dev/null
	drop_caches
	TIMED_STDOUT=1 TIMED_RSS=1 timed "commit.$wl.cairn.s" "$CAIRN" commit "$ds" "$src" --message "run $run"
	rec "rss.cli.commit.$wl.kb" "$LAST_RSS"
	rec "rss.catalogd.commit.$wl.kb" "$(hwm "$CATALOGD_PID")"
	out=$(cat "$W/last.out")
	case $out in "$ds@1 "*) ;; *) die "cairn commit printed '$out'" ;; esac
	check_version "$ds@1" "$src"
	stop_catalogd
}

# commit_cp WL SRC — cp -r of the same tree onto the pool's filesystem,
# as is and followed by sync.
commit_cp() {
	local wl=$1 src=$2 dst=$W/cp-dst
	rm -rf "$dst"
	drop_caches
	timed "commit.$wl.cp.s" cp -r "$src" "$dst"
	rm -rf "$dst"
	drop_caches
	# shellcheck disable=SC2016 # $1 and $2 belong to the inner shell
	timed "commit.$wl.cpsync.s" sh -c 'cp -r "$1" "$2" && sync' sh "$src" "$dst"
	rm -rf "$dst"
}

# --- data ---------------------------------------------------------------
SRC_LARGE=$W/src/large
SRC_SMALL=$W/src/small
SRC_REF=$W/src/ref
SRC_SEQ=$W/src/seq
log "generating data: $LARGE_LABEL, $SMALL_FILES + $REF_FILES small files, a $SEQ_LABEL file"
want commit && $PY "$TOOL" gen-large "$SRC_LARGE" "$LARGE_COUNT" "$LARGE_SIZE"
$PY "$TOOL" gen-small "$SRC_SMALL" "$SMALL_FILES" "$SMALL_DIRS" "$SMALL_MIN" "$SMALL_MAX"
$PY "$TOOL" gen-small "$SRC_REF" "$REF_FILES" "$((SMALL_DIRS / 10))" "$SMALL_MIN" "$SMALL_MAX"
$PY "$TOOL" gen-large "$SRC_SEQ" 1 "$SEQ_SIZE"
mv "$SRC_SEQ/part-000.bin" "$SRC_SEQ/seq.bin"
SEQ_FILE=$SRC_SEQ/seq.bin
read -r n b <<<"$(tree_shape "$SRC_SMALL")"
rec commit.small.files "$n"; rec commit.small.bytes "$b"
rec seq.bytes "$(stat -c %s "$SEQ_FILE")"
if want commit; then
	read -r n b <<<"$(tree_shape "$SRC_LARGE")"
	rec commit.large.files "$n"; rec commit.large.bytes "$b"
fi

# --- 1. commit ----------------------------------------------------------
SERVE=
if want commit; then
	for r in $(seq 1 "$RUNS"); do
		log "commit run $r/$RUNS: large files"
		commit_cairn large "$SRC_LARGE" "$r"
		rm -rf "$W/state-large-$r"
		commit_cp large "$SRC_LARGE"
		log "commit run $r/$RUNS: $SMALL_FILES small files"
		commit_cairn small "$SRC_SMALL" "$r"
		# The last run's catalog serves the read benchmarks.
		if [ "$r" -eq "$RUNS" ]; then SERVE=$W/state-small-$r; else rm -rf "$W/state-small-$r"; fi
		commit_cp small "$SRC_SMALL"
	done
	rm -rf "$SRC_LARGE"
	log "commit: $REF_FILES-file reference tree (memory)"
	commit_cairn ref "$SRC_REF" 1
	rm -rf "$W/state-ref-1"
fi

if ! want read && ! want walk && ! want rss; then
	write_report
	exit 0
fi

# The catalog the reads run against: the small tree (from the commit runs
# or committed now), the reference tree and the file to read.
if [ -z "$SERVE" ]; then
	SERVE=$W/state-serve
	start_catalogd "$SERVE"
	"$CAIRN" dataset create bench/small >/dev/null
	"$CAIRN" commit bench/small "$SRC_SMALL" >/dev/null
	stop_catalogd
fi
POOL=$SERVE/pool
# The file to read, committed once into a fresh catalog for the memory
# comparison with the large-file commits, then into the serving one.
start_catalogd "$W/state-seq"
"$CAIRN" dataset create bench/seq >/dev/null
drop_caches
TIMED_STDOUT=1 TIMED_RSS=1 timed commit.seq.cairn.s "$CAIRN" commit bench/seq "$SRC_SEQ"
rec rss.cli.commit.seq.kb "$LAST_RSS"
rec rss.catalogd.commit.seq.kb "$(hwm "$CATALOGD_PID")"
check_version bench/seq@1 "$SRC_SEQ"
stop_catalogd
rm -rf "$W/state-seq"
start_catalogd "$SERVE"
"$CAIRN" dataset create bench/seq >/dev/null
"$CAIRN" commit bench/seq "$SRC_SEQ" >/dev/null
"$CAIRN" dataset create bench/ref >/dev/null
"$CAIRN" commit bench/ref "$SRC_REF" >/dev/null
stop_catalogd

# --- 2. sequential and random reads -------------------------------------
if want read; then
	start_catalogd "$SERVE"
	mount_cairnfs
	F=$MNT/bench/seq/1/seq.bin
	[ -f "$F" ] || die "$F is not in the mount"
	# The file's pool objects, in order: the same bytes with no file system
	# of ours in between.
	objs=()
	if ids=$(getfattr --only-values -n user.cairn.objects "$F" 2>/dev/null); then
		for id in $ids; do
			p=$POOL/${id:0:2}/${id:2:2}/$id
			[ -f "$p" ] || { log "note: pool object $p not found, skipping the pool baseline"; objs=(); break; }
			objs+=("$p")
		done
	else
		log "note: no user.cairn.objects on $F, skipping the pool baseline"
	fi
	for r in $(seq 1 "$RUNS"); do
		log "sequential read run $r/$RUNS ($SEQ_LABEL)"
		drop_caches
		timed seq.cairn.cold.s dd if="$F" of=/dev/null bs=1M status=none
		timed seq.cairn.warm.s dd if="$F" of=/dev/null bs=1M status=none
		drop_caches
		timed seq.native.cold.s dd if="$SEQ_FILE" of=/dev/null bs=1M status=none
		timed seq.native.warm.s dd if="$SEQ_FILE" of=/dev/null bs=1M status=none
		if [ ${#objs[@]} -gt 0 ]; then
			drop_caches
			timed seq.pool.cold.s cat "${objs[@]}"
			timed seq.pool.warm.s cat "${objs[@]}"
		fi
	done
	cmp "$F" "$SEQ_FILE" || die "$F differs from its source"

	for r in $(seq 1 "$RUNS"); do
		log "random 4 KiB reads run $r/$RUNS (fio, ${FIO_SECS}s each)"
		for side in cairn native; do
			f=$F; [ $side = native ] && f=$SEQ_FILE
			cat "$f" >/dev/null   # warm: every page read once
			fio --name=rand4k --filename="$f" --readonly --rw=randread --bs=4k \
				--ioengine=psync --numjobs=$FIO_JOBS --time_based --runtime="$FIO_SECS" \
				--invalidate=0 --norandommap --randrepeat=0 --group_reporting \
				--output-format=json --output="$W/fio-$side-$r.json" >/dev/null ||
				die "fio on $f failed (see $W/fio-$side-$r.json)"
			rec "rand.$side.iops" "$($PY "$TOOL" fio-iops "$W/fio-$side-$r.json")"
		done
	done
	rec rss.cairnfs.read.kb "$(hwm "$MOUNT_PID")"
	rec rss.catalogd.read.kb "$(hwm "$CATALOGD_PID")"
	unmount_fuse
	stop_catalogd
fi

# --- 3. find / stat -----------------------------------------------------
STAT_FMT='%s %m %T@\n'
if want walk; then
	start_catalogd "$SERVE"
	D=$MNT/bench/small/1
	for r in $(seq 1 "$RUNS"); do
		log "find/stat run $r/$RUNS ($SMALL_FILES files)"
		remount_cairnfs
		drop_caches
		timed find.cairn.cold.s find "$D"
		timed find.cairn.warm.s find "$D"
		remount_cairnfs
		drop_caches
		timed stat.cairn.cold.s find "$D" -printf "$STAT_FMT"
		timed stat.cairn.warm.s find "$D" -printf "$STAT_FMT"
		drop_caches
		timed find.native.cold.s find "$SRC_SMALL"
		timed find.native.warm.s find "$SRC_SMALL"
		drop_caches
		timed stat.native.cold.s find "$SRC_SMALL" -printf "$STAT_FMT"
		timed stat.native.warm.s find "$SRC_SMALL" -printf "$STAT_FMT"
	done
	# Same entries on both sides (names, sizes, modes), or the times mean nothing.
	a=$(cd "$D" && find . -type f -printf '%p %s %m\n' | sort | xxhsum -H2 | cut -d' ' -f1)
	b=$(cd "$SRC_SMALL" && find . -type f -printf '%p %s %m\n' | sort | xxhsum -H2 | cut -d' ' -f1)
	[ "$a" = "$b" ] || die "the mounted tree lists differently from its source"
	unmount_fuse
	stop_catalogd
fi

# --- 4. memory against dataset size -------------------------------------
# shellcheck disable=SC2016 # $1 belongs to the inner shell
READALL='find "$1" -type f -print0 | xargs -0 -r cat'
# A fresh catalogd and a fresh cairnfs do the same work on the reference tree
# and on the 10× larger one: read every file (cold), then stat every entry.
if want rss; then
	for wl in ref small; do
		src=$SRC_REF; [ $wl = small ] && src=$SRC_SMALL
		log "memory: $wl tree ($(find "$src" -type f | wc -l) files)"
		start_catalogd "$SERVE"
		mount_cairnfs
		D=$MNT/bench/$wl/1
		drop_caches
		timed "readall.$wl.cairn.s" sh -c "$READALL" sh "$D"
		timed "walk.$wl.cairn.s" find "$D" -printf "$STAT_FMT"
		rec "rss.cairnfs.walk.$wl.kb" "$(hwm "$MOUNT_PID")"
		rec "rss.catalogd.walk.$wl.kb" "$(hwm "$CATALOGD_PID")"
		unmount_fuse
		stop_catalogd
		drop_caches
		timed "readall.$wl.native.s" sh -c "$READALL" sh "$src"
	done
fi

write_report
