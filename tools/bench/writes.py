#!/usr/bin/env python3
"""Writes side by side: ossuring -o rw, s3fs and rclone mount writing to the emulator, and the
local disk, in one run (a benchmark, not a test).

The emulator runs in a network namespace behind a `tc tbf`-capped veth with per-request latency,
as in compare.py. Two workloads, alternated between the tools for --runs rounds:
  small: `cp -r` of a directory of --files files of --file-kib KiB (a dataset shard, a
         checkpoint directory) onto the mount;
  big:   `cp` of one --big-mib MiB file.
Each is timed twice: until `cp` returns, and until every object is in the bucket with the right
size (rclone's VFS cache uploads after close, so its `cp` returning is not its data being in
OSS). Objects are checked afterwards: count and sizes by a listing, and the big file's SHA-256
through a GET. Prints medians per tool, the ratio of each to ossuring, and the requests each
tool sent per file (emulator counters). Results belong in docs/benchmarks.md "Writes".

Usage (root): tools/bench/writes.py [--build DIR] [--runs 3] [--files 1000] [--file-kib 16]
                                    [--big-mib 512] [--latency 2] [--rate 2gbit]
"""
import argparse
import hashlib
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
import types
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402
import mounts  # noqa: E402

BUCKET = "writes"


class OssuringRw(mounts.Ossuring):
    def __init__(self, ctx, background=False):
        super().__init__(ctx, "lazy")
        self.extra = ["-o", "rw"] + (["--background-upload"] if background else [])
        self.name = "ossuring rw" + (" background" if background else "")
        self.key = "ossuring-bg" if background else "ossuring"
        self.options = " ".join(self.extra) + " (lazy mode)"

    def mounted(self, bucket):
        self.ctx.ossuring_args = self.extra
        return super().mounted(bucket)


class S3fsRw(mounts.S3fs):
    def options_for(self, cache):
        # s3fs(1) defaults for writing (it stages each file in its temporary directory and
        # uploads it on flush), with the same path style and listing options as for reads.
        return ",".join([f"url={self.ctx.emu.endpoint}", "use_path_request_style",
                         "public_bucket=1", "listobjectsv2", "parallel_count=8",
                         "multipart_size=8"])


class RcloneRw(mounts.Rclone):
    # rclone mount docs: --vfs-cache-mode writes is the mode that supports every write pattern;
    # uploads then happen after close (--vfs-write-back, 5 s by default; 0 here so it starts
    # at once).
    flags = ["--vfs-cache-mode", "writes", "--vfs-write-back", "0s", "--dir-cache-time", "1h",
             "--no-modtime", "--s3-chunk-size", "8M", "--s3-upload-concurrency", "4"]
    options = " ".join(flags)


def list_sizes(emu, prefix):
    """key -> size of every object under `prefix`, from anonymous ListObjectsV2 pages."""
    out, token = {}, ""
    while True:
        url = f"{emu.endpoint}/{BUCKET}/?list-type=2&max-keys=1000&prefix={prefix}"
        if token:
            url += "&continuation-token=" + urllib.request.quote(token, safe="")
        with urllib.request.urlopen(url, timeout=60) as r:
            body = r.read().decode()
        for key, size in re.findall(r"<Key>([^<]*)</Key>.*?<Size>(\d+)</Size>", body, re.S):
            out[key] = int(size)
        m = re.search(r"<NextContinuationToken>([^<]*)</NextContinuationToken>", body)
        if "<IsTruncated>true</IsTruncated>" not in body or not m:
            return out
        token = m.group(1)


def wait_in_bucket(emu, expect, timeout):
    """Seconds until every key of `expect` (key -> size) is listed with its size."""
    start = time.monotonic()
    prefix = os.path.commonprefix(list(expect))
    while time.monotonic() - start < timeout:
        got = list_sizes(emu, prefix)
        if all(got.get(k) == v for k, v in expect.items()):
            return time.monotonic() - start
        time.sleep(0.05)
    raise bl.StepFailed(f"objects under {prefix} not all in the bucket after {timeout} s")


