#!/usr/bin/env python3
"""The blob cache at dataset scale (docs/benchmarks.md, "Blob cache at scale").

1. The store alone (build/tools/bench/blob_bench): 1,000,000 blobs of 1 KiB in memory, then
   100,000 in a cache folder: stores/s, finds/s, bookkeeping and resident bytes per blob,
   descriptors, and the cost of a passthrough memfd made at open.
2. The issue-21 case through a real mount: 20,000 files of 16,000 bytes (305 MiB) with the
   default budget, `ossuring warmup` twice: GetObject per run, cache figures, the daemon's
   descriptors and resident memory, and the warmup times.

Run as root from the repository (needs /dev/fuse and a built `build/`):
    python3 tools/bench/blob_cache.py [--files 20000] [--size 16000] [--skip-store]
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import harness  # noqa: E402

BUILD = os.environ.get("OSSURING_BUILD", os.path.join(ROOT, "build"))


def store_alone():
    bench = os.path.join(BUILD, "tools", "bench", "blob_bench")
    print("## the store alone")
    print(subprocess.run([bench, "--count", "1000000", "--size", "1024"], check=True,
                         capture_output=True, text=True).stdout, end="")
    with tempfile.TemporaryDirectory(prefix="ossuring-blobbench-") as d:
        print(subprocess.run([bench, "--count", "100000", "--size", "1024", "--dir",
                              os.path.join(d, "blobs")], check=True, capture_output=True,
                             text=True).stdout, end="")


def daemon(m):
    out = subprocess.run(["pgrep", "-f", f"ossuring mount .* {m.dir}"], capture_output=True,
                         text=True).stdout.split()
    return int(out[0])


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0


def through_a_mount(files, size, args):
    print(f"## {files} files of {size} B, ossuring warmup twice, args {args or '(defaults)'}")
    with harness.Emulator({"data": f"flat:{files}:{size}"}) as emu, \
            harness.Mount(emu, "data", args=args) as m:
        pid = daemon(m)
        for run in (1, 2):
            emu.reset()
            t = time.time()
            w = subprocess.run([harness.OSSURING, "warmup", m.dir], capture_output=True,
                               text=True, timeout=1800)
            secs = time.time() - t
            st = m.stats()["cache"]
            print(f"warmup {run}: {secs:.1f} s, GetObject {emu.requests('GetObject')}, "
                  f"cache blobs {st['blobs']} bytes {st['bytes']} evictions {st['evictions']}, "
                  f"daemon fds {len(os.listdir(f'/proc/{pid}/fd'))}, RSS {rss_mib(pid):.0f} MiB")
            print("  " + w.stdout.strip().splitlines()[-1])
            if w.stderr.strip():
                print("  stderr: " + w.stderr.strip())


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--files", type=int, default=20000)
    p.add_argument("--size", type=int, default=16000)
    p.add_argument("--skip-store", action="store_true")
    a = p.parse_args()
    if not a.skip_store:
        store_alone()
    through_a_mount(a.files, a.size, [])
    with tempfile.TemporaryDirectory(prefix="ossuring-blobcache-") as d:
        through_a_mount(a.files, a.size, ["--cache-dir", d])


if __name__ == "__main__":
    main()
