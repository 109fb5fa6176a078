#!/usr/bin/env bash
# quickstart.sh — from a fresh Debian 12 machine to a mounted, tiered
# dataset: installs and builds, starts a local S3 server (s3rver on
# 127.0.0.1) and catalogd on its embedded default config under ./.cairn,
# creates and commits a sample dataset, mounts it with cairnfs, lists and
# reads it, migrates it to S3 and releases it from the pool, reads it back
# through a fresh mount (recalled from S3), then unmounts and stops
# everything it started.
#   scripts/quickstart.sh [--keep]     --keep leaves catalogd and the mount up
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

scripts/setup.sh
bin=$root/build
Q=$root/.cairn
keep=0; [ "${1:-}" = "--keep" ] && keep=1

mkdir -p "$Q"
export CAIRN_CATALOG=unix:$Q/catalogd.sock
step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

catalogd_pid=
s3_pid=
mnt=$Q/mnt
cleanup() {
	[ $keep = 1 ] && return
	mountpoint -q "$mnt" 2>/dev/null && fusermount3 -u "$mnt"
	if [ -n "$catalogd_pid" ]; then kill -TERM "$catalogd_pid"; wait "$catalogd_pid" || true; fi
	if [ -n "$s3_pid" ]; then scripts/s3-server.sh stop "$s3_pid"; fi
}
trap cleanup EXIT

step "start a local S3 server (s3rver, data in $Q/s3)"
mkdir -p "$Q/s3"
read -r s3_pid s3_port < <(scripts/s3-server.sh start "$Q/s3" --log "$Q/s3rver.log")
echo "s3rver pid $s3_pid on 127.0.0.1:$s3_port, bucket cairn"

step "start catalogd (embedded defaults, state in $Q/state)"
"$bin/catalogd/catalogd" -o catalog.state_dir="$Q/state" -o catalog.socket="$Q/catalogd.sock" \
	-o s3.endpoint="127.0.0.1:$s3_port" -o s3.protocol=http \
	-o s3.access_key=S3RVER -o s3.secret_key=S3RVER \
	2>>"$Q/catalogd.log" &
catalogd_pid=$!
for _ in $(seq 1 100); do "$bin/cli/cairn" status >/dev/null 2>&1 && break; sleep 0.1; done
"$bin/cli/cairn" status

step "make a sample dataset"
sample=$Q/sample
rm -rf "$sample"; mkdir -p "$sample/reads" "$sample/plates"
printf 'sample,condition,od600\nS1,control,0.41\nS2,treated,0.77\n' >"$sample/samples.csv"
for i in 1 2 3; do
	{ printf '>read%d\n' "$i"; head -c 3000 /dev/urandom | base64 -w 60 | tr -dc 'ACGT\n' | head -n 20; } \
		>"$sample/reads/run$i.fasta"
done
head -c $((9 * 1024 * 1024)) /dev/urandom >"$sample/plates/plate-001.tiff"
ln -sf ../samples.csv "$sample/reads/samples.csv"
"$bin/cli/cairn" dataset create demo/sample --description "quickstart sample" --meta assay=demo \
	2>/dev/null || true

step "cairn commit demo/sample $sample"
"$bin/cli/cairn" commit demo/sample "$sample" --message "quickstart import"
"$bin/cli/cairn" show demo/sample

step "mount it: cairnfs $mnt"
mkdir -p "$mnt"
mountpoint -q "$mnt" && fusermount3 -u "$mnt"
"$bin/fusefs/cairnfs" "$mnt" --catalog "$CAIRN_CATALOG" --cache-dir "$Q/cache"
for _ in $(seq 1 50); do mountpoint -q "$mnt" && break; sleep 0.1; done
ls -l "$mnt/demo/sample"
find "$mnt/demo/sample/latest/" | head -n 20
head -n 3 "$mnt/demo/sample/latest/samples.csv"
getfattr -d -m user.cairn "$mnt/demo/sample/latest/plates/plate-001.tiff" 2>/dev/null || true
cmp "$sample/plates/plate-001.tiff" "$mnt/demo/sample/latest/plates/plate-001.tiff" &&
	echo "plate-001.tiff reads back byte-identical through cairnfs"

step "tier it: migrate every object to S3 now, then release it from the pool"
"$bin/cli/cairn" tier policy set min_idle=0
"$bin/cli/cairn" tier rule add dataset:demo/sample archive-now
"$bin/cli/cairn" tier run
for _ in $(seq 1 100); do
	state=$(getfattr --only-values -n user.cairn.tier "$mnt/demo/sample/latest/plates/plate-001.tiff" 2>/dev/null || true)
	[ "$state" = cold ] && break
	sleep 0.2
done
"$bin/cli/cairn" tier status
"$bin/cli/cairn" show demo/sample
echo "objects in S3: $(find "$Q/s3/cairn" -type f -name '*._S3rver_object' 2>/dev/null | wc -l)"

step "read it back through a fresh mount: recalled from S3, digests checked"
fusermount3 -u "$mnt"
"$bin/cli/cairn" tier rule rm dataset:demo/sample
"$bin/fusefs/cairnfs" "$mnt" --catalog "$CAIRN_CATALOG" --cache-dir "$Q/cache"
for _ in $(seq 1 50); do mountpoint -q "$mnt" && break; sleep 0.1; done
cmp "$sample/plates/plate-001.tiff" "$mnt/demo/sample/latest/plates/plate-001.tiff" &&
	echo "plate-001.tiff recalled from S3 byte-identical"
getfattr -n user.cairn.tier "$mnt/demo/sample/latest/plates/plate-001.tiff" 2>/dev/null || true

step "scrub: read back every copy (pool and S3) and check it against its digest"
"$bin/cli/cairn" tier scrub --all

if [ $keep = 1 ]; then
	step "left running: catalogd pid $catalogd_pid, mount $mnt (CAIRN_CATALOG=$CAIRN_CATALOG)"
else
	step "unmount and stop"
fi
