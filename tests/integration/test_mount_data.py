"""Real kernel mounts, the data path: memfd passthrough, budgets under a warmup larger than them,
eviction with open files, prefetch across files, direct mode, large files, the saved index and
interrupted reads."""
import hashlib
import os
import random
import shutil
import signal
import subprocess
import tempfile
import time

import harness

MiB = 1 << 20


def daemon_pid(m):
    out = subprocess.run(["pgrep", "-f", f"ossuring mount .* {m.dir}"], capture_output=True,
                         text=True).stdout.split()
    assert out, "no daemon process"
    return int(out[0])


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def memfd_bytes(pid):
    """Bytes in the daemon's blob memfds (they live in shmem, outside VmRSS)."""
    total = 0
    fd_dir = f"/proc/{pid}/fd"
    for fd in os.listdir(fd_dir):
        try:
            if "memfd:ossuring-blob" in os.readlink(os.path.join(fd_dir, fd)):
                total += os.stat(os.path.join(fd_dir, fd)).st_size
        except OSError:
            pass  # closed meanwhile
    return total


def warmup(m, *paths):
    return subprocess.Popen([harness.OSSURING, "warmup", m.dir, *paths],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def test_without_a_cache_folder_small_files_are_passed_through_from_memory():
    with harness.Emulator({"data": "flat:40:20000"}) as emu, \
            harness.Mount(emu, "data", args=["--open-mode", "passthrough"]) as m:
        names = sorted(os.listdir(m.dir))
        for n in names:
            with open(m.path(n), "rb") as f:
                assert f.read() == harness.synthetic_content(n, 20000), n
        st = m.stats()
        assert st["cache"]["backend"] == "memory"
        assert st["cache"]["blobs"] == len(names), st["cache"]
        assert emu.requests("GetObject") == len(names)
        if st["mount"]["passthrough_granted"]:
            assert st["fuse"]["passthrough_opens"] == len(names), st["fuse"]
            assert st["fuse"]["daemon_reads"] == 0, st["fuse"]


def test_several_open_files_of_one_inode_share_its_passthrough_backing():
    # The kernel allows one backing file per inode: a second open with its own backing id used
    # to fail with EIO while the first was still open.
    with harness.Emulator({"data": "flat:4:30000"}) as emu, \
            harness.Mount(emu, "data", args=["--open-mode", "passthrough", "--prefetch", "off"]) as m:
        name = sorted(os.listdir(m.dir))[0]
        want = harness.synthetic_content(name, 30000)
        files = [open(m.path(name), "rb") for _ in range(4)]
        try:
            for f in files:
                assert f.read() == want
        finally:
            for f in files:
                f.close()
        with open(m.path(name), "rb") as f:  # and again after the last release
            assert f.read() == want
        assert emu.requests("GetObject") == 1
        assert m.stats()["fuse"]["errors"] == 0


def test_a_warmup_larger_than_the_memory_budget_stays_within_it():
    limit = 16 * MiB  # blobs get 3/4 of it
    size = 256 * 1024
    count = 160  # 40 MiB: two and a half times the budget
    with harness.Emulator({"data": f"flat:{count}:{size}"}) as emu, \
            harness.Mount(emu, "data", args=["--memory-limit", str(limit), "--open-mode",
                                             "passthrough", "--prefetch", "off"]) as m:
        pid = daemon_pid(m)
        base_rss = rss_bytes(pid)
        held = m.path(sorted(os.listdir(m.dir))[3])
        with open(held, "rb") as f:
            first = f.read(1000)
            w = warmup(m)
            peak_cache = peak_memfd = peak_rss = 0
            while w.poll() is None:
                peak_cache = max(peak_cache, m.stats()["cache"]["bytes"])
                peak_memfd = max(peak_memfd, memfd_bytes(pid))
                peak_rss = max(peak_rss, rss_bytes(pid))
                time.sleep(0.05)
            assert w.returncode == 0, w.stderr.read()
            st = m.stats()
            cache = st["cache"]
            slack = 2 * size  # reservations of GETs in flight may round up past the limit
            assert cache["limit"] == limit - limit // 4, cache
            assert max(peak_cache, cache["bytes"]) <= cache["limit"] + slack, (peak_cache, cache)
            assert peak_memfd <= cache["limit"] + slack, peak_memfd
            if not os.environ.get("OSSURING_SANITIZED"):  # ASan's quarantine inflates RSS
                # Blobs now live in anonymous slabs (in RSS, where memfds were not) next to the
                # heap that held their GET bodies, and glibc keeps freed bodies for reuse in each
                # thread's arena: growth measured limit + 0.57 MiB in one run and limit + 7.7 MiB
                # in a loaded one. Twice the limit still fails a cache that does not evict: the
                # dataset is 40 MiB.
                assert peak_rss - base_rss <= 2 * limit, (base_rss, peak_rss)
                assert 2 * limit < size * count
            assert cache["evictions"] > 0, cache
            # The open file kept its blob through the eviction pressure: same bytes, no new GET.
            gets = emu.requests("GetObject")
            f.seek(0)
            data = f.read()
            name = os.path.basename(held)
            assert data[:1000] == first
            assert data == harness.synthetic_content(name, size)
            assert emu.requests("GetObject") == gets
            assert m.stats()["cache"]["pinned"] >= 1


def test_the_cache_folder_stays_within_cache_size():
    cache = tempfile.mkdtemp(prefix="ossuring-cache-")
    try:
        size = 100000
        with harness.Emulator({"data": f"flat:60:{size}"}) as emu, \
                harness.Mount(emu, "data", args=["--cache-dir", cache, "--cache-size",
                                                 str(2 * MiB)]) as m:
            w = warmup(m)
            peak = 0
            while w.poll() is None:
                peak = max(peak, m.stats()["cache"]["bytes"])
                time.sleep(0.05)
            assert w.returncode == 0, w.stderr.read()
            blobs = os.path.join(cache, "blobs")
            on_disk = sum(os.path.getsize(os.path.join(blobs, n)) for n in os.listdir(blobs))
            assert on_disk <= 2 * MiB, on_disk
            st = m.stats()["cache"]
            assert st["backend"] == "directory" and st["evictions"] > 0, st
            assert max(peak, st["bytes"]) <= 2 * MiB + 2 * size, (peak, st)
            for n in sorted(os.listdir(m.dir))[:5]:
                with open(m.path(n), "rb") as f:
                    assert f.read() == harness.synthetic_content(n, size)
    finally:
        shutil.rmtree(cache)


def test_reading_a_directory_in_order_sends_gets_ahead_of_the_reader():
    count = 40
    with harness.Emulator({"data": f"flat:{count}:8000"}, extra_args=["--latency", "20"]) as emu, \
            harness.Mount(emu, "data", args=["--prefetch", "siblings",
                                             "--prefetch-concurrency", "4"]) as m:
        names = sorted(os.listdir(m.dir))
        ahead = []
        for i, n in enumerate(names):
            with open(m.path(n), "rb") as f:
                assert f.read() == harness.synthetic_content(n, 8000), n
            ahead.append(emu.requests("GetObject") - (i + 1))
        # GETs ran ahead of the reader for most of the directory...
        assert max(ahead) > 0, ahead
        assert sum(1 for a in ahead[:count // 2] if a > 0) >= count // 4, ahead
        # ...and each file still cost exactly one GET.
        time.sleep(0.2)
        assert emu.requests("GetObject") == count, emu.requests()
        assert m.stats()["fs"]["prefetch_gets"] > 0


def test_direct_mode_reads_by_ranged_gets_only():
    src = tempfile.mkdtemp(prefix="ossuring-direct-")
    try:
        data = os.urandom(16 * MiB)
        with open(os.path.join(src, "big.bin"), "wb") as f:
            f.write(data)
        with open(os.path.join(src, "small.txt"), "wb") as f:
            f.write(b"small file, still ranged")
        with harness.Emulator({"data": src}) as emu, \
                harness.Mount(emu, "data", args=["--direct"]) as m:
            emu.reset()
            rnd = random.Random(7)
            with open(m.path("big.bin"), "rb", buffering=0) as f:
                for _ in range(20):
                    off = rnd.randrange(0, len(data) - 4096)
                    assert os.pread(f.fileno(), 4096, off) == data[off:off + 4096]
            with open(m.path("small.txt"), "rb") as f:
                assert f.read() == b"small file, still ranged"
            st = m.stats()
            sent = emu.stats()["bytes_sent"]
            # Whole-object GETs would have sent 16 MiB; kernel read-ahead of each 4 KiB read is
            # at most a few hundred KiB.
            assert sent < 20 * 512 * 1024, sent
            assert emu.requests("GetObject") >= 21
            assert st["cache"]["blobs"] == 0, st["cache"]
            assert st["fs"]["prefetch_gets"] == 0
    finally:
        shutil.rmtree(src)


def test_a_large_file_matches_byte_for_byte_sequentially_and_by_random_seeks():
    src = tempfile.mkdtemp(prefix="ossuring-large-")
    try:
        data = os.urandom(64 * MiB)
        with open(os.path.join(src, "large.bin"), "wb") as f:
            f.write(data)
        with harness.Emulator({"data": src}) as emu, \
                harness.Mount(emu, "data", args=["--memory-limit", str(64 * MiB),
                                                 "--readahead-max", str(8 * MiB)]) as m:
            with open(m.path("large.bin"), "rb") as f:
                got = hashlib.sha256()
                while True:
                    b = f.read(1 << 20)
                    if not b:
                        break
                    got.update(b)
            assert got.digest() == hashlib.sha256(data).digest()
            gets_seq = emu.requests("GetObject")
            assert gets_seq < 64, gets_seq  # the window grew: far fewer GETs than MiBs
            rnd = random.Random(3)
            with open(m.path("large.bin"), "rb", buffering=0) as f:
                for _ in range(50):
                    off = rnd.randrange(0, len(data))
                    n = rnd.randrange(1, 300000)
                    assert os.pread(f.fileno(), n, off) == data[off:off + n], (off, n)
            assert m.stats()["fs"]["buffer_bytes"] <= 16 * MiB
    finally:
        shutil.rmtree(src)


def test_a_saved_index_is_reused_and_a_corrupt_one_rebuilt():
    cache = tempfile.mkdtemp(prefix="ossuring-idx-")
    try:
        with harness.Emulator({"data": "imagenet:3:50"}) as emu:
            args = ["--cache-dir", cache]
            with harness.Mount(emu, "data", args=args) as m:
                tree = sorted(os.walk(m.dir))
            assert emu.requests("ListObjectsV2") >= 1
            idx_dir = os.path.join(cache, "index")
            files = os.listdir(idx_dir)
            assert len(files) == 1, files
            emu.reset()
            # Every request fails: the mount must come up from the saved index alone. Its
            # background refresh fails and the reused index goes on serving.
            emu.set_faults(faults=["500"])
            with harness.Mount(emu, "data", args=args + ["--retries", "1"]) as m:
                assert [(r[1], r[2]) for r in sorted(os.walk(m.dir))] == \
                    [(r[1], r[2]) for r in tree]
                assert "index_reused" in m.log_text()
                deadline = time.time() + 20
                while "index_refresh_failed" not in m.log_text() and time.time() < deadline:
                    time.sleep(0.1)
                assert "index_refresh_failed" in m.log_text(), m.log_text()
                # Once OSS answers again, the refresh confirms the index.
                emu.set_faults(faults=[])
                out = subprocess.run([harness.OSSURING, "refresh", m.dir], capture_output=True,
                                     text=True, timeout=60)
                assert out.returncode == 0, out.stderr
                assert m.stats()["fs"]["index_refreshes"] == 1
            # Flip bytes in the middle of the saved index: detected, never trusted.
            path = os.path.join(idx_dir, files[0])
            with open(path, "r+b") as f:
                f.seek(os.path.getsize(path) // 2)
                chunk = f.read(16)
                f.seek(os.path.getsize(path) // 2)
                f.write(bytes(b ^ 0xFF for b in chunk))
            emu.reset()
            with harness.Mount(emu, "data", args=args) as m:
                assert emu.requests("ListObjectsV2") >= 1
                assert [(r[1], r[2]) for r in sorted(os.walk(m.dir))] == \
                    [(r[1], r[2]) for r in tree]
                assert "index_file_refused" in m.log_text()
            # A remount after the rebuild reuses the rewritten file again.
            emu.reset()
            with harness.Mount(emu, "data", args=args) as m:
                assert "index_reused" in m.log_text()
    finally:
        shutil.rmtree(cache)


def test_an_interrupted_slow_read_returns_promptly():
    with harness.Emulator({"data": "flat:3:5000"}) as emu, \
            harness.Mount(emu, "data", args=["--prefetch", "off", "--open-mode", "passthrough"]) as m:
        name = sorted(os.listdir(m.dir))[0]
        emu.set_faults(latency_ms=20000)
        start = time.time()
        p = subprocess.Popen(["cat", m.path(name)], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        p.send_signal(signal.SIGINT)
        p.wait(timeout=15)
        elapsed = time.time() - start
        emu.set_faults(latency_ms=0)
        assert elapsed < 5, elapsed
        assert m.stats()["fs"]["interrupted"] >= 1, m.stats()["fs"]


if __name__ == "__main__":
    harness.require_mount_privileges()
    harness.run_tests([
        test_without_a_cache_folder_small_files_are_passed_through_from_memory,
        test_several_open_files_of_one_inode_share_its_passthrough_backing,
        test_a_warmup_larger_than_the_memory_budget_stays_within_it,
        test_the_cache_folder_stays_within_cache_size,
        test_reading_a_directory_in_order_sends_gets_ahead_of_the_reader,
        test_direct_mode_reads_by_ranged_gets_only,
        test_a_large_file_matches_byte_for_byte_sequentially_and_by_random_seeks,
        test_a_saved_index_is_reused_and_a_corrupt_one_rebuilt,
        test_an_interrupted_slow_read_returns_promptly,
    ])
