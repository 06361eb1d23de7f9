#!/usr/bin/env python3
"""metrics_doc_check: docs/metrics.md lists every metric the daemon registers, and no other.

A metric name is a string literal "ossuring_..." in the daemon's sources (core/, http/, fs/,
tools/cli/; every such literal there names a metric); the document's names are the first
column of its tables. Prints what is missing on either side.

Exit status: 0 they agree, 1 they do not.
"""

import os
import re
import sys

from sources import REPO, cxx_files

DIRS = ("core/", "http/", "fs/", "tools/cli/")


def main():
    in_code = {}
    for path in cxx_files():
        if not path.startswith(DIRS):
            continue
        with open(os.path.join(REPO, path)) as f:
            for name in re.findall(r'"(ossuring_[a-z0-9_]+)"', f.read()):
                in_code.setdefault(name, path)
    with open(os.path.join(REPO, "docs", "metrics.md")) as f:
        in_doc = set(re.findall(r"^\| `(ossuring_[a-z0-9_]+)` \|", f.read(), re.M))
    missing = sorted(set(in_code) - in_doc)
    stale = sorted(in_doc - set(in_code))
    for name in missing:
        print(f"metrics_doc: {name} ({in_code[name]}) is not in docs/metrics.md")
    for name in stale:
        print(f"metrics_doc: docs/metrics.md lists {name}, which no source registers")
    if missing or stale:
        return 1
    print(f"metrics_doc: docs/metrics.md lists the {len(in_doc)} metrics registered")
    return 0


if __name__ == "__main__":
    sys.exit(main())
