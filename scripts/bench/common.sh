# common.sh — what the benchmark scripts (scripts/bench-step*.sh) share:
# their options, logging, the work dir and its cleanup, catalogd and FUSE
# mounts started and stopped by PID. Sourced, never run.
#
# The script sets ROOT and its defaults (RUNS QUICK KEEP BUILD ONLY), then
# calls bench_args "$@". Before bench_workdir it defines the hooks the EXIT
# trap calls:
#   write_report   the table from $SAMPLES into $RESULTS (also after a failure)
#   remove_data    deletes its bulk data from $W (skipped with --keep)
#   stop_others    (optional) stops what it started besides catalogd and
#                  the FUSE mount
# and sets LOGS (names of logs in $W) and LOG_LINES: after a failure the
# last LOG_LINES lines of each are shown.
# shellcheck shell=bash

BENCH=$(basename "$0" .sh)
TOOL=$ROOT/scripts/bench/benchtool.py
PY=python3

# --help prints the script's header comment, from line 2 to `set -euo`.
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit "${1:-0}"; }

# bench_args "$@" — the options every benchmark takes (its header lists
# them); sets CAIRN, CATALOGD and CAIRNFS from the build directory.
bench_args() {
	while [ $# -gt 0 ]; do
		case $1 in
		--runs) RUNS=${2:?--runs needs a number}; shift 2 ;;
		--runs=*) RUNS=${1#*=}; shift ;;
		--quick) QUICK=1; shift ;;
		--keep) KEEP=1; shift ;;
		--build) BUILD=${2:?--build needs a directory}; shift 2 ;;
		--build=*) BUILD=${1#*=}; shift ;;
		--only) ONLY=${2:?--only needs a list}; shift 2 ;;
		--only=*) ONLY=${1#*=}; shift ;;
		-h|--help) usage 0 ;;
		*) echo "$BENCH: unknown argument '$1'" >&2; usage 2 >&2 ;;
		esac
	done
	case $RUNS in ''|*[!0-9]*|0) echo "$BENCH: --runs takes a positive number" >&2; exit 2 ;; esac
	BUILD=$(cd "$BUILD" 2>/dev/null && pwd) || { echo "$BENCH: no build directory" >&2; exit 2; }
	CAIRN=$BUILD/cli/cairn
	CATALOGD=$BUILD/catalogd/catalogd
	# shellcheck disable=SC2034 # the scripts' to use
	CAIRNFS=$BUILD/fusefs/cairnfs
}

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '[bench] error: %s\n' "$*" >&2; exit 1; }
want() { case ",$ONLY," in *",$1,"*) return 0 ;; esac; return 1; }

# need_root WHY; need_built FILE...; need_cmds CMD... — preconditions.
need_root() { [ "$(id -u)" -eq 0 ] || die "needs root: $1"; }
need_built() {
	local b
	for b in "$@"; do
		[ -x "$b" ] || die "$b is missing: build first (cmake --build $BUILD)"
	done
}
need_cmds() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null || die "$c is not installed (scripts/setup.sh --no-build)"
	done
}

CATALOGD_PID=
MOUNT_PID='' MOUNT_DIR=''
LOGS=() LOG_LINES=20

# bench_workdir PREFIX NEED_GB — the run's temp dir W under $BENCH_DIR
# (default /var/tmp), which must have NEED_GB GiB free, with SOCK, SAMPLES
# and RESULTS in it; from here on the EXIT trap cleans up.
bench_workdir() {
	local base=${BENCH_DIR:-/var/tmp} avail_kb
	mkdir -p "$base"
	avail_kb=$(df -Pk "$base" | awk 'NR == 2 { print $4 }')
	[ "$avail_kb" -ge $(($2 * 1024 * 1024)) ] ||
		die "$base has $((avail_kb / 1024 / 1024)) GiB free, the run needs about $2 GiB (set BENCH_DIR)"
	W=$(mktemp -d "$base/$1.XXXXXX")
	SOCK=$W/catalogd.sock
	SAMPLES=$W/samples.tsv
	RESULTS=$W/$BENCH-results.md
	export CAIRN_CATALOG=unix:$SOCK
	: >"$SAMPLES"
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	log "work dir $W (runs: $RUNS$([ "$QUICK" = 1 ] && echo ', quick'))"
}

cleanup() {
	local rc=$? f
	set +e
	trap - EXIT INT TERM
	unmount_fuse
	stop_catalogd
	declare -F stop_others >/dev/null && stop_others
	if [ $rc -ne 0 ]; then
		for f in "${LOGS[@]}"; do
			[ -s "$W/$f" ] || continue
			echo "--- $W/$f (last $LOG_LINES lines) ---" >&2
			tail -n "$LOG_LINES" "$W/$f" >&2
		done
		if [ -s "$SAMPLES" ]; then
			log "partial results (the run stopped early):"
			write_report
		fi
	fi
	[ "$KEEP" = 0 ] && remove_data
	[ -s "$RESULTS" ] && log "results: $RESULTS"
	exit $rc
}

# report_infos — the --info pairs every report carries, into INFOS; the
# script adds its own.
report_infos() {
	# shellcheck disable=SC2034 # the scripts' to use
	INFOS=(
		--info "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
		--info "host=$(uname -n), $(nproc) cores, $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM"
		--info "kernel=$(uname -r)"
		--info "source=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" status --porcelain 2>/dev/null | grep -q . && echo ' + local changes' || true)"
		--info "build=$BUILD ($(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$BUILD/CMakeCache.txt" 2>/dev/null || true))"
		--info "runs=$RUNS per measurement$([ "$QUICK" = 1 ] && echo ', --quick sizes' || true)"
	)
	# (The status of an assignment is its last command substitution's:
	# under set -e each must succeed.)
}