def delete_prefix(emu, prefix):
    """Deletes every object under `prefix` straight at the emulator (not through a mount), so
    that each tool writes into an emulator holding the same data."""
    import concurrent.futures

    def delete(key):
        req = urllib.request.Request(f"{emu.endpoint}/{BUCKET}/{urllib.request.quote(key)}",
                                     method="DELETE")
        with urllib.request.urlopen(req, timeout=60) as r:
            r.read()
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(delete, list_sizes(emu, prefix)))


def sha256_of_object(emu, key):
    h = hashlib.sha256()
    with urllib.request.urlopen(f"{emu.endpoint}/{BUCKET}/{key}", timeout=300) as r:
        while chunk := r.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def make_sources(work, files, kib, big_mib):
    src = os.path.join(work, "src")
    shutil.rmtree(src, ignore_errors=True)
    os.makedirs(os.path.join(src, "shard"))
    for i in range(files):
        with open(os.path.join(src, "shard", f"part-{i:05d}.bin"), "wb") as f:
            f.write(os.urandom(kib * 1024))
    big = os.path.join(src, "big.bin")
    with open(big, "wb") as f:
        for _ in range(big_mib):
            f.write(os.urandom(1 << 20))
    h = hashlib.sha256()
    with open(big, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return src, h.hexdigest()


def run_tool(ctx, tool, src, big_sha, rnd, rec):
    emu, a = ctx.emu, ctx.args
    tag = f"{tool.key}-{rnd}"
    with tool.mounted(BUCKET) as m:
        dest = os.path.join(m.path, tag)
        os.makedirs(dest, exist_ok=True)
        shard = {f"{tag}/shard/{n}": os.path.getsize(os.path.join(src, "shard", n))
                 for n in os.listdir(os.path.join(src, "shard"))}
        emu.reset()
        start = time.monotonic()
        bl.run(["cp", "-r", os.path.join(src, "shard"), dest], timeout=a.step_timeout)
        cp_s = time.monotonic() - start
        durable_s = cp_s if tool.is_local else cp_s + wait_in_bucket(emu, shard, a.step_timeout)
        reqs = emu.requests()
        rec.setdefault("small_cp", []).append(cp_s)
        rec.setdefault("small_durable", []).append(durable_s)
        rec["small_requests"] = {k: v for k, v in reqs.items() if v and k != "bytes"}

        emu.reset()
        start = time.monotonic()
        bl.run(["cp", os.path.join(src, "big.bin"), os.path.join(dest, "big.bin")],
               timeout=a.step_timeout)
        cp_s = time.monotonic() - start
        size = os.path.getsize(os.path.join(src, "big.bin"))
        durable_s = cp_s if tool.is_local else \
            cp_s + wait_in_bucket(emu, {f"{tag}/big.bin": size}, a.step_timeout)
        rec.setdefault("big_cp", []).append(cp_s)
        rec.setdefault("big_durable", []).append(durable_s)
        rec["big_requests"] = {k: v for k, v in emu.requests().items() if v and k != "bytes"}
        if not tool.is_local:
            if sha256_of_object(emu, f"{tag}/big.bin") != big_sha:
                raise bl.StepFailed(f"{tool.name}: big.bin in the bucket differs from the source")
            got = {k: v for k, v in list_sizes(emu, f"{tag}/shard/").items()
                   if not k.endswith("/")}  # directory markers (mkdir) are not files
            if got != shard:
                raise bl.StepFailed(f"{tool.name}: {len(got)} of {len(shard)} shard objects")
        else:
            shutil.rmtree(dest, ignore_errors=True)
    if not tool.is_local:
        delete_prefix(emu, f"{tag}/")


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--build", default=os.path.join(bl.ROOT, "build"))
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--files", type=int, default=1000)
    p.add_argument("--file-kib", type=int, default=16)
    p.add_argument("--big-mib", type=int, default=512)
    p.add_argument("--latency", type=float, default=2)
    p.add_argument("--connect-delay", type=float, default=2)
    p.add_argument("--rate", default="2gbit")
    p.add_argument("--tools", default="ossuring,ossuring-bg,s3fs,rclone,local")
    p.add_argument("--netns", default="ossbench-w")
    p.add_argument("--subnet", default="10.78.0")
    p.add_argument("--work", default="/var/tmp/ossbench-writes")
    p.add_argument("--step-timeout", type=float, default=900)
    p.add_argument("--ossuring-arg", action="append", default=[],
                   help="extra argument for `ossuring mount` (repeatable)")
    a = p.parse_args(argv)
    if os.geteuid() != 0 or not os.path.exists("/dev/fuse"):
        print("SKIP: writes.py needs root and /dev/fuse", file=sys.stderr)
        return 77
    os.makedirs(a.work, exist_ok=True)
    ctx = types.SimpleNamespace(args=a, work=a.work, local_dirs={BUCKET: None},
                                ossuring=os.path.join(a.build, "tools", "ossuring"),
                                ossuring_args=[], emu=None)
    local_dir = os.path.join(a.work, "local")
    os.makedirs(local_dir, exist_ok=True)
    ctx.local_dirs[BUCKET] = local_dir
    all_tools = [OssuringRw(ctx), OssuringRw(ctx, background=True), S3fsRw(ctx), RcloneRw(ctx),
                 mounts.Local(ctx)]
    for t in all_tools[:2]:
        t.extra += a.ossuring_arg
        t.options = " ".join(t.extra) + " (lazy mode)"
    wanted = set(a.tools.split(","))
    tools = [t for t in all_tools if t.key in wanted and t.available()]
    bl.log("sources: %d x %d KiB, %d MiB" % (a.files, a.file_kib, a.big_mib))
    src, big_sha = make_sources(a.work, a.files, a.file_kib, a.big_mib)
    results = {t.name: {} for t in tools}
    with bl.Netns(a.netns, a.rate, a.subnet), \
            bl.NsEmulator(os.path.join(a.build, "tools", "ossemu"), a.netns, a.subnet,
                          {BUCKET: "memory"}, a.latency, a.connect_delay,
                          os.path.join(a.work, "ossemu.log")) as emu:
        ctx.emu = emu
        for rnd in range(a.runs):
            order = tools if rnd % 2 == 0 else list(reversed(tools))
            for t in order:
                bl.log(f"run {rnd + 1}/{a.runs}: {t.name}")
                try:
                    run_tool(ctx, t, src, big_sha, rnd, results[t.name])
                except (bl.StepFailed, bl.StepTimeout) as e:
                    results[t.name].setdefault("failures", []).append(str(e))
                    bl.log(f"  {t.name} failed: {e}")
    base = results.get("ossuring rw", {})
    print(f"\n{a.files} files of {a.file_kib} KiB (cp -r) and one {a.big_mib} MiB file (cp); "
          f"{a.latency} ms per request, {a.rate}; medians of {a.runs} runs; ratio = tool / "
          "ossuring (above 1: slower)\n")
    print("| tool | small: cp s | small: in OSS s | ratio | big: cp s | big: in OSS s | ratio | "
          "requests for the small files |")
    print("|---|---|---|---|---|---|---|---|")
    for t in tools:
        r = results[t.name]
        if "small_durable" not in r:
            print(f"| {t.name} | failed: {r.get('failures')} |")
            continue

        def med(k):
            return statistics.median(r[k])

        def ratio(k):
            return med(k) / statistics.median(base[k]) if base.get(k) else float("nan")
        reqs = ", ".join(f"{k} {v}" for k, v in sorted(r.get("small_requests", {}).items()))
        print(f"| {t.name} | {med('small_cp'):.2f} | {med('small_durable'):.2f} | "
              f"{ratio('small_durable'):.2f} | {med('big_cp'):.2f} | {med('big_durable'):.2f} | "
              f"{ratio('big_durable'):.2f} | {reqs or '-'} |")
    for t in tools:
        if results[t.name].get("failures"):
            print(f"{t.name} failures: {results[t.name]['failures']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
