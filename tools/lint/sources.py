"""sources: the C++ files of the checkout that the lint checks read.

Tracked files plus new ones not yet added (git ls-files --cached --others --exclude-standard),
so a file is checked before its first commit; deleted ones are left out. Nothing in the tree is
generated (the build writes only under build dirs, which .gitignore keeps out); GENERATED lists
any path to skip should that change.
"""

import os
import subprocess

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GENERATED = set()


def cxx_files(*suffixes):
    """Repository-relative paths of the existing .cc/.hh (or `suffixes`) files, sorted."""
    patterns = ["*" + s for s in (suffixes or (".cc", ".hh"))]
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z", "--"] + patterns,
        cwd=REPO, check=True, capture_output=True).stdout.decode()
    paths = {p for p in out.split("\0") if p}
    return sorted(p for p in paths
                  if p not in GENERATED and os.path.isfile(os.path.join(REPO, p)))
