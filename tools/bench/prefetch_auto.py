#!/usr/bin/env python3
"""The default prefetch (`--prefetch auto`) against `off`: what it gains on walks, what it wastes
on shuffled reads.

One emulator bucket `imagenet:1:N` (N files of ~110 KB in one directory) with --latency MS per
request. For each policy, fresh index-mode mounts (the blob cache in memory, defaults
otherwise) and three workloads, each read by 4 threads taking the next file from a shared list:

- walk: every file in listing order, cold;
- shuffled half: a random half of the files, in random order, cold (a prefetched file may never
  be read: this is where prefetch could waste GETs);
- epochs: the same random order twice on one mount whose cache holds a fifth of the files
  (`--memory-limit`), the page cache dropped in between, so the second epoch reads from OSS
  again.

Reported: seconds, and GetObject requests from `ossuring stats --json` against the files read
(extra GETs = GETs - files). Policies alternate between passes; medians over the passes.

A benchmark, not a test (docs/benchmarks.md "Prefetch by default"). Needs root and /dev/fuse.
Usage: tools/bench/prefetch_auto.py [--build DIR] [--files N] [--latency MS] [--passes N]
"""
import argparse
import os
import random
import statistics
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
READERS = 4


def read_all(paths):
    """Seconds for READERS threads to read every path once, each taking the next one."""
    lock = threading.Lock()
    it = iter(paths)

    def run():
        while True:
            with lock:
                p = next(it, None)
            if p is None:
                return
            with open(p, "rb") as f:
                while f.read(1 << 20):
                    pass

    threads = [threading.Thread(target=run) for _ in range(READERS)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - t0


def drop_page_cache():
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def gets(m):
    return m.stats().get("oss", {}).get("GetObject", {}).get("requests", 0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.environ.get("OSSURING_BUILD",
                                                      os.path.join(ROOT, "build")))
    ap.add_argument("--files", type=int, default=1300)
    ap.add_argument("--latency", type=float, default=2)
    ap.add_argument("--passes", type=int, default=3)
    args = ap.parse_args()
    os.environ["OSSURING_BUILD"] = os.path.abspath(args.build)
    sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
    import harness  # noqa: E402 - reads OSSURING_BUILD at import
    harness.require_mount_privileges()

    results = {}  # (policy, workload) -> [(seconds, gets, files)]
    extra = ["--latency", f"{args.latency:g}"] if args.latency else []
    with harness.Emulator({"img": f"imagenet:1:{args.files}"},
                          extra_args=extra + ["--anonymous"]) as emu:
        for p in range(args.passes):
            policies = ["auto", "off"] if p % 2 == 0 else ["off", "auto"]
            rng = random.Random(p)
            for policy in policies:
                base = ["--mode", "index", "--prefetch", policy]
                with harness.Mount(emu, "img", args=base) as m:
                    rel = "train/" + os.listdir(m.path("train"))[0]  # the one class directory
                    names = os.listdir(m.path(rel))  # listing order
                    g0 = gets(m)
                    s = read_all([m.path(rel, n) for n in names])
                    results.setdefault((policy, "walk"), []).append((s, gets(m) - g0, len(names)))
                with harness.Mount(emu, "img", args=base) as m:
                    half = [m.path(rel, n) for n in rng.sample(names, len(names) // 2)]
                    g0 = gets(m)
                    s = read_all(half)
                    results.setdefault((policy, "shuffled half"), []).append(
                        (s, gets(m) - g0, len(half)))
                # A fifth of the files' bytes (~110 KB each): blobs take 3/4 of --memory-limit.
                limit = args.files // 5 * 110_000 * 4 // 3
                with harness.Mount(emu, "img", args=base + ["--memory-limit", str(limit)]) as m:
                    order = [m.path(rel, n) for n in names]
                    rng.shuffle(order)
                    read_all(order)
                    drop_page_cache()  # else the kernel serves epoch 2 without asking
                    g0 = gets(m)
                    s = read_all(order)
                    results.setdefault((policy, "epoch 2, same order"), []).append(
                        (s, gets(m) - g0, len(order)))
    print(f"imagenet:1:{args.files}, latency {args.latency:g} ms, {READERS} readers, "
          f"{args.passes} passes (medians)")
    print("| workload | --prefetch | seconds | GetObject | files read | extra GETs |")
    print("|---|---|---|---|---|---|")
    for (policy, workload), runs in sorted(results.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        s = statistics.median(r[0] for r in runs)
        g = statistics.median(r[1] for r in runs)
        n = runs[0][2]
        print(f"| {workload} | {policy} | {s:.2f} | {g:.0f} | {n} | {100 * (g - n) / n:+.1f}% |")


if __name__ == "__main__":
    main()
