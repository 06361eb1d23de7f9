"""The README's main job (see tools/demo.sh): emulator + mount + a walk with request counts."""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
import harness  # noqa: E402


def timed(label, fn):
    start = time.perf_counter()
    out = fn()
    print(f"  {label:<46} {time.perf_counter() - start:8.3f} s")
    return out


def walk(root):
    files = 0
    size = 0
    for d, _, names in os.walk(root):
        for n in names:
            st = os.stat(os.path.join(d, n))
            files += 1
            size += st.st_size
    return files, size


def read_all(paths):
    total = 0
    for p in paths:
        with open(p, "rb") as f:
            total += len(f.read())
    return total


def demo_emulator():
    dirs, files = 10, 100
    spec = f"imagenet:{dirs}:{files}"
    print(f"starting the OSS emulator: bucket 'demo' = {spec} ({dirs * files} objects), "
          "2 ms per request")
    with harness.Emulator({"demo": spec}, extra_args=["--latency", "2"]) as emu:
        print(f"  endpoint {emu.endpoint}")
        with harness.Mount(emu, "demo") as m:
            print(f"mounted oss://demo/ on {m.dir} (index mode)")
            after_mount = emu.total_requests()
            print(f"  requests to build the index: {after_mount} "
                  f"(ListObjectsV2: {emu.requests('ListObjectsV2')})")
            n, size = timed("os.walk + stat of every file", lambda: walk(m.dir))
            timed("find -type f", lambda: subprocess.run(["find", m.dir, "-type", "f"],
                                                          capture_output=True, check=True))
            print(f"  {n} files, {size / 1e6:.1f} MB; metadata requests since mount: "
                  f"{emu.total_requests() - after_mount}")
            paths = []
            for d, _, names in os.walk(m.dir):
                paths += [os.path.join(d, x) for x in sorted(names)]
            sample = paths[:200]
            before = emu.requests("GetObject")
            got = timed(f"read {len(sample)} files (cold)", lambda: read_all(sample))
            print(f"  GetObject requests: {emu.requests('GetObject') - before} for "
                  f"{len(sample)} files, {got / 1e6:.1f} MB")
            before = emu.requests("GetObject")
            timed(f"read {len(sample)} files again (warm)", lambda: read_all(sample))
            print(f"  GetObject requests: {emu.requests('GetObject') - before}")
            # Verify a few files byte for byte against the emulator's content function.
            for p in sample[:20]:
                key = os.path.relpath(p, m.dir)
                with open(p, "rb") as f:
                    data = f.read()
                if data != harness.synthetic_content(key, len(data)):
                    raise SystemExit(f"content mismatch in {key}")
            print("  content of 20 files verified byte for byte")
            print("daemon stats:")
            st = m.stats()
            for k in sorted(st):
                print(f"  {k}: {st[k]}")
    print("unmounted; done")


def demo_bucket():
    bucket = os.environ["OSS_BUCKET"]
    endpoint = os.environ.get("OSS_ENDPOINT")
    if not endpoint:
        raise SystemExit("set OSS_ENDPOINT (e.g. oss-cn-hangzhou.aliyuncs.com) with OSS_BUCKET")
    mnt = "/tmp/ossuring-demo"
    os.makedirs(mnt, exist_ok=True)
    subprocess.run([harness.OSSURING, "mount", f"oss://{bucket}/" +
                    os.environ.get("OSS_PREFIX", ""), mnt, "--endpoint", endpoint], check=True)
    try:
        n, size = timed("os.walk + stat of every file", lambda: walk(mnt))
        print(f"  {n} files, {size / 1e6:.1f} MB")
    finally:
        subprocess.run([harness.OSSURING, "umount", mnt])


if __name__ == "__main__":
    harness.require_mount_privileges()
    if os.environ.get("OSS_BUCKET"):
        demo_bucket()
    else:
        demo_emulator()