drop_caches() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
}

# rec METRIC VALUE — one sample.
rec() { printf '%s\t%s\n' "$1" "$2" >>"$SAMPLES"; }

# timed METRIC CMD... — runs CMD once, records its wall time (seconds) as
# METRIC. TIMED_RSS=1: CMD's peak RSS (KiB) is left in LAST_RSS (measured
# through GNU time, which adds an exec: only for long commands).
# TIMED_STDOUT=1: CMD's stdout goes to $W/last.out, else to /dev/null.
# TIMED_CPU="NAME=PID ...": also records the CPU seconds used while CMD ran,
# as METRIC (less its .s) .cpu.cmd (CMD itself), .cpu.all (the whole
# machine, kernel threads included) and .cpu.NAME (PID's threads).
LAST_RSS=0
TIMED_STDOUT=0
TIMED_RSS=0
TIMED_CPU=
timed() {
	local metric=$1 out rc=0 names=(cmd all) pids='' w v
	local opts=(--stdout /dev/null)
	shift
	[ "$TIMED_STDOUT" = 1 ] && opts=(--stdout "$W/last.out")
	[ "$TIMED_RSS" = 1 ] && opts+=(--rss)
	if [ -n "$TIMED_CPU" ]; then
		for w in $TIMED_CPU; do
			names+=("${w%%=*}")
			pids+=${pids:+,}${w#*=}
		done
		opts+=(--cpu "$pids")
	fi
	out=$($PY "$TOOL" run "${opts[@]}" -- "$@") || rc=$?
	[ $rc -eq 0 ] || die "$metric: '$*' failed with status $rc"
	read -r -a v <<<"$out"
	rec "$metric" "${v[0]}"
	# shellcheck disable=SC2034 # the scripts' to use
	LAST_RSS=${v[1]}
	if [ -n "$TIMED_CPU" ]; then
		for w in "${!names[@]}"; do
			rec "${metric%.s}.cpu.${names[$w]}" "${v[$((w + 2))]}"
		done
	fi
}

# catalogd_up STATE [ARG]... — catalogd on $SOCK with its state in STATE
# (more options in ARGs), logging to $W/catalogd.log; returns once it
# answers.
catalogd_up() {
	local state=$1 _
	shift
	"$CATALOGD" -o catalog.state_dir="$state" -o catalog.socket="$SOCK" "$@" \
		>>"$W/catalogd.log" 2>&1 &
	CATALOGD_PID=$!
	for _ in $(seq 1 400); do
		if [ -S "$SOCK" ] && "$CAIRN" status --json >/dev/null 2>&1; then
			return 0
		fi
		kill -0 "$CATALOGD_PID" 2>/dev/null || { CATALOGD_PID=; die "catalogd exited at start"; }
		sleep 0.05
	done
	die "catalogd did not answer on $SOCK"
}

stop_catalogd() {
	[ -n "$CATALOGD_PID" ] || return 0
	local rc=0
	kill -TERM "$CATALOGD_PID" 2>/dev/null || true
	wait "$CATALOGD_PID" || rc=$?
	CATALOGD_PID=
	[ $rc -eq 0 ] || log "warning: catalogd exited with status $rc on SIGTERM"
}

# mount_fuse NAME DIR CMD... — runs CMD, a FUSE daemon in the foreground
# logging to $W/NAME.log, and waits for DIR to be mounted. Returns 1 (and
# says why) when it exits first or has not mounted DIR after 20 s. One
# mount at a time: MOUNT_PID and MOUNT_DIR are unmount_fuse's.
mount_fuse() {
	local name=$1 _
	MOUNT_DIR=$2
	shift 2
	mkdir -p "$MOUNT_DIR"
	"$@" >>"$W/$name.log" 2>&1 &
	MOUNT_PID=$!
	for _ in $(seq 1 400); do
		mountpoint -q "$MOUNT_DIR" && return 0
		kill -0 "$MOUNT_PID" 2>/dev/null || { MOUNT_PID=; log "$name exited at start"; return 1; }
		sleep 0.05
	done
	log "$name did not mount $MOUNT_DIR in 20 s"
	return 1
}

# unmount_fuse — unmounts what mount_fuse mounted, then waits for its
# process to end.
unmount_fuse() {
	if [ -n "$MOUNT_DIR" ] && mountpoint -q "$MOUNT_DIR" 2>/dev/null; then
		fusermount3 -u "$MOUNT_DIR" 2>/dev/null || umount "$MOUNT_DIR" 2>/dev/null ||
			umount -l "$MOUNT_DIR" 2>/dev/null || true
	fi
	if [ -n "$MOUNT_PID" ]; then
		# After the unmount the daemon exits by itself; a bounded wait,
		# then TERM.
		local _
		for _ in $(seq 1 100); do
			kill -0 "$MOUNT_PID" 2>/dev/null || break
			sleep 0.05
		done
		kill "$MOUNT_PID" 2>/dev/null || true
		wait "$MOUNT_PID" 2>/dev/null || true
	fi
	MOUNT_PID='' MOUNT_DIR=''
}
