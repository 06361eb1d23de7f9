#!/usr/bin/env python3
"""FUSE over io_uring against /dev/fuse reads: cold stats and cold small-file reads.

One synthetic bucket of N small files in one directory, mounted twice at once: with --fuse-uring
(the fuse module's enable_uring set for the run) and without. Each pass drops the kernel's
caches (dentries, inodes, pages: every stat is a LOOKUP, every read a READ served from the
daemon's memory) and times, on each mount in turn, a stat of every file and then a read of
every file; the order of the two mounts alternates between passes. Figures are medians over
the passes, with the ratio of the medians. After a warming pass, no request reaches OSS: what
is measured is the kernel-daemon round trip.

A benchmark, not a test (docs/benchmarks.md "FUSE over io_uring"). Needs root, /dev/fuse and a
kernel with /sys/module/fuse/parameters/enable_uring (Linux 6.14+).
Usage: tools/bench/fuse_uring.py [--build DIR] [--files N] [--size BYTES] [--passes N]
"""
import argparse
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENABLE_URING = "/sys/module/fuse/parameters/enable_uring"


def drop_caches():
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3")


def stat_all(paths):
    start = time.perf_counter()
    for p in paths:
        os.stat(p)
    return time.perf_counter() - start


def read_all(paths, size):
    start = time.perf_counter()
    for p in paths:
        fd = os.open(p, os.O_RDONLY)
        n = len(os.read(fd, size + 1))
        os.close(fd)
        if n != size:
            raise RuntimeError(f"read {n} bytes of {p}, wanted {size}")
    return time.perf_counter() - start


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.environ.get("OSSURING_BUILD",
                                                      os.path.join(ROOT, "build")))
    ap.add_argument("--files", type=int, default=5000)
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--passes", type=int, default=5)
    ap.add_argument("--mount-args", default="", help="more options for both mounts, e.g. --cpus 0")
    args = ap.parse_args()
    os.environ["OSSURING_BUILD"] = os.path.abspath(args.build)
    sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
    import harness  # noqa: E402 - reads OSSURING_BUILD at import
    harness.require_mount_privileges()
    if not os.path.exists(ENABLE_URING):
        print("this kernel has no FUSE over io_uring")
        return 77
    with open(ENABLE_URING) as f:
        before = f.read().strip()
    with open(ENABLE_URING, "w") as f:
        f.write("Y")
    try:
        spec = f"flat:{args.files}:{args.size}"
        with harness.Emulator({"bench": spec}) as emu, \
                harness.Mount(emu, "bench", args=["--fuse-uring"] + args.mount_args.split()) as ring, \
                harness.Mount(emu, "bench", args=args.mount_args.split()) as plain:
            mounts = {"io_uring": ring, "/dev/fuse": plain}
            names = sorted(os.listdir(plain.dir))
            paths = {k: [m.path(n) for n in names] for k, m in mounts.items()}
            for k in mounts:
                read_all(paths[k], args.size)  # every object fetched once
            times = {(k, what): [] for k in mounts for what in ("stat", "read")}
            order = list(mounts)
            for _ in range(args.passes):
                for k in order:
                    drop_caches()
                    times[(k, "stat")].append(stat_all(paths[k]))
                    drop_caches()
                    times[(k, "read")].append(read_all(paths[k], args.size))
                order.reverse()
            ring_requests = ring.stats()["fuse"]["uring_requests"]
        print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs, "
              f"load average {os.getloadavg()[0]:.2f}; {args.files} files of {args.size} B, "
              f"{args.passes} passes; requests through the ring: {ring_requests}")
        print("| cold pass over every file | /dev/fuse µs/file | io_uring µs/file | "
              "/dev/fuse ÷ io_uring |")
        print("|---|---|---|---|")
        for what, label in (("stat", "stat"), ("read", "open + read + close")):
            a = statistics.median(times[("/dev/fuse", what)]) / args.files * 1e6
            b = statistics.median(times[("io_uring", what)]) / args.files * 1e6
            print(f"| {label} | {a:.1f} | {b:.1f} | {a / b:.2f} |")
    finally:
        with open(ENABLE_URING, "w") as f:
            f.write(before)
    return 0


if __name__ == "__main__":
    sys.exit(main())
