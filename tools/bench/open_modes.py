#!/usr/bin/env python3
"""Warm open + read + close of small files through the mount, per open mode, next to local disk.

10,000 files of 16 KiB in one directory of a synthetic bucket, mounted three times at once (one
mount per --open-mode: passthrough, noopen, read; each with its own --cache-dir so passthrough
has backing files), and the same bytes written to a folder on local disk. After one warming pass
(every object fetched, every dentry cached), timed passes alternate between the four trees, so
load on the machine spreads over all of them; each figure is the median over the passes. Also
reports what the daemons did (passthrough opens, daemon READs) from `ossuring stats --json`.

A benchmark, not a test (docs/benchmarks.md "Open modes"). Needs root and /dev/fuse.
Usage: tools/bench/open_modes.py [--build DIR] [--files N] [--size BYTES] [--passes N]
"""
import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODES = ["passthrough", "noopen", "read"]


def one_pass(paths, size):
    """Seconds to open, read `size` bytes and close each path once."""
    o, r, c = os.open, os.read, os.close
    flags = os.O_RDONLY
    start = time.perf_counter()
    for p in paths:
        fd = o(p, flags)
        data = r(fd, size)
        c(fd)
    elapsed = time.perf_counter() - start
    if len(data) != size:
        raise RuntimeError(f"read {len(data)} bytes of {p}, wanted {size}")
    return elapsed


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.environ.get("OSSURING_BUILD",
                                                      os.path.join(ROOT, "build")))
    ap.add_argument("--files", type=int, default=10000)
    ap.add_argument("--size", type=int, default=16384)
    ap.add_argument("--passes", type=int, default=7)
    ap.add_argument("--local-dir", default="/var/tmp",
                    help="where the local-disk copy goes (a disk file system, not tmpfs)")
    args = ap.parse_args()
    os.environ["OSSURING_BUILD"] = os.path.abspath(args.build)
    sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
    import harness  # noqa: E402 - reads OSSURING_BUILD at import
    harness.require_mount_privileges()

    spec = f"flat:{args.files}:{args.size}"
    width = len(str(args.files - 1))
    names = [f"file-{i:0{width}d}.bin" for i in range(args.files)]
    local = tempfile.mkdtemp(prefix="open-modes-local-", dir=args.local_dir)
    caches = {m: tempfile.mkdtemp(prefix=f"open-modes-cache-{m}-", dir=args.local_dir)
              for m in MODES}
    try:
        for n in names:
            with open(os.path.join(local, n), "wb") as f:
                f.write(harness.synthetic_content(n, args.size))
        with harness.Emulator({"small": spec}) as emu:
            mounts = {}
            try:
                for m in MODES:
                    mounts[m] = harness.Mount(emu, "small", args=[
                        "--open-mode", m, "--cache-dir", caches[m]]).__enter__()
                trees = {"local disk": [os.path.join(local, n) for n in names]}
                trees.update({f"mount, {m}": [mounts[m].path(n) for n in names] for m in MODES})
                # Warming pass: objects fetched into the blob caches, dentries and pages cached;
                # checks the bytes once.
                for label, paths in trees.items():
                    for n, p in zip(names[:50], paths[:50]):
                        with open(p, "rb") as f:
                            assert f.read() == harness.synthetic_content(n, args.size), (label, p)
                    one_pass(paths, args.size)
                gets_after_warmup = emu.requests("GetObject")
                before = {m: mounts[m].stats()["fuse"] for m in MODES}
                times = {label: [] for label in trees}
                for _ in range(args.passes):
                    for label, paths in trees.items():
                        times[label].append(one_pass(paths, args.size))
                after = {m: mounts[m].stats() for m in MODES}
                extra_gets = emu.requests("GetObject") - gets_after_warmup
            finally:
                for m in reversed(list(mounts)):
                    mounts[m].__exit__(None, None, None)
    finally:
        shutil.rmtree(local)
        for d in caches.values():
            shutil.rmtree(d, ignore_errors=True)

    per_pass_opens = args.passes * args.files
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs, load "
          f"average {os.getloadavg()[0]:.2f}; {args.files} files of {args.size} bytes, "
          f"median of {args.passes} warm passes; GETs during timed passes: {extra_gets}")
    local_us = statistics.median(times["local disk"]) / args.files * 1e6
    print("| tree | open+read+close µs (median) | min–max µs | ratio to local disk | "
          "FUSE requests per file | OPENs | passthrough opens | daemon READs |")
    print("|---|---|---|---|---|---|---|---|")
    for label, t in times.items():
        us = [x / args.files * 1e6 for x in t]
        med = statistics.median(us)
        extra = "| - | - | - | - |"
        if label.startswith("mount, "):
            m = label.split(", ")[1]
            f0, f1 = before[m], after[m]["fuse"]
            d = {k: f1[k] - f0[k] for k in ("requests", "opens", "passthrough_opens",
                                            "daemon_reads")}
            extra = (f"| {d['requests'] / per_pass_opens:.2f} | {d['opens']} | "
                     f"{d['passthrough_opens']} | {d['daemon_reads']} |")
            if m == "passthrough" and not after[m]["mount"]["passthrough_granted"]:
                extra += " (passthrough not granted by the kernel)"
        print(f"| {label} | {med:.1f} | {min(us):.1f}–{max(us):.1f} | {med / local_us:.1f} "
              f"{extra}")
    fastest = min(MODES, key=lambda m: statistics.median(times[f"mount, {m}"]))
    print(f"fastest open mode: {fastest}")


if __name__ == "__main__":
    main()
