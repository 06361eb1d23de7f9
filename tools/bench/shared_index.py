#!/usr/bin/env python3
"""Cluster start on one machine: N daemons mounting one bucket, with and without --shared-index
(docs/benchmarks.md "Shared index image").

Against one emulator (`imagenet:D:F` under train/, --latency MS on every request, 20 ms by
default: a real region's page time), each round starts N `ossuring mount` daemons at once and
reports the time until every mount is ready and the LIST/GET/HEAD/PUT requests of the group:
  plain   no image: every mount lists the bucket;
  cold    --shared-index, no image yet: one mount lists and publishes, the others wait for it;
  warm    --shared-index, image present: every mount reads it (ranged GETs);
  refresh (--refresh-window S > 0) the warm group kept S seconds with --refresh R and
          --shared-index-interval I after a key was added: requests of the group in that window,
          against plain mounts with the same --refresh.
Medians over --runs rounds; every mount's file count is checked against the bucket's.

A benchmark, not a test. Needs root and /dev/fuse; run under the test lock.
Usage: tools/bench/shared_index.py [--mounts 8] [--keys 200000] [--latency 20] [--runs 3]
                                   [--refresh-window 0] [--refresh 2] [--interval 8]
"""
import argparse
import os
import statistics
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import harness  # noqa: E402
import test_shared_index as group  # noqa: E402 - the integration test's group start

PREFIX = group.PREFIX
IMAGE = group.IMAGE
BASE = group.BASE  # no prefetch; keys also for the --anonymous emulator written to by HTTP
APIS = ("ListObjectsV2", "GetObject", "HeadObject", "PutObject")


def count_files(root):
    return sum(len(names) for _, _, names in os.walk(root))


def start_group(emu, n, args):
    """Starts n daemons at once; returns (mounts, seconds until the last one is ready)."""
    t0 = time.perf_counter()
    mounts = group.start_group(emu, n, args)
    return mounts, time.perf_counter() - t0


def delete(emu, key):
    req = urllib.request.Request(f"{emu.endpoint}/data/{key}", method="DELETE")
    urllib.request.urlopen(req, timeout=30).close()


def drop_image(emu):
    """No image and no lease: the next group starts cold."""
    delete(emu, IMAGE)
    epoch = int(time.time()) // 3600
    for e in (epoch - 1, epoch, epoch + 1):
        delete(emu, f"{IMAGE}.lease.{e}")


def round_of(emu, kind, n, keys, extra=()):
    args = BASE + (["--shared-index", IMAGE] if kind != "plain" else [])
    args += list(extra)
    if kind == "cold":
        drop_image(emu)
    emu.reset()
    mounts, secs = start_group(emu, n, args)
    try:
        req = emu.requests()
        counts = {m.dir: count_files(m.dir) for m in mounts}
        bad = [c for c in counts.values() if c != keys]
        if bad:
            raise RuntimeError(f"{kind}: mounts serve {sorted(set(bad))} files, not {keys}")
        return {"seconds": secs, **{a: req.get(a, 0) for a in APIS}}
    finally:
        group.unmount_all(mounts)


def refresh_round(emu, kind, n, window, refresh, interval):
    """Requests of a ready group over `window` seconds of --refresh; one key added at the start."""
    args = BASE + ["--refresh", str(refresh)]
    if kind != "plain":
        args += ["--shared-index", IMAGE, "--shared-index-interval", str(interval)]
    mounts, _ = start_group(emu, n, args)
    try:
        emu.reset()
        key = f"{PREFIX}late/added-{time.time_ns()}.bin"
        req = urllib.request.Request(f"{emu.endpoint}/data/{key}", data=b"x", method="PUT")
        urllib.request.urlopen(req, timeout=30).close()
        t0 = time.perf_counter()
        seen = None
        rel = key[len(PREFIX):]
        while time.perf_counter() - t0 < window:
            if seen is None and all(os.path.exists(m.path(rel)) for m in mounts):
                seen = time.perf_counter() - t0
            time.sleep(0.1)
        req = emu.requests()
        delete(emu, key)
        return {"seconds_all_see_new_key": seen, **{a: req.get(a, 0) for a in APIS}}
    finally:
        group.unmount_all(mounts)


def median_row(rows):
    out = {}
    for k in rows[0]:
        vals = [r[k] for r in rows if r[k] is not None]
        out[k] = statistics.median(vals) if vals else None
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mounts", type=int, default=8)
    ap.add_argument("--keys", type=int, default=200000, help="a multiple of 1000")
    ap.add_argument("--latency", type=int, default=20, help="ms added to every request")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--refresh-window", type=float, default=0)
    ap.add_argument("--refresh", type=int, default=2)
    ap.add_argument("--interval", type=int, default=8)
    a = ap.parse_args()
    harness.require_mount_privileges()
    spec = f"imagenet:{a.keys // 1000}:1000:1024"
    print(f"# {a.mounts} mounts of {a.keys} keys ({spec}), {a.latency} ms per request, "
          f"median of {a.runs}")
    with harness.Emulator({"data": spec}, anonymous=True,
                          extra_args=["--latency", str(a.latency)]) as emu:
        results = {}
        for kind in ("plain", "cold", "warm"):
            rows = [round_of(emu, kind, a.mounts, a.keys) for _ in range(a.runs)]
            results[kind] = median_row(rows)
            r = results[kind]
            print(f"{kind:6} ready {r['seconds']:7.2f} s  " +
                  "  ".join(f"{api} {r[api]:g}" for api in APIS), flush=True)
        if a.refresh_window > 0:
            for kind in ("plain", "shared"):
                r = refresh_round(emu, kind, a.mounts, a.refresh_window, a.refresh, a.interval)
                seen = r["seconds_all_see_new_key"]
                print(f"refresh {kind:6} {a.refresh_window:g} s window (--refresh {a.refresh}, "
                      f"interval {a.interval}): all see the new key after "
                      f"{'never' if seen is None else f'{seen:.1f} s'}  " +
                      "  ".join(f"{api} {r[api]:g}" for api in APIS), flush=True)
        head = urllib.request.Request(f"{emu.endpoint}/data/{IMAGE}", method="HEAD")
        with urllib.request.urlopen(head, timeout=30) as r:
            size = int(r.headers["Content-Length"])
        print(f"image {size} bytes, {size / a.keys:.1f} bytes per key")
        plain, warm = results["plain"], results["warm"]
        if warm["seconds"] > 0:
            print(f"ready-time ratio plain/warm {plain['seconds'] / warm['seconds']:.1f}x; "
                  f"LIST plain {plain['ListObjectsV2']:g} vs cold "
                  f"{results['cold']['ListObjectsV2']:g} vs warm {warm['ListObjectsV2']:g}")


if __name__ == "__main__":
    main()
