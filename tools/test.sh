#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# README command 2: install what is needed, configure, build, run every test
# suite (unit, integration, fuzz corpus replay, bench smoke) and print
# "N passed, N failed, N skipped".  Extra arguments go to `meson test`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
BUILD=${BUILD:-build}
[ -f "$BUILD/build.ninja" ] || meson setup "$BUILD" >/dev/null
ninja -C "$BUILD"
rc=0
meson test -C "$BUILD" --print-errorlogs --num-processes 2 "$@" || rc=$?
python3 tools/summary.py "$BUILD/meson-logs/testlog.json" || rc=1
exit $rc
