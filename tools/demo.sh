#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# README command 1: the demo IVR on its built-in default.  Installs what is
# needed, builds, then runs build/tools/ivr-demo, which answers recorded calls
# with the demo flow and prints what the router receives.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null
exec build/tools/ivr-demo "$@"
