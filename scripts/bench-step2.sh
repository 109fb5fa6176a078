#!/usr/bin/env bash
# bench-step2.sh — cairn's step-2 benchmark: tiering against a real S3
# server (s3rver), each measurement side by side with its baseline in the
# same run against the same server. A benchmark, not a test: it stops when a
# component fails, never because of a number.
#
#   scripts/bench-step2.sh [--runs N] [--quick] [--keep] [--build DIR] [--only LIST]
#
#   --runs N     runs per measurement; the table shows medians (default 3)
#   --quick      smaller sizes: a 1 GiB migration set, a 256 MiB file to read,
#                5 s of fio per random-read run
#   --keep       keep the work dir's data after the run
#   --build DIR  where catalogd, cairn, cairnfs and tests/cairn-s3probe were
#                built (default $CAIRN_BUILD_DIR or ./build)
#   --only LIST  comma-separated subset of: migrate,read,rand,walk
#                (migrate includes the recall measurement)
#
# Needs root (drops the page cache, mounts FUSE file systems). Everything
# lives in one temp dir under $BENCH_DIR (default /var/tmp): s3rver's data,
# catalogd's state and pool, the caches, the mount points. s3rver listens on
# 127.0.0.1 on a port picked at run time, catalogd on a Unix socket in the
# temp dir; every process is started here and stopped by PID, every mount is
# unmounted on exit. The table is printed and written to
# <temp dir>/bench-step2-results.md.
#
# Method:
#  migrate  a fresh catalogd state per run and per verify level: commit the
#           set (4 MiB objects), `cairn tier policy set min_idle=0`, page
#           cache dropped, then the time from `cairn tier run` until every
#           object is DUAL and nothing moves. Baseline: cairn-s3probe bench
#           put, the same count of objects of the same size, 4 requests in
#           flight, through lib/s3, page cache dropped first.
#           Under verify=readback a migration checks size and ETag; the
#           whole read-back happens at release, so:
#  release  (verify=readback) page cache dropped, the time until every
#           object of the set is COLD, each S3 copy read back first.
#           Baseline: the raw GET of the recall row.
#  recall   the set released (every object COLD), page cache dropped, then
#           `cairn tier recall NAME@1` (it waits for the job). Baseline:
#           cairn-s3probe bench get of the objects it put (4 in flight, each
#           checked against its id), page cache dropped first.
#  read     one file, COLD, recall_on_read=no (so every run reads from S3):
#           a fresh mount with an empty --cache-dir, page cache dropped, then
#           dd bs=1M; warm = dd again on the same mount. s3fs-fuse and rclone
#           mount read the same bytes, uploaded once under a plain key, with
#           a fresh mount (and an empty cache dir) per run.
#           cairnfs reads cold objects straight from S3 with URLs catalogd
#           signs; also measured with --no-direct (through catalogd), and
#           with recall_on_read=yes (the default): each object is recalled
#           into the pool and read there (then released again). Then once
#           more with s3rver pinned to core 0 and the reading side (cairnfs
#           or s3fs, dd, and the raw GET's client) to core 1, as when S3 is
#           another machine: on a 2-core machine the reader's CPU otherwise
#           comes out of the server's.
#  ttfb     a fresh mount, empty cache, page cache dropped: open + read of
#           the first 4 KiB of the cold file.
#  rand     the same cold file (recall_on_read=no), random 4 KiB reads with
#           fio: psync, 1 job, --norandommap --randrepeat=0 --invalidate=0.
#           cold = a fresh mount with an empty cache dir, page cache
#           dropped, the first 400 reads (200 with --quick): most land where
#           nothing was fetched yet, and a timed run would end up measuring
#           the page cache once a mount has pulled the file in. warm = on the
#           same mount, dd bs=1M of the whole file (every side has had the
#           chance to cache it), then fio for 10 s (5 s with --quick);
#           unmounted after. Records fio's read IOPS and mean completion
#           latency; the table sets cairn's against each peer's, no target.
#  walk     a 10,000-file version whose objects are all COLD: fresh mount,
#           page cache dropped, `find DIR` and `find DIR -printf '%s %m %T@'`;
#           the peers walk the same files uploaded as 10,000 keys.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/bench/common.sh
. "$ROOT/scripts/bench/common.sh"
TOOL2=$ROOT/scripts/bench/step2tool.py
S3SERVER=$ROOT/scripts/s3-server.sh

