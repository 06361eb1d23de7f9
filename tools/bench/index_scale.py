#!/usr/bin/env python3
"""Index scale: build time and size of the index of a synthetic 1M-object bucket, and the time a
remount takes when it reuses the saved index.

For each of --runs rounds, against one emulator on loopback (`deep:N`: three levels of ten
directories, N objects over the 1,000 leaves):
  1. a fresh mount with an empty --cache-dir: `ossuring mount` returns when the mount is ready,
     so its wall time is the time to list the whole bucket and build the index;
  2. a remount with the saved index: ready without listing (the background refresh that
     confirms the index comes after readiness and is timed apart, from the daemon's log).
Also reports LIST requests, the daemon's RSS and the index file's size. Medians over the rounds.

With --trace the fresh mount logs at debug level, and each LIST's place in the build's schedule
(index_list_page: which answer it followed, when it was sent and answered) gives what the
listings alone needed: the longest chain of LISTs, each taking the time it took from sending to
its answer, with no time between an answer and the LIST it let start. The build's time over that
is what the daemon added (its start, the gaps, the index's final pass, readiness).

A benchmark, not a test (docs/benchmarks.md "Index scale"). Needs root and /dev/fuse.
Usage: tools/bench/index_scale.py [--build DIR] [--objects 1000000] [--runs 3] [--latency MS]
                                  [--trace] [--mount-arg=ARG ...]
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def rss_mib(mountpoint):
    import faultlib  # noqa: E402 - tests/faults is on sys.path (main)
    pid = faultlib.daemon_pid(mountpoint)
    with open(f"/proc/{pid}/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:")) / 1024


def cpu_seconds(pid):
    """User + system CPU of a process so far (children excluded)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed_mount(harness, emu, cache, extra=()):
    t0 = time.perf_counter()
    m = harness.Mount(emu, "big", args=["--cache-dir", cache] + list(extra))
    m.__enter__()
    return m, time.perf_counter() - t0


def refresh_seconds(log_text):
    m = re.search(r"event=index_refreshed .*seconds=([0-9.]+)", log_text)
    return float(m.group(1)) if m else None


