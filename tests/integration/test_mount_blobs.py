"""Real kernel mounts, the blob cache at scale: a warmup sticks (the second costs no GET) with
more cached blobs than the daemon may open descriptors, in memory and in a cache folder; a
warmup larger than the cache says so before it starts and the summary says what is cached."""
import os
import re
import shutil
import subprocess
import tempfile

import harness

MiB = 1 << 20
NOFILE = 1024  # the daemon's soft descriptor limit at exec: the old cache capped itself at half
NOFILE_HARD = 4096  # ... and its hard limit, which the daemon raises the soft one to at start


def daemon_pid(m):
    out = subprocess.run(["pgrep", "-f", f"ossuring mount .* {m.dir}"], capture_output=True,
                         text=True).stdout.split()
    assert out, "no daemon process"
    return int(out[0])


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def mount_with_nofile(emu, args):
    """A mount whose daemon starts under RLIMIT_NOFILE = NOFILE:NOFILE_HARD (soft:hard):
    `ossuring` run through prlimit (the test process itself may not raise its own limit back)."""
    wrapper = tempfile.NamedTemporaryFile("w", prefix="ossuring-nofile-", suffix=".sh",
                                          delete=False)
    wrapper.write(f'#!/bin/sh\nexec prlimit --nofile={NOFILE}:{NOFILE_HARD} {harness.OSSURING} "$@"\n')
    wrapper.close()
    os.chmod(wrapper.name, 0o755)
    real = harness.OSSURING
    harness.OSSURING = wrapper.name
    try:
        return harness.Mount(emu, "data", args=args).__enter__()
    finally:
        harness.OSSURING = real
        os.unlink(wrapper.name)


def warmup(m):
    w = subprocess.run([harness.OSSURING, "warmup", m.dir], capture_output=True, text=True,
                       timeout=600)
    assert w.returncode == 0, w.stderr
    return w


def check_warmup_sticks(count, size, args):
    with harness.Emulator({"data": f"flat:{count}:{size}"}) as emu:
        m = mount_with_nofile(emu, args)
        try:
            pid = daemon_pid(m)
            with open(f"/proc/{pid}/limits") as f:
                limits = f.read()
            # The soft limit was raised to the hard one at start.
            assert re.search(rf"Max open files\s+{NOFILE_HARD}\s+{NOFILE_HARD}", limits), limits
            emu.reset()
            first = warmup(m)
            assert emu.requests("GetObject") == count, emu.requests()
            st = m.stats()["cache"]
            assert st["blobs"] == count, st
            assert st["evictions"] == 0 and st["uncached"] == 0, st
            assert st["bytes"] == count * size, st
            # More blobs cached than descriptors allowed: none is held per blob.
            assert count > NOFILE_HARD
            # The cache folder keeps an eighth of the descriptor budget (half of the limit
            # below 8,192) of recently used files open; sockets, FUSE and the rest stay < 100.
            assert open_fds(pid) < NOFILE_HARD // 2 // 8 + 100, open_fds(pid)
            summary = first.stdout.splitlines()[-1]
            assert f"({count:,} blobs)" in summary, summary
            assert first.stderr == "", first.stderr  # it fits: nothing to warn about
            second = warmup(m)
            assert emu.requests("GetObject") == count, emu.requests()  # all hits
            assert f"({count:,} blobs)" in second.stdout, second.stdout
            # Everything is cached already: the second warmup evicts nothing and says nothing
            # (the cache holds more than half its budget, which used to draw a false warning).
            assert second.stderr == "", second.stderr
            # And reading the files costs no GET either, with the right bytes.
            names = sorted(os.listdir(m.dir))
            for n in names[:: max(1, count // 50)]:
                with open(m.path(n), "rb") as f:
                    assert f.read() == harness.synthetic_content(n, size), n
            assert emu.requests("GetObject") == count
            assert "blob_cache_limited" not in m.log_text()
            assert m.stats()["cache"]["limited_by"] == ""  # only the budget limits the cache
        finally:
            m.__exit__(None, None, None)


def test_a_second_warmup_in_memory_costs_no_get_with_more_blobs_than_descriptors():
    check_warmup_sticks(20000, 16000, ["--open-mode", "passthrough"])  # the case


def test_a_second_warmup_from_the_cache_folder_costs_no_get_with_more_blobs_than_descriptors():
    cache = tempfile.mkdtemp(prefix="ossuring-cache-")
    try:
        check_warmup_sticks(5000, 16000, ["--cache-dir", cache])
        # One file per blob on disk, and the daemon is gone: nothing left open.
        assert len(os.listdir(os.path.join(cache, "blobs"))) == 5000
    finally:
        shutil.rmtree(cache)


def test_a_warmup_larger_than_the_cache_says_so_before_it_starts():
    limit = 16 * MiB  # blobs get 12 MiB
    size = 256 * 1024
    count = 80  # 20 MiB
    with harness.Emulator({"data": f"flat:{count}:{size}"}) as emu, \
            harness.Mount(emu, "data", args=["--memory-limit", str(limit)]) as m:
        w = warmup(m)
        assert "does not fit the cache (12.0 MiB)" in w.stderr, w.stderr
        assert "the files warmed first are evicted" in w.stderr, w.stderr
        summary = w.stdout.splitlines()[-1]
        st = m.stats()["cache"]
        assert st["evictions"] > 0, st
        assert f"evicted" in summary, summary
        assert re.search(r"cache [0-9.]+ MiB of 12.0 MiB \([0-9]+ blobs", summary), summary


if __name__ == "__main__":
    harness.run_tests([
        test_a_second_warmup_in_memory_costs_no_get_with_more_blobs_than_descriptors,
        test_a_second_warmup_from_the_cache_folder_costs_no_get_with_more_blobs_than_descriptors,
        test_a_warmup_larger_than_the_cache_says_so_before_it_starts,
    ])
