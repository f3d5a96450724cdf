#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Fails when a tracked C file differs from .clang-format's layout (CONVENTIONS
# CI matrix 6).  Skips (77) where clang-format or git is missing.
cd "$(dirname "$0")/.." || exit 1
command -v clang-format >/dev/null && command -v git >/dev/null || exit 77
files=$(git ls-files '*.[ch]' 2>/dev/null) || exit 77
[ -n "$files" ] || exit 77
# shellcheck disable=SC2086
clang-format --dry-run --Werror $files && echo "1 passed, 0 failed, 0 skipped"