RUNS=3
QUICK=0
KEEP=0
BUILD=${CAIRN_BUILD_DIR:-$ROOT/build}
ONLY=migrate,read,rand,walk
bench_args "$@"
PROBE=$BUILD/tests/cairn-s3probe

need_root "it drops the page cache and mounts FUSE file systems"
need_built "$CAIRN" "$CATALOGD" "$CAIRNFS" "$PROBE"
need_cmds fusermount3 mountpoint getfattr jq dd curl "$PY"
if want rand && ! command -v fio >/dev/null; then
	die "fio is not installed: the rand step needs it (apt-get install fio, or scripts/setup.sh --no-build)"
fi

# --- sizes --------------------------------------------------------------
OBJ=$((4 * 1024 * 1024))
if [ $QUICK = 1 ]; then
	MIG_FILES=4 MIG_SIZE=256M MIG_LABEL="1 GiB (4 × 256 MiB files, 4 MiB objects)"
	SEQ_SIZE=256M SEQ_LABEL="256 MiB"
	FIO_SECS=5 COLD_IOS=200
	NEED_GB=6
else
	MIG_FILES=8 MIG_SIZE=256M MIG_LABEL="2 GiB (8 × 256 MiB files, 4 MiB objects)"
	SEQ_SIZE=1G SEQ_LABEL="1 GiB"
	FIO_SECS=10 COLD_IOS=400
	NEED_GB=12
fi
TREE_FILES=10000 TREE_DIRS=100
TREE_LABEL="$TREE_FILES files of 1–8 KiB in $TREE_DIRS dirs"

# --- work dir, processes, cleanup ---------------------------------------
S3_PID='' S3_PORT=''
SKIP_S3FS='' SKIP_RCLONE=''
TIER_INFO="catalogd's defaults"

write_report() {
	report_infos
	INFOS+=(
		--info "work_dir=$W ($(df -PT "$W" | awk 'NR == 2 { print $2 " on " $1 }'))"
		--info "s3=s3rver $(jq -r .version "$ROOT/tools/s3server/node_modules/s3rver/package.json" 2>/dev/null || echo '?') on 127.0.0.1, data on the same disk"
		--info "tiering=$TIER_INFO"
		--info "mig=$MIG_LABEL"
		--info "seq=$SEQ_LABEL"
		--info "tree=$TREE_LABEL"
		--info "method_mig=fresh catalog per run and verify level, page cache dropped first; time from \`cairn tier run\` (min_idle=0) until every object is DUAL; baseline cairn-s3probe bench put (lib/s3, 4 in flight, same count and size)"
		--info "method_recall=every object COLD, page cache dropped, \`cairn tier recall\` (waits for the job); baseline cairn-s3probe bench get (4 in flight, digest checked), page cache dropped"
		--info "method_read=dd bs=1M; cold = fresh mount, empty cache dir, page cache dropped, objects COLD with recall_on_read=no; warm = dd again on the same mount"
		--info "method_readcat=the same cold read with cairnfs --no-direct: every object through catalogd (it GETs from S3, checks, sends) instead of straight from S3 with the URL catalogd signs (the default)"
		--info "method_readpool=the same cold read with recall_on_read=yes (the default): cairnfs on catalogd's host has each object recalled into the pool (one S3 GET, written with O_DIRECT, synced) and reads the pool copy; released again after each run"
		--info "method_ttfb=open + read(4096) of that file, cold as above (includes the path lookup)"
		--info "method_rand=fio randread bs=4k psync, 1 job, --norandommap --randrepeat=0 --invalidate=0, on that file; cold = fresh mount, empty cache dir, page cache dropped, the first ${COLD_IOS} reads; warm = same mount after one dd bs=1M of the whole file, time based ${FIO_SECS}s; IOPS and mean completion latency"
		--info "fio=$(fio --version 2>/dev/null || echo 'not installed')"
		--info "method_walk=fresh mount + drop_caches; find -printf '%s %m %T@' stats every entry"
		--info "peers=s3fs $(s3fs --version 2>/dev/null | awk 'NR == 1 { print $NF }') (-o use_path_request_style), rclone $(rclone version 2>/dev/null | awk 'NR == 1 { print $2 }') mount (--read-only; vfs-cache-mode off and full)"
	)
	[ -n "$SKIP_S3FS" ] && INFOS+=(--info "skip_s3fs=$SKIP_S3FS")
	[ -n "$SKIP_RCLONE" ] && INFOS+=(--info "skip_rclone=$SKIP_RCLONE")
	$PY "$TOOL2" report "$SAMPLES" "$RESULTS" "${INFOS[@]}"
}