def listing_need(log_text):
    """(seconds, LISTs on the longest chain, span of the listings in seconds) from the
    index_list_page lines of a debug log, or None without them."""
    pages = {}
    for line in log_text.splitlines():
        if "event=index_list_page " not in line:
            continue
        f = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
        pages[int(f["id"])] = (int(f["after"]), int(f["sent_us"]), int(f["answered_us"]))
    if not pages:
        return None
    need = {0: (0, 0)}  # id -> (µs when answered on the longest chain, LISTs on it)
    for i in sorted(pages):  # a LIST follows an answer that came before it was sent
        after, sent, answered = pages[i]
        t, depth = need[after]
        need[i] = (t + answered - sent, depth + 1)
    end, depth = max(need.values())
    span = max(p[2] for p in pages.values()) - min(p[1] for p in pages.values())
    return end / 1e6, depth, span / 1e6


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.environ.get("OSSURING_BUILD",
                                                      os.path.join(ROOT, "build")))
    ap.add_argument("--objects", type=int, default=1000000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--latency", type=int, default=0, help="emulator latency per request, ms")
    ap.add_argument("--trace", action="store_true",
                    help="log the fresh mount at debug level and report what its LISTs needed")
    ap.add_argument("--mount-arg", action="append", default=[],
                    help="extra argument for `ossuring mount` (repeatable), e.g. "
                    "--mount-arg=--list-concurrency=32")
    args = ap.parse_args()
    os.environ["OSSURING_BUILD"] = os.path.abspath(args.build)
    sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
    sys.path.insert(0, os.path.join(ROOT, "tests", "faults"))
    import harness  # noqa: E402 - reads OSSURING_BUILD at import
    harness.require_mount_privileges()

    rows = {"build_s": [], "remount_s": [], "refresh_s": [], "lists": [], "rss_mib": [],
            "rss_remount_mib": [], "index_file_mib": [], "daemon_us_per_list": [],
            "emu_us_per_list": [], "need_s": [], "chain": [], "span_s": []}
    extra = ["--latency", str(args.latency)] if args.latency else []
    with harness.Emulator({"big": f"deep:{args.objects}"}, extra_args=extra) as emu:
        for run in range(args.runs):
            cache = tempfile.mkdtemp(prefix="index-scale-", dir="/var/tmp")
            try:
                emu.reset()
                emu_cpu = cpu_seconds(emu.proc.pid)
                trace = ["--log-level", "debug"] if args.trace else []
                m, secs = timed_mount(harness, emu, cache, args.mount_arg + trace)
                try:
                    rows["build_s"].append(secs)
                    need = listing_need(m.log_text()) if args.trace else None
                    if need:
                        rows["need_s"].append(need[0])
                        rows["chain"].append(need[1])
                        rows["span_s"].append(need[2])
                    lists = emu.requests("ListObjectsV2")
                    rows["lists"].append(lists)
                    # The daemon's CPU so far is its start and the build (no reads yet).
                    import faultlib  # noqa: E402
                    daemon_cpu = cpu_seconds(faultlib.daemon_pid(m.dir))
                    rows["daemon_us_per_list"].append(daemon_cpu / lists * 1e6)
                    rows["emu_us_per_list"].append(
                        (cpu_seconds(emu.proc.pid) - emu_cpu) / lists * 1e6)
                    rows["rss_mib"].append(rss_mib(m.dir))
                    nodes = m.stats()["fs"]["index_nodes"]
                finally:
                    # `ossuring umount` returns once the daemon has exited, its index file written.
                    m.__exit__(None, None, None)
                idx_dir = os.path.join(cache, "index")
                rows["index_file_mib"].append(
                    sum(os.path.getsize(os.path.join(idx_dir, f)) for f in os.listdir(idx_dir))
                    / 2**20)
                m, secs = timed_mount(harness, emu, cache, args.mount_arg)
                try:
                    rows["remount_s"].append(secs)
                    rows["rss_remount_mib"].append(rss_mib(m.dir))
                    deadline = time.time() + 120
                    while refresh_seconds(m.log_text()) is None and time.time() < deadline:
                        time.sleep(0.2)
                    rows["refresh_s"].append(refresh_seconds(m.log_text()) or float("nan"))
                finally:
                    m.__exit__(None, None, None)
                print(f"run {run}: build {rows['build_s'][-1]:.2f} s "
                      f"(CPU per LIST: daemon {rows['daemon_us_per_list'][-1]:.0f} us, "
                      f"emulator {rows['emu_us_per_list'][-1]:.0f} us), remount "
                      f"{rows['remount_s'][-1]:.3f} s, background refresh "
                      f"{rows['refresh_s'][-1]:.2f} s, {rows['lists'][-1]} LISTs, "
                      f"{nodes} nodes", flush=True)
                if rows["need_s"] and len(rows["need_s"]) == len(rows["build_s"]):
                    print(f"  the LISTs needed {rows['need_s'][-1]:.2f} s (a chain of "
                          f"{rows['chain'][-1]}; listings spanned {rows['span_s'][-1]:.2f} s): "
                          f"build / need = {rows['build_s'][-1] / rows['need_s'][-1]:.2f}",
                          flush=True)
            finally:
                shutil.rmtree(cache, ignore_errors=True)
    load = os.getloadavg()[0]
    print(f"\n# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs, "
          f"load average {load:.1f}; deep:{args.objects}, emulator latency {args.latency} ms, "
          f"median of {args.runs}")
    print("| fresh mount (list + build) s | remount with saved index s | background refresh s "
          "| LIST requests | CPU per LIST, daemon / emulator µs | daemon RSS MiB (fresh / remount) "
          "| index file MiB |")
    print("|---|---|---|---|---|---|---|")
    med = {k: statistics.median(v) for k, v in rows.items() if v}
    print(f"| {med['build_s']:.2f} | {med['remount_s']:.3f} | {med['refresh_s']:.2f} | "
          f"{med['lists']:.0f} | {med['daemon_us_per_list']:.0f} / {med['emu_us_per_list']:.0f} | "
          f"{med['rss_mib']:.0f} / {med['rss_remount_mib']:.0f} | {med['index_file_mib']:.1f} |")
    if rows["need_s"]:
        ratios = [b / n for b, n in zip(rows["build_s"], rows["need_s"])]
        print(f"\nWhat the LISTs needed (longest chain, no time between an answer and the LIST it "
              f"started): {med['need_s']:.2f} s, a chain of {med['chain']:.0f} LISTs; the "
              f"listings spanned {med['span_s']:.2f} s; fresh mount / need = "
              f"{statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
