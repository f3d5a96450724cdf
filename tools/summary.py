#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Prints "N passed, N failed, N skipped" from one or more meson testlog.json
# files (meson's own summary is not what CI reads).  Exit 1 if any failed
# or if no test ran at all.
import collections
import json
import sys

r = collections.Counter()
for path in sys.argv[1:]:
    with open(path) as f:
        for line in f:
            if line.strip():
                r[json.loads(line)['result']] += 1
passed = r['OK'] + r['EXPECTEDFAIL']
failed = r['FAIL'] + r['TIMEOUT'] + r['UNEXPECTEDPASS'] + r['ERROR']
print(f"{passed} passed, {failed} failed, {r['SKIP']} skipped")
sys.exit(1 if failed or passed == 0 else 0)