# On exit s3rver stops after the mount and catalogd (common.sh's cleanup).
stop_others() {
	if [ -n "$S3_PID" ]; then
		"$S3SERVER" stop "$S3_PID"
	fi
}
LOGS=(catalogd.log cairnfs.log s3fs.log rclone.log s3rver.log)
LOG_LINES=15
remove_data() {
	local d
	rm -rf "${W:?}/src" "$W/s3data" "$W"/state-* "$W"/cache-* "$W/rclone-cache" "$W"/fio-*.json
	for d in "$W"/mnt-*; do
		[ -d "$d" ] && ! mountpoint -q "$d" && rmdir "$d"
	done
}

bench_workdir cairn-bench2 "$NEED_GB"

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.6f", b - a }'; }

api() { curl -sf --unix-socket "$SOCK" "http://cairn$1"; }

start_s3() {
	local out
	out=$("$S3SERVER" start "$W/s3data" --log "$W/s3rver.log") || die "cannot start s3rver"
	read -r S3_PID S3_PORT <<<"$out"
	[ -n "$S3_PORT" ] || die "no port from s3-server.sh ('$out')"
	export CAIRN_S3_ENDPOINT=127.0.0.1:$S3_PORT CAIRN_S3_BUCKET=cairn \
		CAIRN_S3_ACCESS_KEY=S3RVER CAIRN_S3_SECRET_KEY=S3RVER CAIRN_S3_PROTOCOL=http
	log "s3rver pid $S3_PID on 127.0.0.1:$S3_PORT"
}

# start_catalogd STATE — with the S3 tier on; nothing moves by itself (each
# move in this benchmark is a `cairn tier run`).
start_catalogd() {
	catalogd_up "$1" \
		-o s3.endpoint="127.0.0.1:$S3_PORT" -o s3.bucket=cairn -o s3.protocol=http \
		-o s3.access_key=S3RVER -o s3.secret_key=S3RVER \
		-o tiering.min_idle=1d -o tiering.scan_interval=1h
}

total_objects() { api /v1/status | jq -r .objects.count; }

# wait_state STATE COUNT — until COUNT objects are in STATE, nothing moving.
wait_state() {
	$PY "$TOOL2" wait-tier "$SOCK" "$1" "$2" 900 >/dev/null || die "waiting for $2 objects $1"
}

# release_all COUNT — every pool copy released (objects COLD), then
# watermarks that release nothing more.
release_all() {
	"$CAIRN" tier policy set high_watermark=1% low_watermark=0% >/dev/null
	"$CAIRN" tier run >/dev/null
	wait_state cold "$1"
	"$CAIRN" tier policy set high_watermark=99% low_watermark=98% >/dev/null
}

# mount_cairnfs [ARGS] — fresh mount, empty cache dir; ARGS go to cairnfs.
# CLIENT_CPU: a prefix (taskset -c N) for the file systems mounted and the
# readers run, empty unless the server and the clients are on separate
# cores (split_side).
CLIENT_CPU=()

mount_cairnfs() {
	rm -rf "$W/cache-cairnfs"
	mount_fuse cairnfs "$W/mnt-cairnfs" "${CLIENT_CPU[@]}" "$CAIRNFS" "$W/mnt-cairnfs" \
		--catalog "unix:$SOCK" --cache-dir "$W/cache-cairnfs" -f "$@" ||
		die "cairnfs did not mount"
}

