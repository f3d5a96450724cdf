#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs the Debian 12 packages the project builds, tests and benches with.
# Idempotent: does nothing when everything is there.  Needs root (or sudo).
set -euo pipefail
pkgs=(
	# build
	meson ninja-build pkg-config gcc clang clang-format libclang-rt-14-dev python3 git
	# libraries (DESIGN.md section 1)
	liburing-dev libspeexdsp-dev libopus-dev libsamplerate0-dev
	libpocketsphinx-dev libsphinxbase-dev pocketsphinx-en-us pocketsphinx
	libjansson-dev libyaml-dev
	# Snowball stemmer for the intent classifier (asr/intent.c)
	libstemmer-dev
	# references for benches and tests
	libspandsp-dev pocketsphinx-testdata sip-tester
	# bench_engine reference: userspace relay (no kernel module needed)
	rtpengine-daemon
	# making and checking speech and audio in tests
	sox espeak-ng flite valgrind
)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "installing: ${missing[*]}" >&2
$SUDO apt-get update -q >&2
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
