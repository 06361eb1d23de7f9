#!/usr/bin/env python3
"""header_check: every header compiles on its own, and twice in a row (#pragma once).

For each tracked .hh (tools/lint/sources.py) a translation unit holding only
`#include "that/header.hh"` twice is compiled with -fsyntax-only by the build's compiler, with
the include directories, defines and language standard of compile_commands.json (their union:
a header may use any of the project's dependencies). A header that leans on what its includer
happened to include first fails here. Two compilers run at a time.

Exit status: 0 clean, 1 a header does not compile alone, 77 no compile_commands.json.
"""

import argparse
import concurrent.futures
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time

from sources import REPO, cxx_files

# Flags that say what the code means (kept); everything else (outputs, dependency files,
# warnings, optimisation, sanitizers) is dropped.
KEEP_WITH_ARG = {"-I", "-isystem", "-D", "-include", "-iquote"}
KEEP_PREFIX = ("-I", "-isystem", "-D", "-std=", "-iquote", "-fcoroutines", "-pthread")


def project_flags(build_dir):
    with open(os.path.join(build_dir, "compile_commands.json")) as f:
        entries = json.load(f)
    compiler = None
    flags = []
    seen = set()
    for e in entries:
        args = e.get("arguments") or shlex.split(e["command"])
        directory = e.get("directory", build_dir)
        if not e["file"].endswith(".cc") or "/fuzz/" in e["file"]:
            continue
        compiler = compiler or args[0]
        i = 1
        while i < len(args):
            a = args[i]
            pair = None
            if a in KEEP_WITH_ARG and i + 1 < len(args):
                pair = (a, args[i + 1])
                i += 2
            elif a.startswith(KEEP_PREFIX):
                pair = (a,)
                i += 1
            else:
                i += 1
                continue
            # Relative include directories are relative to the entry's directory.
            if pair[0] in ("-I", "-isystem", "-iquote") and len(pair) == 2:
                pair = (pair[0], os.path.normpath(os.path.join(directory, pair[1])))
            elif len(pair) == 1 and pair[0].startswith(("-I", "-iquote")) and len(pair[0]) > 2:
                p = pair[0]
                flag = "-iquote" if p.startswith("-iquote") else "-I"
                path = p[len(flag):]
                pair = (flag, os.path.normpath(os.path.join(directory, path)))
            # Only the repository root (absolute includes) and the dependencies' directories:
            # meson's per-target directories (-Icore, -Itests/fs, ...) would let a header's
            # relative include pass here that fails from another directory. /usr/include is
            # searched anyway, and naming it breaks libstdc++'s #include_next.
            if pair[0] in ("-I", "-isystem", "-iquote") and len(pair) == 2:
                d = pair[1]
                inside = d == REPO or d.startswith(REPO + os.sep)
                if d == "/usr/include" or (inside and d not in (REPO, os.path.abspath(build_dir))):
                    continue
            if pair not in seen:
                seen.add(pair)
                flags.extend(pair)
    return compiler or "c++", flags


def check(compiler, flags, header, cwd):
    # Run from an empty directory, so the header is found through -I like its includers find
    # it (one path for #pragma once to recognise).
    tu = f'#include "{header}"\n#include "{header}"\n'
    r = subprocess.run([compiler] + flags + ["-I", REPO, "-fsyntax-only", "-x", "c++", "-"],
                       input=tu, capture_output=True, text=True, cwd=cwd)
    return header, r.returncode, r.stderr


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build-dir", default=os.path.join(REPO, "build"))
    ap.add_argument("--compiler", help="instead of the build's (clang++ parses faster)")
    ap.add_argument("headers", nargs="*", help="check these (default: every .hh)")
    a = ap.parse_args()
    if not os.path.exists(os.path.join(a.build_dir, "compile_commands.json")):
        print(f"header_check: no compile_commands.json in {a.build_dir}")
        return 77
    compiler, flags = project_flags(a.build_dir)
    compiler = a.compiler or compiler
    headers = a.headers or cxx_files(".hh")
    started = time.monotonic()
    bad = []
    with tempfile.TemporaryDirectory() as empty, \
            concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        for header, rc, err in pool.map(lambda h: check(compiler, flags, h, empty), headers):
            if rc != 0:
                bad.append(header)
                print(f"---- {header} does not compile on its own:")
                sys.stdout.write("\n".join(err.splitlines()[:20]) + "\n")
    secs = time.monotonic() - started
    if bad:
        print(f"header_check: {len(bad)} of {len(headers)} headers are not self-contained "
              f"({secs:.0f} s): " + " ".join(bad))
        return 1
    print(f"header_check: {len(headers)} headers compile on their own ({secs:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
