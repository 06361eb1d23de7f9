"""Real kernel mounts over FUSE over io_uring (--fuse-uring, with the fuse module's enable_uring):
metadata, small and large reads, passthrough, a pinned reactor, several reactors each serving
its own CPU's queue, a killed reader served through the ring, a daemon stopped with a file
open, and the fallback to /dev/fuse reads when the kernel does not offer it."""
import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import harness

MiB = 1 << 20
ENABLE_URING = "/sys/module/fuse/parameters/enable_uring"


@contextlib.contextmanager
def enable_uring(on):
    """Sets the fuse module's enable_uring for the duration (it applies to new mounts only)."""
    with open(ENABLE_URING) as f:
        before = f.read().strip()
    with open(ENABLE_URING, "w") as f:
        f.write("Y" if on else "N")
    try:
        yield
    finally:
        with open(ENABLE_URING, "w") as f:
            f.write(before)


def make_tree():
    src = tempfile.mkdtemp(prefix="ossuring-uring-")
    files = {}
    names = [f"small-{i:03d}.bin" for i in range(40)] + [
        "dir a/ünïcødé 文件.txt", "dir a/b/deep+plus%.txt", "large.bin"]
    for i, n in enumerate(names):
        data = os.urandom(12 * MiB + 123) if n == "large.bin" else os.urandom(i * 997 % 70000)
        p = os.path.join(src, n)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)
        files[n] = hashlib.sha256(data).hexdigest()
    return src, files


def walk(root):
    out = []
    for d, _, fs in os.walk(root):
        out += [os.path.relpath(os.path.join(d, f), root) for f in fs]
    return sorted(out)


def digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                return h.hexdigest()
            h.update(b)


def check_tree(m, files):
    assert walk(m.dir) == sorted(files)
    for n, want in files.items():
        assert os.stat(m.path(n)).st_size >= 0
        assert digest(m.path(n)) == want, n


def test_requests_go_through_the_ring_in_every_open_mode():
    src, files = make_tree()
    try:
        with enable_uring(True), harness.Emulator({"data": src}) as emu:
            for args in (["--fuse-uring"], ["--fuse-uring", "--open-mode", "passthrough"],
                         ["--fuse-uring", "--cpus", "0"], ["--fuse-uring", "--cpus", "0-1"]):
                with harness.Mount(emu, "data", args=args) as m:
                    check_tree(m, files)
                    fuse = m.stats()["fuse"]
                    # Every request but INIT (and FORGETs) came through the ring.
                    read_by_channels = sum(c["requests"] for c in fuse["channels"])
                    assert fuse["uring_requests"] > 50, (args, fuse)
                    assert read_by_channels < fuse["uring_requests"] / 10, (args, fuse)
                    assert "io_uring=yes" in m.log_text()
                    assert "fuse_uring_entry_ended" not in m.log_text(), m.log_text()
    finally:
        shutil.rmtree(src)


def test_with_several_reactors_each_serves_the_queue_of_its_own_cpu():
    # The kernel puts a request on the queue of the CPU its caller runs on; with --cpus 0-1 the
    # reactor pinned to CPU 1 registered that queue's entries, so a reader on CPU 1 is served
    # there (the file system still runs on the home reactor, CPU 0).
    with enable_uring(True), harness.Emulator({"data": "flat:120:2000"}) as emu, \
            harness.Mount(emu, "data", args=["--fuse-uring", "--cpus", "0-1"]) as m:
        names = sorted(os.listdir(m.dir))
        before = {c["reactor"]: c["uring_requests"] for c in m.stats()["fuse"]["channels"]}
        affinity = os.sched_getaffinity(0)
        try:
            os.sched_setaffinity(0, {1})
            for n in names[:60]:
                with open(m.path(n), "rb") as f:
                    assert len(f.read()) == 2000
            middle = {c["reactor"]: c["uring_requests"] for c in m.stats()["fuse"]["channels"]}
            os.sched_setaffinity(0, {0})
            for n in names[60:]:
                with open(m.path(n), "rb") as f:
                    assert len(f.read()) == 2000
        finally:
            os.sched_setaffinity(0, affinity)
        after = {c["reactor"]: c["uring_requests"] for c in m.stats()["fuse"]["channels"]}
        # At least one READ per file on the reader's CPU's reactor; the other took at most what
        # the stats calls themselves (from this process, on the other CPU) cost.
        assert middle[1] - before[1] >= 60, (before, middle)
        assert middle[0] - before[0] <= 10, (before, middle)
        assert after[0] - middle[0] >= 60, (middle, after)
        assert after[1] - middle[1] <= 10, (middle, after)
        assert "fuse_uring_entry_ended" not in m.log_text(), m.log_text()


