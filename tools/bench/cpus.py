#!/usr/bin/env python3
"""One reactor against several (--cpus): parallel metadata storm and parallel warm small reads.

Two mounts of the same synthetic bucket side by side, one per CPU list (default `0` and `0,1`),
measured in alternating passes so that load on the machine spreads over both; each figure is
the median over the passes and the ratio is taken against the first list.

  storm   a fresh mount per pass (index mode, cold kernel dentry cache): P processes at once,
          each `stat`-ing the F files of its own directory (every stat is one LOOKUP).
  small   one mount per list, warmed once (objects in the blob cache, dentries cached): P
          processes at once, each opening, reading and closing its own files (one OPEN round
          trip each with passthrough).

Also reports how the requests spread over the channels (`ossuring stats --json`). A benchmark,
not a test (docs/benchmarks.md "Reactors"). Needs root and /dev/fuse.
Usage: tools/bench/cpus.py [--build DIR] [--cpus 0 0,1] [--procs 8] [--files 10000]
                           [--small-files 1000] [--passes 5] [--open-mode passthrough]
"""
import argparse
import multiprocessing
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _stat_all(paths, go, done):
    go.wait()
    st = os.stat
    try:
        for p in paths:
            st(p)
    except OSError as e:
        done.put(f"stat {p}: {e}")
        return
    done.put(time.monotonic())


def _open_read_close(paths, go, done):
    go.wait()
    o, r, c = os.open, os.read, os.close
    try:
        for p in paths:
            fd = o(p, os.O_RDONLY)
            r(fd, 1 << 16)
            c(fd)
    except OSError as e:
        done.put(f"open+read {p}: {e}")
        return
    done.put(time.monotonic())


def parallel(fn, shares):
    """Seconds from the start signal until the last of len(shares) processes finished."""
    ctx = multiprocessing.get_context("fork")
    go = ctx.Event()
    done = ctx.Queue()
    procs = [ctx.Process(target=fn, args=(s, go, done)) for s in shares]
    for p in procs:
        p.start()
    time.sleep(0.2)  # every worker is waiting on `go`
    start = time.monotonic()
    go.set()
    ends = [done.get(timeout=600) for _ in procs]
    failed = [e for e in ends if isinstance(e, str)]
    if failed:
        raise RuntimeError(f"{len(failed)} workers failed, first: {failed[0]}")
    for p in procs:
        p.join(timeout=60)
        if p.exitcode != 0:
            raise RuntimeError(f"a worker failed with {p.exitcode}")
    return max(ends) - start


def class_dirs(root):
    train = os.path.join(root, "train")
    return [os.path.join(train, d) for d in sorted(os.listdir(train))]


def keys_by_directory(harness, emu, bucket):
    """The bucket's keys grouped by directory, listed by the CLI straight from the emulator."""
    import subprocess
    out = subprocess.run([harness.OSSURING, "ls", f"oss://{bucket}/", "-r", "--endpoint",
                          emu.endpoint, "--path-style", "--access-key-id", harness.AK,
                          "--access-key-secret", harness.SK], capture_output=True, text=True,
                         timeout=300, check=True)
    dirs = {}
    for line in out.stdout.splitlines():
        parts = line.split(None, 2)
        if len(parts) == 3 and parts[0].isdigit():
            dirs.setdefault(os.path.dirname(parts[2]), []).append(parts[2])
    return [dirs[d] for d in sorted(dirs)]


def channel_share(stats):
    ch = stats["fuse"].get("channels", [])
    total = sum(c["requests"] for c in ch) or 1
    return "/".join(f"{100 * c['requests'] / total:.0f}%" for c in ch)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.environ.get("OSSURING_BUILD",
                                                      os.path.join(ROOT, "build")))
    ap.add_argument("--cpus", nargs="+", default=["0", "0,1"])
    ap.add_argument("--procs", type=int, default=8)
    ap.add_argument("--files", type=int, default=10000, help="files per process, storm")
    ap.add_argument("--small-files", type=int, default=1000, help="files per process, small")
    ap.add_argument("--size", type=int, default=16384, help="mean size of a small file")
    ap.add_argument("--passes", type=int, default=5)
    ap.add_argument("--open-mode", default="passthrough")
    args = ap.parse_args()
    os.environ["OSSURING_BUILD"] = os.path.abspath(args.build)
    sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
    import harness  # noqa: E402 - reads OSSURING_BUILD at import
    harness.require_mount_privileges()

    storm = {c: [] for c in args.cpus}
    small = {c: [] for c in args.cpus}
    shares = {}
    buckets = {"storm": f"imagenet:{args.procs}:{args.files}:2048",
               "small": f"imagenet:{args.procs}:{args.small_files}:{args.size}"}
    with harness.Emulator(buckets) as emu:
        storm_keys = keys_by_directory(harness, emu, "storm")
        assert len(storm_keys) == args.procs, len(storm_keys)
        # Storm: fresh mounts, alternating lists.
        for _ in range(args.passes):
            for c in args.cpus:
                with harness.Mount(emu, "storm", args=["--cpus", c]) as m:
                    # Names from the emulator, not from the mount: a READDIRPLUS would fill the
                    # dentry cache and spare the LOOKUPs the storm is about.
                    work = [[m.path(k) for k in keys] for keys in storm_keys]
                    storm[c].append(parallel(_stat_all, work))
                    shares.setdefault(("storm", c), channel_share(m.stats()))
        # Small files: one warm mount per list.
        mounts = {}
        try:
            for c in args.cpus:
                mounts[c] = harness.Mount(emu, "small", args=[
                    "--cpus", c, "--open-mode", args.open_mode]).__enter__()
            work = {}
            for c, m in mounts.items():
                dirs = class_dirs(m.dir)
                work[c] = [[os.path.join(d, n) for n in sorted(os.listdir(d))] for d in dirs]
                parallel(_open_read_close, work[c])  # warming pass: GETs, dentries
            before = {c: m.stats() for c, m in mounts.items()}
            for _ in range(args.passes):
                for c in args.cpus:
                    small[c].append(parallel(_open_read_close, work[c]))
            for c, m in mounts.items():
                st = m.stats()
                shares[("small", c)] = channel_share(st)
                shares[("small-pt", c)] = st["fuse"]["passthrough_opens"] - \
                    before[c]["fuse"]["passthrough_opens"]
        finally:
            for m in mounts.values():
                m.__exit__(None, None, None)

    base = args.cpus[0]
    n_storm = args.procs * args.files
    n_small = args.procs * args.small_files
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs, load "
          f"average {os.getloadavg()[0]:.2f}; {args.procs} processes; median of {args.passes} "
          f"passes, lists alternating")
    print("| workload | --cpus | median s | min–max s | per op µs | ops/s | ratio to "
          f"--cpus {base} | requests per channel |")
    print("|---|---|---|---|---|---|---|---|")
    for label, table, n in (("stat storm", storm, n_storm), ("open+read+close", small, n_small)):
        b = statistics.median(table[base])
        for c in args.cpus:
            med = statistics.median(table[c])
            key = "storm" if table is storm else "small"
            print(f"| {label} ({n} files) | {c} | {med:.3f} | {min(table[c]):.3f}–"
                  f"{max(table[c]):.3f} | {med / n * 1e6:.1f} | {n / med:.0f} | "
                  f"{b / med:.2f}× | {shares.get((key, c), '-')} |")
    print(f"passthrough opens during timed small passes: "
          f"{ {c: shares.get(('small-pt', c)) for c in args.cpus} }")


if __name__ == "__main__":
    main()
