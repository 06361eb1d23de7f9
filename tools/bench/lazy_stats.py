#!/usr/bin/env python3
"""Lazy-mode cold stats and index-build listing counts, in requests and bytes.

Lazy stats: a folder bucket of N empty-ish files named `file-1` .. `file-N` (unpadded, so a
name is a prefix of many others: `file-1` of `file-10` .. `file-19`, `file-100` ..) and N/100
directories `dir-I/` holding one file, served by the emulator with --latency MS. A fresh
`--mode lazy` mount stats every file and directory once (each a FUSE LOOKUP that asks OSS).
Reported from `ossuring stats --json`: requests per API, response bytes, seconds. The probe of
the previous version (one LIST of the name as prefix, delimiter '/', max-keys 1000) is replayed
over plain HTTP against the same emulator for the same names, so its bytes compare directly.

Listing counts: `--mode index` mounts of `flat:N` buckets; the LISTs the build sent and its
seconds (the mount's `index_built` log line and the stats document).

A benchmark, not a test (docs/benchmarks.md "Lazy stats and listing counts"). Needs root and
/dev/fuse. Usage: tools/bench/lazy_stats.py [--build DIR] [--files N] [--latency MS]
[--list-sizes 10000,100000]
"""
import argparse
import os
import shutil
import sys
import tempfile
import time
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def api(stats, name, field):
    return stats.get("oss", {}).get(name, {}).get(field, 0)


def summary(stats):
    per = {k: v.get("requests", 0) for k, v in stats.get("oss", {}).items()
           if isinstance(v, dict) and v.get("requests", 0)}
    received = sum(v.get("bytes_received", 0) for v in stats.get("oss", {}).values()
                   if isinstance(v, dict))
    return per, received


def old_probe_bytes(endpoint, bucket, names, max_keys):
    """Response bytes of one delimiter LIST per name with `max_keys`, over plain HTTP."""
    total = 0
    for n in names:
        q = urllib.parse.urlencode({"list-type": "2", "prefix": n, "delimiter": "/",
                                    "max-keys": str(max_keys)})
        with urllib.request.urlopen(f"{endpoint}/{bucket}/?{q}", timeout=30) as r:
            total += len(r.read())
    return total


def lazy_run(harness, args):
    folder = tempfile.mkdtemp(prefix="lazy-stats-", dir="/var/tmp")
    files = [f"file-{i}" for i in range(1, args.files + 1)]
    dirs = [f"dir-{i}" for i in range(1, args.files // 100 + 1)]
    try:
        for n in files:
            with open(os.path.join(folder, n), "wb") as f:
                f.write(b"x" * 16)
        for d in dirs:
            os.mkdir(os.path.join(folder, d))
            with open(os.path.join(folder, d, "x"), "wb") as f:
                f.write(b"x")
        names = files + dirs
        extra = ["--latency", f"{args.latency:g}"] if args.latency else []
        with harness.Emulator({"lazy": folder}, extra_args=extra + ["--anonymous"]) as emu:
            with harness.Mount(emu, "lazy", args=["--mode", "lazy"]) as m:
                base, _ = summary(m.stats())
                base_bytes = summary(m.stats())[1]
                t0 = time.perf_counter()
                for n in names:
                    os.stat(m.path(n))
                secs = time.perf_counter() - t0
                per, received = summary(m.stats())
            per = {k: v - base.get(k, 0) for k, v in per.items() if v - base.get(k, 0)}
            received -= base_bytes
            old = old_probe_bytes(emu.endpoint, "lazy", names, 1000)
            new3 = old_probe_bytes(emu.endpoint, "lazy", names, 3)
        print(f"lazy: {len(files)} files + {len(dirs)} dirs, latency {args.latency} ms")
        print(f"  now: {secs:.2f} s, requests {per}, {received:,} response bytes "
              f"({received / len(names):.0f} per stat)")
        print(f"  previous probe (LIST max-keys 1000) replayed: {old:,} bytes "
              f"({old / len(names):.0f} per stat); max-keys 3 replayed: {new3:,} bytes")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def list_run(harness, args):
    for n in [int(x) for x in args.list_sizes.split(",") if x]:
        extra = ["--latency", f"{args.latency:g}"] if args.latency else []
        with harness.Emulator({"flat": f"flat:{n}"},
                              extra_args=extra + ["--anonymous"]) as emu:
            t0 = time.perf_counter()
            with harness.Mount(emu, "flat", args=["--mode", "index"]) as m:
                secs = time.perf_counter() - t0
                lists = api(m.stats(), "ListObjectsV2", "requests")
                line = [x for x in m.log_text().splitlines() if "index_built" in x]
        print(f"index build of flat:{n}: {lists} LISTs (ceil(N/1000) + 2 = {-(-n // 1000) + 2}),"
              f" mount {secs:.2f} s; {line[-1].split('event=')[-1] if line else ''}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.environ.get("OSSURING_BUILD",
                                                      os.path.join(ROOT, "build")))
    ap.add_argument("--files", type=int, default=10000)
    ap.add_argument("--latency", type=float, default=2)
    ap.add_argument("--list-sizes", default="10000,100000")
    ap.add_argument("--skip-lazy", action="store_true")
    args = ap.parse_args()
    os.environ["OSSURING_BUILD"] = os.path.abspath(args.build)
    sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
    import harness  # noqa: E402 - reads OSSURING_BUILD at import
    harness.require_mount_privileges()
    if not args.skip_lazy:
        lazy_run(harness, args)
    list_run(harness, args)


if __name__ == "__main__":
    main()