def test_a_reader_killed_during_a_slow_read_over_the_ring_returns_promptly():
    # Linux 6.18 sends no INTERRUPT for a request on the ring: the killed reader returns at once
    # and the daemon's read runs to its end (its GET's own timeout at most) on its entry.
    with enable_uring(True), harness.Emulator({"data": "flat:3:5000"}) as emu, \
            harness.Mount(emu, "data", args=["--fuse-uring", "--prefetch", "off"]) as m:
        names = sorted(os.listdir(m.dir))
        emu.set_faults(latency_ms=3000)
        start = time.time()
        p = subprocess.Popen(["cat", m.path(names[0])], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        p.send_signal(signal.SIGINT)
        p.wait(timeout=15)
        assert time.time() - start < 2, time.time() - start
        emu.set_faults(latency_ms=0)
        # Other entries go on serving meanwhile, and the busy one once its GET has ended.
        with open(m.path(names[1]), "rb") as f:
            assert len(f.read()) == 5000
        time.sleep(3)
        for n in names:
            with open(m.path(n), "rb") as f:
                assert len(f.read()) == 5000
        assert m.stats()["fuse"]["uring_requests"] > 0


def test_a_daemon_stopped_with_a_file_open_serves_it_until_closed_then_exits():
    # Ring commands end only with the connection, which a lazily detached mount keeps while a
    # file is open: the daemon answers that file's last requests (here the FLUSH of close),
    # then exits. Before the fix its commit went to the closed session fd and close() hung.
    # With two reactors the holder runs on CPU 1, whose queue the second reactor serves.
    for args in ([], ["--cpus", "0-1"]):
        daemon_stopped_with_a_file_open(args)


def daemon_stopped_with_a_file_open(args):
    with enable_uring(True), harness.Emulator({"data": "flat:4:4096"}) as emu, \
            harness.Mount(emu, "data", args=["--fuse-uring"] + args) as m:
        pid = int(subprocess.run(["pgrep", "-f", f"ossuring mount .* {m.dir}"],
                                 capture_output=True, text=True).stdout.split()[0])
        name = sorted(os.listdir(m.dir))[0]
        holder = subprocess.Popen(
            ["taskset", "-c", "1", sys.executable, "-c",
             f"import time; f = open({m.path(name)!r}, 'rb'); assert len(f.read()) == 4096; "
             "time.sleep(2); f.close(); print('closed', flush=True)"],
            stdout=subprocess.PIPE, text=True)
        time.sleep(0.5)
        os.kill(pid, signal.SIGTERM)
        out, _ = holder.communicate(timeout=20)
        assert holder.returncode == 0 and "closed" in out
        for _ in range(100):
            if not os.path.exists(f"/proc/{pid}"):
                break
            time.sleep(0.1)
        assert not os.path.exists(f"/proc/{pid}"), "the daemon did not exit"
        assert "fuse_uring_entry_ended" not in m.log_text(), m.log_text()


def test_without_the_kernel_offering_it_the_mount_reads_dev_fuse():
    for args in ([], ["--cpus", "0-1"]):
        with enable_uring(False), harness.Emulator({"data": "flat:20:300"}) as emu, \
                harness.Mount(emu, "data", args=["--fuse-uring"] + args) as m:
            names = sorted(os.listdir(m.dir))
            assert len(names) == 20
            for n in names:
                with open(m.path(n), "rb") as f:
                    assert len(f.read()) == 300
            assert m.stats()["fuse"]["uring_requests"] == 0
            assert "fuse_uring_unavailable" in m.log_text()
            assert "io_uring=no" in m.log_text()


if __name__ == "__main__":
    harness.require_mount_privileges()
    try:
        with open(ENABLE_URING) as f:
            current = f.read().strip()
        with open(ENABLE_URING, "w") as f:
            f.write(current)
    except OSError as e:
        print(f"skip: cannot set {ENABLE_URING} ({e}): no FUSE over io_uring to test")
        raise SystemExit(77)
    harness.run_tests([
        test_requests_go_through_the_ring_in_every_open_mode,
        test_with_several_reactors_each_serves_the_queue_of_its_own_cpu,
        test_a_reader_killed_during_a_slow_read_over_the_ring_returns_promptly,
        test_a_daemon_stopped_with_a_file_open_serves_it_until_closed_then_exits,
        test_without_the_kernel_offering_it_the_mount_reads_dev_fuse,
    ])
