#!/usr/bin/env python3
"""format_check: every C++ file of the checkout is as clang-format (.clang-format) writes it.

Runs `clang-format --dry-run --Werror` over the tracked .cc/.hh files (and new ones not yet
added: tools/lint/sources.py), two processes at a time, and prints clang-format's complaint for
each file that differs. Fix with `clang-format -i FILE`.

Exit status: 0 clean, 1 a file differs, 77 no clang-format or not a git checkout.
"""

import concurrent.futures
import shutil
import subprocess
import sys

from sources import REPO, cxx_files

BATCH = 16


def check(batch):
    r = subprocess.run(["clang-format", "--dry-run", "--Werror"] + batch, cwd=REPO,
                       capture_output=True, text=True)
    return r.returncode, r.stderr


def main():
    if not shutil.which("clang-format"):
        print("format_check: clang-format not found (apt-get install clang-format)")
        return 77
    try:
        files = cxx_files()
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"format_check: cannot list the sources ({e})")
        return 77
    batches = [files[i:i + BATCH] for i in range(0, len(files), BATCH)]
    bad = set()
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        for rc, err in pool.map(check, batches):
            if rc != 0:
                sys.stdout.write(err)
                named = {line.split(":", 1)[0] for line in err.splitlines()
                         if ": error: " in line}
                bad |= named or {"(clang-format failed)"}
    if bad:
        print(f"format_check: {len(bad)} of {len(files)} files differ from clang-format's "
              "output; fix with: clang-format -i " + " ".join(sorted(bad)))
        return 1
    print(f"format_check: {len(files)} files as clang-format writes them")
    return 0

if __name__ == "__main__":
    sys.exit(main())
