"""Real kernel mounts served by two reactors (--cpus 0,1): each reads requests on its own clone of
the FUSE session; bytes, per-channel counts, INTERRUPT across channels, unmount and SIGTERM."""
import concurrent.futures
import errno
import os
import signal
import subprocess
import time

import harness

CPUS = ["--cpus", "0,1"]


def daemon_pid(m):
    out = subprocess.run(["pgrep", "-f", f"ossuring mount .* {m.dir}"], capture_output=True,
                         text=True).stdout.split()
    assert out, "no daemon process"
    return int(out[0])


def wait_gone(pid, seconds):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def two_cpus_or_skip():
    if len(os.sched_getaffinity(0)) < 2 or not {0, 1} <= os.sched_getaffinity(0):
        print("SKIP: needs CPUs 0 and 1", flush=True)
        raise SystemExit(harness.SKIP)


def parallel_stat_and_read(m, names, size, workers=8, rounds=3):
    """Every worker stats and reads its share of the files `rounds` times; returns bad files."""
    def work(i):
        bad = []
        mine = names[i::workers]
        for _ in range(rounds):
            for n in mine:
                if os.stat(m.path(n)).st_size != size:
                    bad.append(("size", n))
                with open(m.path(n), "rb") as f:
                    if f.read() != harness.synthetic_content(n, size):
                        bad.append(("bytes", n))
            # Misses are answered by the daemon too (a negative entry each).
            for j in range(20):
                try:
                    os.stat(m.path(f"missing-{i}-{j}"))
                    bad.append(("found", j))
                except FileNotFoundError:
                    pass
        return bad

    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        return [b for r in pool.map(work, range(workers)) for b in r]


def test_two_channels_serve_parallel_stats_and_reads_with_exact_bytes():
    for mode in ("read", "passthrough"):
        with harness.Emulator({"data": "flat:600:3000"}) as emu, \
                harness.Mount(emu, "data", args=CPUS + ["--open-mode", mode]) as m:
            names = sorted(os.listdir(m.dir))
            assert len(names) == 600
            assert parallel_stat_and_read(m, names, 3000) == [], mode
            st = m.stats()
            channels = st["fuse"]["channels"]
            assert [c["reactor"] for c in channels] == [0, 1], channels
            assert [c["cpu"] for c in channels] == [0, 1], channels
            assert all(c["requests"] > 0 for c in channels), channels
            # Every request read was handled once, whichever channel read it.
            assert sum(c["requests"] for c in channels) >= st["fuse"]["requests"], st["fuse"]
            assert st["fuse"]["errors"] == 0, st["fuse"]
            if mode == "passthrough" and st["mount"]["passthrough_granted"]:
                assert st["fuse"]["daemon_reads"] == 0, st["fuse"]
                assert st["fuse"]["passthrough_opens"] >= 600, st["fuse"]
            assert "fuse_reply_failed" not in m.log_text()


def test_interrupts_reach_requests_on_either_channel():
    with harness.Emulator({"data": "flat:8:5000"}) as emu, \
            harness.Mount(emu, "data", args=CPUS + ["--prefetch", "off", "--open-mode",
                                                 "passthrough"]) as m:
        names = sorted(os.listdir(m.dir))
        emu.set_faults(latency_ms=20000)
        start = time.time()
        procs = [subprocess.Popen(["cat", m.path(n)], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL) for n in names]
        time.sleep(1.0)
        for p in procs:
            p.send_signal(signal.SIGINT)
        for p in procs:
            p.wait(timeout=15)
        elapsed = time.time() - start
        emu.set_faults(latency_ms=0)
        assert elapsed < 6, elapsed
        st = m.stats()
        assert st["fs"]["interrupted"] >= len(names), (st["fs"], st["fuse"]["channels"])


def test_unmount_with_open_files_ends_every_reactor():
    with harness.Emulator({"data": "flat:20:4096"}) as emu:
        m = harness.Mount(emu, "data", args=CPUS)
        m.__enter__()
        try:
            pid = daemon_pid(m)
            names = sorted(os.listdir(m.dir))
            held = [open(m.path(n), "rb") for n in names[:4]]
            for f in held:
                assert len(f.read(10)) == 10
        finally:
            m.__exit__(None, None, None)  # `ossuring umount` is refused (busy), `umount -l` not
        assert not os.path.ismount(m.dir)
        assert not wait_gone(pid, 0.5), "the daemon left while files were open"
        for f in held:
            f.close()
        assert wait_gone(pid, 15), "the daemon did not exit after the last file was closed"


def test_sigterm_with_open_files_and_busy_readers_ends_cleanly():
    with harness.Emulator({"data": "flat:300:2000"}) as emu:
        m = harness.Mount(emu, "data", args=CPUS + ["--open-mode", "read"])
        m.__enter__()
        try:
            pid = daemon_pid(m)
            names = sorted(os.listdir(m.dir))
            held = open(m.path(names[0]), "rb")
            assert len(held.read(10)) == 10
            stop = time.time() + 1.0

            def reader(i):
                errors = 0
                while time.time() < stop + 2:
                    for n in names[i::4]:
                        try:
                            with open(m.path(n), "rb") as f:
                                f.read()
                        except OSError:
                            errors += 1
                return errors

            with concurrent.futures.ThreadPoolExecutor(4) as pool:
                busy = [pool.submit(reader, i) for i in range(4)]
                time.sleep(1.0)
                os.kill(pid, signal.SIGTERM)
                assert wait_gone(pid, 15), "the daemon did not exit on SIGTERM"
                for b in busy:
                    b.result(timeout=30)  # readers see errors, never hang
            # A new open on the ended connection fails; the held file still closes.
            try:
                os.open(f"/proc/self/fd/{held.fileno()}", os.O_RDONLY)
                raise AssertionError("a file of an ended mount could be opened again")
            except OSError as e:
                assert e.errno in (errno.ENOTCONN, errno.ECONNABORTED, errno.EIO), e
            held.close()
            assert not os.path.ismount(m.dir)
            log = m.log_text()
            assert '"unmounted"' in log or "unmounted" in log, log[-2000:]
        finally:
            m.__exit__(None, None, None)


if __name__ == "__main__":
    harness.require_mount_privileges()
    two_cpus_or_skip()
    harness.run_tests([
        test_two_channels_serve_parallel_stats_and_reads_with_exact_bytes,
        test_interrupts_reach_requests_on_either_channel,
        test_unmount_with_open_files_ends_every_reactor,
        test_sigterm_with_open_files_and_busy_readers_ends_cleanly,
    ])