mount_s3fs() {
	printf 'S3RVER:S3RVER\n' >"$W/s3fs.passwd"
	chmod 600 "$W/s3fs.passwd"
	mount_fuse s3fs "$W/mnt-s3fs" "${CLIENT_CPU[@]}" s3fs cairn "$W/mnt-s3fs" -f -o ro \
		-o passwd_file="$W/s3fs.passwd" -o url="http://127.0.0.1:$S3_PORT" \
		-o use_path_request_style
}

# mount_rclone MODE [PREFIX] — mounts the bucket, or only the keys under
# PREFIX. rclone's configuration comes from the environment.
# A CA bundle in AWS_CA_BUNDLE makes rclone 1.60 refuse to start
# ("unsupported transport"); the endpoint is plain http, so it goes.
mount_rclone() {
	local remote=bench:cairn
	[ $# -lt 2 ] || remote=bench:cairn/$2
	rm -rf "$W/rclone-cache"
	mount_fuse rclone "$W/mnt-rclone" env -u AWS_CA_BUNDLE \
		RCLONE_CONFIG_BENCH_TYPE=s3 RCLONE_CONFIG_BENCH_PROVIDER=Other \
		RCLONE_CONFIG_BENCH_ENDPOINT="http://127.0.0.1:$S3_PORT" \
		RCLONE_CONFIG_BENCH_ACCESS_KEY_ID=S3RVER RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY=S3RVER \
		rclone mount "$remote" "$W/mnt-rclone" --read-only --config /dev/null \
		--cache-dir "$W/rclone-cache" --vfs-cache-mode "$1"
}

"$S3SERVER" install
start_s3

# --- data ---------------------------------------------------------------
SRC_MIG=$W/src/mig SRC_SEQ=$W/src/seq SRC_TREE=$W/src/tree
if want migrate; then
	log "generating the migration set: $MIG_LABEL"
	$PY "$TOOL" gen-large "$SRC_MIG" "$MIG_FILES" "$MIG_SIZE"
	rec mig.bytes "$(find "$SRC_MIG" -type f -printf '%s\n' | awk '{ s += $1 } END { printf "%.0f", s }')"
fi
if want read || want walk || want rand; then
	log "generating a $SEQ_LABEL file and $TREE_LABEL"
	$PY "$TOOL" gen-large "$SRC_SEQ" 1 "$SEQ_SIZE"
	mv "$SRC_SEQ/part-000.bin" "$SRC_SEQ/seq.bin"
	rec seq.bytes "$(stat -c %s "$SRC_SEQ/seq.bin")"
	$PY "$TOOL" gen-small "$SRC_TREE" "$TREE_FILES" "$TREE_DIRS" 1K 8K
fi

# --- 1. migration and recall against raw PUT / GET ----------------------
if want migrate; then
	MIG_OBJS=$(($(awk -F'\t' '$1 == "mig.bytes" { print $2 }' "$SAMPLES") / OBJ))
	for r in $(seq 1 "$RUNS"); do
		for v in readback checksum; do
			log "migration run $r/$RUNS, verify=$v"
			S=$W/state-mig-$v
			rm -rf "$S"
			start_catalogd "$S"
			"$CAIRN" dataset create bench/mig >/dev/null
			"$CAIRN" commit bench/mig "$SRC_MIG" >/dev/null
			n=$(total_objects)
			[ "$n" -ge "$MIG_OBJS" ] || die "bench/mig has $n objects, expected $MIG_OBJS of 4 MiB"
			"$CAIRN" tier policy set min_idle=0 "verify=$v" >/dev/null
			TIER_INFO=$("$CAIRN" tier policy show --json | jq -r '.effective | "concurrency \(.concurrency), bandwidth \(.bandwidth), chunk 4 MiB"')
			# Each migration and the raw PUT start from the same
			# page cache: empty. (What ran before differs: the
			# read-back run's release and recall leave the server's
			# files cached for the next one.)
			drop_caches
			t0=$(now)
			"$CAIRN" tier run >/dev/null
			wait_state dual "$n"
			rec "mig.$v.s" "$(since "$t0")"
			st=$(api /v1/tier/status)
			[ "$(jq .totals.migrated.objects <<<"$st")" = "$n" ] ||
				die "migrated $(jq .totals.migrated.objects <<<"$st") objects, not $n"
			if [ $v = readback ]; then
				# Under readback a release reads each S3 copy back
				# whole first: the cost moved here from migration.
				log "release run $r/$RUNS (read-back of every copy)"
				drop_caches
				t0=$(now)
				release_all "$n"
				rec release.readback.s "$(since "$t0")"
				log "recall run $r/$RUNS"
				drop_caches
				timed recall.s "$CAIRN" tier recall bench/mig@1
				[ "$("$CAIRN" show bench/mig@1 --json | jq -r '.tiers.dual.objects // 0')" = "$n" ] ||
					die "after the recall not every object of bench/mig@1 is DUAL"
			fi
			stop_catalogd
			rm -rf "$S"
		done
		log "raw PUT / GET run $r/$RUNS ($MIG_OBJS × 4 MiB, 4 in flight)"
		drop_caches
		out=$("$PROBE" bench put "$MIG_OBJS" "$OBJ" 4) || die "cairn-s3probe bench put failed"
		rec raw.put.s "$(awk '{ print $5 }' <<<"$out")"
		drop_caches
		out=$("$PROBE" bench get "$MIG_OBJS" "$OBJ" 4) || die "cairn-s3probe bench get failed"
		rec raw.get.s "$(awk '{ print $5 }' <<<"$out")"
	done
fi

# --- the serving catalog: a cold file and a cold 10,000-file tree ----------
if want read || want walk || want rand; then
	S=$W/state-serve
	start_catalogd "$S"
	"$CAIRN" dataset create bench/seq >/dev/null
	"$CAIRN" commit bench/seq "$SRC_SEQ" >/dev/null
	"$CAIRN" dataset create bench/tree >/dev/null
	"$CAIRN" commit bench/tree "$SRC_TREE" >/dev/null
	n=$(total_objects)
	log "migrating and releasing $n objects"
	"$CAIRN" tier policy set min_idle=0 recall_on_read=no >/dev/null
	"$CAIRN" tier run >/dev/null
	wait_state dual "$n"
	release_all "$n"
	[ "$("$CAIRN" show bench/seq@1 --json | jq -r '.tiers.cold.objects // 0')" = \
		"$("$CAIRN" show bench/seq@1 --json | jq -r .objects)" ] || die "bench/seq@1 is not all cold"
	SEQ_OBJS=$("$CAIRN" show bench/seq@1 --json | jq -r .objects)

	# The same bytes under plain keys for the peers.
	log "uploading the file and the tree as plain keys for s3fs and rclone"
	$PY "$TOOL2" put-file "127.0.0.1:$S3_PORT" cairn peer/seq.bin "$SRC_SEQ/seq.bin" ||
		die "upload of peer/seq.bin failed"
	[ "$($PY "$TOOL2" put-tree "127.0.0.1:$S3_PORT" cairn peer/tree "$SRC_TREE" 8)" = "$TREE_FILES" ] ||
		die "upload of peer/tree failed"
	command -v s3fs >/dev/null || SKIP_S3FS="s3fs not installed (apt-get install s3fs)"
	command -v rclone >/dev/null || SKIP_RCLONE="rclone not installed (apt-get install rclone)"
fi

# peer_check NAME MOUNT-FN [ARGS] — mounts once to see whether the peer
# serves the uploaded file; leaves the reason in WHY when it does not.
WHY=
peer_check() {
	local fn=$2
	shift 2
	WHY=
	if ! "$fn" "$@"; then
		WHY="did not mount"
	elif ! cmp -s -n 1048576 "$MOUNT_DIR/peer/seq.bin" "$SRC_SEQ/seq.bin"; then
		WHY="mounted, but peer/seq.bin did not read back"
	fi
	unmount_fuse
}

if want read || want walk || want rand; then
	if [ -z "$SKIP_S3FS" ]; then
		peer_check s3fs mount_s3fs
		[ -z "$WHY" ] || { SKIP_S3FS="s3fs $WHY, see s3fs.log"; log "s3fs: $WHY"; }
	fi
	if [ -z "$SKIP_RCLONE" ]; then
		peer_check rclone mount_rclone off
		[ -z "$WHY" ] || { SKIP_RCLONE="rclone $WHY, see rclone.log"; log "rclone: $WHY"; }
	fi
fi

# read_side NAME MOUNT-FN [ARGS] — ttfb, cold and warm dd of the file.
read_side() {
	local name=$1 fn=$2 f
	shift 2
	"$fn" "$@" || die "$name did not mount"
	f=$MOUNT_DIR/peer/seq.bin
	[ "$name" = cairn ] && f=$MOUNT_DIR/bench/seq/1/seq.bin
	drop_caches
	v=$($PY "$TOOL2" ttfb "$f") || die "ttfb through $name failed"
	rec "ttfb.$name.s" "$v"
	unmount_fuse
	"$fn" "$@" || die "$name did not mount"
	drop_caches
	TIMED_CPU="s3rver=$S3_PID daemon=$MOUNT_PID" \
		timed "seq.$name.cold.s" dd if="$f" of=/dev/null bs=1M status=none
	timed "seq.$name.warm.s" dd if="$f" of=/dev/null bs=1M status=none
	cmp "$f" "$SRC_SEQ/seq.bin" || die "$f differs from its source"
	unmount_fuse
}

# peer_sides FN WHAT — FN (read_side, rand_side) for s3fs and both rclone
# modes, those that run here.
peer_sides() {
	local fn=$1 what=$2
	if [ -z "$SKIP_S3FS" ]; then
		log "$what: s3fs"
		"$fn" s3fs mount_s3fs
	fi
	if [ -z "$SKIP_RCLONE" ]; then
		log "$what: rclone"
		"$fn" rclone mount_rclone off
		log "$what: rclone --vfs-cache-mode full"
		"$fn" rclonefull mount_rclone full
	fi
}

# still_cold — every run of cairnfs must have read from S3.
still_cold() {
	[ "$("$CAIRN" show bench/seq@1 --json | jq -r '.tiers.cold.objects // 0')" = "$SEQ_OBJS" ] ||
		die "bench/seq@1 is no longer all cold (recall_on_read=no)"
}

# catalogd_side — cold reads with cairnfs --no-direct: every object through
# catalogd instead of straight from S3.
catalogd_side() {
	local f=$W/mnt-cairnfs/bench/seq/1/seq.bin
	log "cold reads run $r/$RUNS ($SEQ_LABEL): cairnfs --no-direct"
	mount_cairnfs --no-direct
	drop_caches
	timed "seq.cairncat.cold.s" dd if="$f" of=/dev/null bs=1M status=none
	cmp "$f" "$SRC_SEQ/seq.bin" || die "$f differs from its source"
	unmount_fuse
	still_cold
}

# pool_side — the default, recall_on_read=yes: cairnfs on catalogd's host
# has each object recalled into the pool and reads the pool copy. Every
# object ends DUAL; they are all released again afterwards.
pool_side() {
	local f=$W/mnt-cairnfs/bench/seq/1/seq.bin
	log "cold reads run $r/$RUNS ($SEQ_LABEL): cairnfs, recall_on_read=yes"
	"$CAIRN" tier policy set recall_on_read=yes >/dev/null
	mount_cairnfs
	drop_caches
	timed "seq.cairnpool.cold.s" dd if="$f" of=/dev/null bs=1M status=none
	cmp "$f" "$SRC_SEQ/seq.bin" || die "$f differs from its source"
	unmount_fuse
	"$CAIRN" tier policy set recall_on_read=no >/dev/null
	[ "$("$CAIRN" show bench/seq@1 --json | jq -r '.tiers.dual.objects // 0')" = "$SEQ_OBJS" ] ||
		die "a read with recall_on_read=yes left objects of bench/seq@1 out of the pool"
	release_all "$(total_objects)"
	still_cold
}

# raw_get METRIC COUNT SIZE — the raw GET, 4 in flight, from a dropped page
# cache (on CLIENT_CPU's core, when set): the probe's own time (column 5)
# is METRIC; the run around it records where the CPU went (METRIC less .s,
# .proc.cpu.*).
raw_get() {
	drop_caches
	TIMED_STDOUT=1 TIMED_CPU="s3rver=$S3_PID" \
		timed "${1%.s}.proc.s" "${CLIENT_CPU[@]}" "$PROBE" bench get "$2" "$3" 4
	rec "$1" "$(awk '{ print $5 }' "$W/last.out")"
}

# split_side — the cold read again with s3rver on core 0 and everything on
# the reading side (cairnfs or s3fs, dd, the raw GET's client) on core 1,
# as when the S3 server is another machine: on one small machine the
# reader's own CPU is taken from the server's. catalogd stays where it is
# (it only signs URLs here). Rows seq.*.split.s and raw.getseq.split.s.
split_side() {
	local f=$W/mnt-cairnfs/bench/seq/1/seq.bin
	log "cold reads run $r/$RUNS ($SEQ_LABEL): s3rver on core 0, readers on core 1"
	taskset -a -p -c 0 "$S3_PID" >/dev/null || die "cannot pin s3rver to core 0"
	CLIENT_CPU=(taskset -c 1)
	mount_cairnfs
	drop_caches
	timed "seq.cairn.split.s" taskset -c 1 dd if="$f" of=/dev/null bs=1M status=none
	cmp "$f" "$SRC_SEQ/seq.bin" || die "$f differs from its source"
	unmount_fuse
	still_cold
	raw_get raw.getseq.split.s "$SEQ_OBJS" "$OBJ"
	if [ -z "$SKIP_S3FS" ]; then
		mount_s3fs || die "s3fs did not mount"
		drop_caches
		timed "seq.s3fs.split.s" taskset -c 1 dd if="$MOUNT_DIR/peer/seq.bin" of=/dev/null \
			bs=1M status=none
		unmount_fuse
	fi
	CLIENT_CPU=()
	taskset -a -p -c "0-$(($(nproc) - 1))" "$S3_PID" >/dev/null ||
		die "cannot unpin s3rver"
}

# --- 2. cold sequential reads and time to first byte ----------------------
if want read; then
	# The raw GET reads objects cairn-s3probe put; without the migrate step
	# none are there yet.
	if ! want migrate; then
		"$PROBE" bench put "$SEQ_OBJS" "$OBJ" 4 >/dev/null || die "cairn-s3probe bench put failed"
	fi
	# The same bytes in objects of 1 and 16 MiB, for the raw GETs that show
	# what the server spends per request (raw.get<N>m.*).
	SEQ_BYTES=$(stat -c %s "$SRC_SEQ/seq.bin")
	for m in 1 16; do
		"$PROBE" bench put $(((SEQ_BYTES >> 20) / m)) $((m << 20)) 4 >/dev/null ||
			die "cairn-s3probe bench put of $m MiB objects failed"
	done
	for r in $(seq 1 "$RUNS"); do
		log "cold reads run $r/$RUNS ($SEQ_LABEL): cairnfs"
		read_side cairn mount_cairnfs
		still_cold
		raw_get raw.getseq.s "$SEQ_OBJS" "$OBJ"
		log "cold reads run $r/$RUNS: raw GETs of 1 and 16 MiB objects"
		for m in 1 16; do
			raw_get "raw.get${m}m.s" $(((SEQ_BYTES >> 20) / m)) $((m << 20))
		done
		catalogd_side
		pool_side
		[ "$(nproc)" -ge 2 ] && split_side
		peer_sides read_side "cold reads run $r/$RUNS"
	done
fi

# rand_side NAME MOUNT-FN [ARGS] — fio random 4 KiB reads of the file on a
# fresh mount (cold), then again on the same mount after one full dd (warm).
rand_side() {
	local name=$1 fn=$2 f phase out v
	shift 2
	"$fn" "$@" || die "$name did not mount"
	f=$MOUNT_DIR/peer/seq.bin
	[ "$name" = cairn ] && f=$MOUNT_DIR/bench/seq/1/seq.bin
	for phase in cold warm; do
		if [ $phase = cold ]; then
			drop_caches
		else
			dd if="$f" of=/dev/null bs=1M status=none || die "dd of $f through $name failed"
		fi
		out=$W/fio-$name-$phase.json
		# Cold: the first COLD_IOS reads of a fresh mount, each most
		# likely in a part of the file not fetched yet; a timed run
		# would end up measuring the page cache once the file is in.
		local -a howlong=(--time_based --runtime="$FIO_SECS")
		[ $phase = cold ] && howlong=(--number_ios="$COLD_IOS" --runtime=300)
		fio --name=rand --filename="$f" --readonly --rw=randread --bs=4k \
			--ioengine=psync --numjobs=1 "${howlong[@]}" \
			--norandommap --randrepeat=0 --invalidate=0 \
			--output-format=json --output="$out" >/dev/null ||
			die "fio through $name ($phase) failed (see $out)"
		v=$($PY "$TOOL2" fio-stats "$out") || die "no fio numbers in $out"
		rec "rand.$name.$phase.iops" "${v% *}"
		rec "rand.$name.$phase.lat_us" "${v#* }"
	done
	unmount_fuse
}

# --- 3. random 4 KiB reads of the cold file -------------------------------
if want rand; then
	for r in $(seq 1 "$RUNS"); do
		log "random 4 KiB reads run $r/$RUNS (fio, ${FIO_SECS}s cold + ${FIO_SECS}s warm): cairnfs"
		rand_side cairn mount_cairnfs
		still_cold
		peer_sides rand_side "random 4 KiB reads run $r/$RUNS"
	done
fi

# --- 4. find / stat over 10,000 cold files --------------------------------
STAT_FMT='%s %m %T@\n'
walk_side() {
	local name=$1 fn=$2 d
	shift 2
	"$fn" "$@" || die "$name did not mount"
	d=$MOUNT_DIR/peer/tree
	[ "$name" = cairn ] && d=$MOUNT_DIR/bench/tree/1
	[ "$name" = rclone ] && d=$MOUNT_DIR      # mounted at peer/tree (below)
	if [ "$name" != cairn ] && [ ! -d "$d" ]; then
		# A peer that cannot list the uploaded tree: n/a in the table.
		log "$name does not list $d (see $name.log); no walk for $name"
		unmount_fuse
		return 0
	fi
	drop_caches
	timed "stat.$name.cold.s" find "$d" -printf "$STAT_FMT"
	local got
	got=$(find "$d" -type f | wc -l)
	[ "$got" = "$TREE_FILES" ] || die "$name lists $got files, not $TREE_FILES"
	unmount_fuse
	"$fn" "$@" || die "$name did not mount"
	drop_caches
	timed "find.$name.cold.s" find "$d"
	unmount_fuse
}
if want walk; then
	[ "$("$CAIRN" show bench/tree@1 --json | jq -r '.tiers.cold.objects // 0')" = \
		"$("$CAIRN" show bench/tree@1 --json | jq -r .objects)" ] || die "bench/tree@1 is not all cold"
	for r in $(seq 1 "$RUNS"); do
		log "walk run $r/$RUNS ($TREE_FILES cold files): cairnfs"
		walk_side cairn mount_cairnfs
		if [ -z "$SKIP_S3FS" ]; then
			log "walk run $r/$RUNS: s3fs"
			walk_side s3fs mount_s3fs
		fi
		if [ -z "$SKIP_RCLONE" ]; then
			# rclone lists a directory with a delimiter, and s3rver's
			# answer then leaves out every subdirectory whose keys all
			# lie two or more levels down: peer/tree (only plate-NNN/
			# files) is missing from peer/'s listing. Mounted at
			# peer/tree itself, each plate holds its files directly.
			log "walk run $r/$RUNS: rclone"
			walk_side rclone mount_rclone off peer/tree
		fi
	done
fi
stop_catalogd

write_report
