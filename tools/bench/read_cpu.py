#!/usr/bin/env python3
"""Daemon CPU per GiB served by warm READs: one channel, cloned channels (--cpus), FUSE over io_uring.

One synthetic object (default 512 MiB) is fetched once into the daemon's blob cache (a
--small-file-threshold above its size makes it one whole-object GET); then each pass reads the
file with dd, so every byte is a READ the daemon answers from memory and no request reaches
OSS. Two ways of reading (--reads picks):
  cached   the page cache dropped before each pass, `dd bs=1M`: READs as the kernel's
           read-ahead sizes them (small: per-request costs weigh most)
  direct   `dd bs=1M iflag=direct`: one 1 MiB READ per block (copies weigh most)
The figure is the daemon's utime + stime (/proc/PID/stat, all threads) over the pass, per GiB
read, median over the passes: what the daemon spends copying and replying, the cost
docs/architecture.md counts in copies per READ.

Configurations (each its own mount, one after the other; --configs picks some):
  plain     one reactor, /dev/fuse reads and writes
  clones    --cpus 0,1: a clone channel per reactor relaying to the home reactor
  uring     --fuse-uring (the fuse module's enable_uring set for the run; skipped when absent)

A benchmark, not a test. Needs root and /dev/fuse.
Usage: tools/bench/read_cpu.py [--build DIR] [--size BYTES] [--passes N]
                              [--configs plain,clones,uring] [--reads cached,direct]
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools", "bench"))
ENABLE_URING = "/sys/module/fuse/parameters/enable_uring"
CONFIGS = {"plain": [], "clones": ["--cpus", "0,1"], "uring": ["--fuse-uring"]}
KEY = "big.bin"


def drop_page_cache():
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("1")


def dd(path, direct=False):
    cmd = ["dd", f"if={path}", "of=/dev/null", "bs=1M"] + (["iflag=direct"] if direct else [])
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"dd {path}: {out.stderr}")


def measure(harness, benchlib, emu, name, mount_args, size, passes, reads):
    args = ["--open-mode", "read", "--small-file-threshold", str(2 * size), "--memory-limit",
            str(4 * size)] + mount_args
    rows = []
    with harness.Mount(emu, "bench", args=args) as m:
        path = m.path(KEY)
        pid = benchlib.find_daemon(m.dir, ["ossuring"])
        if pid is None:
            raise RuntimeError("daemon not found")
        dd(path)  # the object is fetched once, into the blob cache
        for how in reads:
            direct = how == "direct"
            per_gib, seconds = [], []
            before_reads = m.stats()["fuse"]["daemon_reads"]
            for _ in range(passes):
                if not direct:
                    drop_page_cache()
                before = benchlib.proc_cpu_seconds(pid)
                start = time.perf_counter()
                dd(path, direct)
                seconds.append(time.perf_counter() - start)
                per_gib.append((benchlib.proc_cpu_seconds(pid) - before) / (size / 2**30))
            fuse = m.stats()["fuse"]
            reads_done = fuse["daemon_reads"] - before_reads
            rows.append({"name": name, "how": how, "cpu_per_gib": statistics.median(per_gib),
                         "min": min(per_gib), "max": max(per_gib),
                         "gib_per_s": size / 2**30 / statistics.median(seconds),
                         "read_kib": passes * size / max(reads_done, 1) / 1024,
                         "uring": fuse.get("uring_requests", 0)})
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.environ.get("OSSURING_BUILD",
                                                      os.path.join(ROOT, "build")))
    ap.add_argument("--size", type=int, default=512 << 20)
    ap.add_argument("--passes", type=int, default=7)
    ap.add_argument("--configs", default="plain,clones,uring")
    ap.add_argument("--reads", default="cached,direct")
    args = ap.parse_args()
    os.environ["OSSURING_BUILD"] = os.path.abspath(args.build)
    sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
    import harness  # noqa: E402 - reads OSSURING_BUILD at import
    import benchlib  # noqa: E402
    harness.require_mount_privileges()
    results = []
    uring_before = None
    if os.path.exists(ENABLE_URING):
        with open(ENABLE_URING) as f:
            uring_before = f.read().strip()
    try:
        with harness.Emulator({"bench": f"big:{args.size}:{KEY}"}) as emu:
            for name in args.configs.split(","):
                if name == "uring":
                    if uring_before is None:
                        print("# uring: this kernel has no FUSE over io_uring", file=sys.stderr)
                        continue
                    with open(ENABLE_URING, "w") as f:
                        f.write("Y")
                results += measure(harness, benchlib, emu, name, CONFIGS[name], args.size,
                                   args.passes, args.reads.split(","))
    finally:
        if uring_before is not None:
            with open(ENABLE_URING, "w") as f:
                f.write(uring_before)
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f}; {args.size >> 20} MiB cached object, "
          f"{args.passes} passes of dd bs=1M each; build {args.build}")
    print("| configuration | reads | daemon CPU s/GiB (median) | min..max | GiB/s | "
          "KiB per READ | ring requests |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['name']} | {r['how']} | {r['cpu_per_gib']:.3f} | "
              f"{r['min']:.3f}..{r['max']:.3f} | {r['gib_per_s']:.2f} | {r['read_kib']:.0f} | "
              f"{r['uring']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
