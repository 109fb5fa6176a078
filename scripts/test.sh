#!/usr/bin/env bash
# test.sh — the whole test suite: installs what it needs, builds, runs every
# unit and integration test.
#   scripts/test.sh            normal build in ./build
#   scripts/test.sh --asan     AddressSanitizer + UBSan build in ./build-asan
#   scripts/test.sh -L unit    extra arguments go to ctest
set -euo pipefail
cd "$(dirname "$0")/.."

cmake_opts=()
build=${CAIRN_BUILD_DIR:-build}
if [ "${1:-}" = "--asan" ]; then
	shift
	build=${CAIRN_BUILD_DIR:-build-asan}
	cmake_opts=(-DCAIRN_ASAN=ON -DCAIRN_UBSAN=ON -DCMAKE_BUILD_TYPE=Debug)
	export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
	export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
fi
CAIRN_BUILD_DIR=$build scripts/setup.sh -DCAIRN_WERROR=ON "${cmake_opts[@]}"
ctest --test-dir "$build" --output-on-failure "$@"
