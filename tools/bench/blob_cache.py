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
        [--memory-only] [--mount-arg=--memory-limit=2G ...]
3. With --epoch: a dataset larger than memory. The daemon and the reader run in a memory cgroup
   (v1, memory.limit_in_bytes = --cap) smaller than the dataset, blobs in --cache-dir on disk;
   two epochs of reading every file in one shuffled order with --open-mode noopen, passthrough
   and read, and the same files on local disk: seconds, GetObject and daemon CPU per epoch.
       python3 tools/bench/blob_cache.py --epoch --files 8192 --size 131072 --cap 512M
The million-blob run through a mount (docs/benchmarks.md):
    python3 tools/bench/blob_cache.py --files 1000000 --size 1024 --skip-store --memory-only \
        --mount-arg=--memory-limit=2G
"""
import argparse
import os
import random
import shutil
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


CGROUP = "/sys/fs/cgroup/memory/ossuring-blob-epoch"

READER = """
import os, sys, time
names = open(sys.argv[2]).read().split()
t = time.time()
for n in names:
    with open(os.path.join(sys.argv[1], n), "rb", buffering=0) as f:
        while f.read(1 << 20):
            pass
print(time.time() - t)
"""


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def read_in_cgroup(folder, order_file):
    """Reads every file of `order_file` under `folder` from a process in the cgroup."""
    out = subprocess.run(["sh", "-c", f'echo $$ > {CGROUP}/cgroup.procs && exec python3 -c '
                          f'"$0" "$1" "$2"', READER, folder, order_file], check=True,
                         capture_output=True, text=True, timeout=3600).stdout
    return float(out.split()[-1])


def drop_caches():
    subprocess.run(["sync"], check=True)
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3")


def epochs(a):
    cap = a.cap
    os.makedirs(CGROUP, exist_ok=True)
    with open(f"{CGROUP}/memory.limit_in_bytes", "w") as f:
        f.write(str(cap))
    order = tempfile.NamedTemporaryFile("w", prefix="ossuring-epoch-order-", delete=False)
    names = []
    print(f"## epochs: {a.files} files of {a.size} B ({a.files * a.size / 2**30:.2f} GiB), "
          f"memory cgroup {cap / 2**20:.0f} MiB, shuffled order")
    print("| reader | epoch 1 s | GetObject 1 | daemon CPU 1 s | epoch 2 s | GetObject 2 | "
          "daemon CPU 2 s |")
    print("|---|---|---|---|---|---|---|")
    try:
        with harness.Emulator({"data": f"flat:{a.files}:{a.size}"}) as emu:
            for mode in a.modes.split(","):
                cache = tempfile.mkdtemp(prefix="ossuring-epoch-cache-", dir=a.cache_parent)
                args = ["--cache-dir", cache, "--cache-size", str(4 * a.files * a.size),
                        "--memory-limit", str(cap // 2), "--open-mode", mode]
                try:
                    with harness.Mount(emu, "data", args=args) as m:
                        pid = daemon(m)
                        with open(f"{CGROUP}/cgroup.procs", "w") as f:
                            f.write(str(pid))
                        if not names:
                            names = sorted(os.listdir(m.dir))
                            shuffled = names[:]
                            random.Random(7).shuffle(shuffled)
                            order.write("\n".join(shuffled))
                            order.close()
                        drop_caches()
                        row = [mode]
                        for _ in (1, 2):
                            emu.reset()
                            c = cpu_seconds(pid)
                            secs = read_in_cgroup(m.dir, order.name)
                            row += [f"{secs:.1f}", str(emu.requests("GetObject")),
                                    f"{cpu_seconds(pid) - c:.1f}"]
                        print("| " + " | ".join(row) + " |", flush=True)
                finally:
                    shutil.rmtree(cache, ignore_errors=True)
        local = tempfile.mkdtemp(prefix="ossuring-epoch-local-", dir=a.cache_parent)
        try:
            for n in names:
                with open(os.path.join(local, n), "wb") as f:
                    f.write(os.urandom(a.size))
            drop_caches()
            row = ["local disk"]
            for _ in (1, 2):
                row += [f"{read_in_cgroup(local, order.name):.1f}", "-", "-"]
            print("| " + " | ".join(row) + " |", flush=True)
        finally:
            shutil.rmtree(local, ignore_errors=True)
    finally:
        os.unlink(order.name)
        try:
            os.rmdir(CGROUP)  # the processes in it have ended
        except OSError:
            pass


def size_arg(v):
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(v[:-1]) * units[v[-1].upper()] if v[-1].upper() in units else int(v)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--files", type=int, default=20000)
    p.add_argument("--size", type=int, default=16000)
    p.add_argument("--skip-store", action="store_true")
    p.add_argument("--memory-only", action="store_true", help="no cache-folder run")
    p.add_argument("--mount-arg", action="append", default=[], help="passed to ossuring mount")
    p.add_argument("--epoch", action="store_true", help="the larger-than-memory epochs only")
    p.add_argument("--cap", type=size_arg, default=512 << 20, help="the cgroup's memory")
    p.add_argument("--modes", default="noopen,passthrough,read")
    p.add_argument("--cache-parent", default="/var/tmp", help="a folder on disk, not tmpfs")
    a = p.parse_args()
    if a.epoch:
        epochs(a)
        return
    if not a.skip_store:
        store_alone()
    through_a_mount(a.files, a.size, a.mount_arg)
    if not a.memory_only:
        with tempfile.TemporaryDirectory(prefix="ossuring-blobcache-") as d:
            through_a_mount(a.files, a.size, a.mount_arg + ["--cache-dir", d])


if __name__ == "__main__":
    main()
