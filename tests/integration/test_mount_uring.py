"""Real kernel mounts over FUSE over io_uring (--fuse-uring, with the fuse module's enable_uring):
metadata, small and large reads, passthrough, a pinned reactor and a killed reader served
through the ring, and the fallback to /dev/fuse reads when the kernel does not offer it or
several reactors serve the mount."""
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
                         ["--fuse-uring", "--cpus", "0"]):
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
    with enable_uring(True), harness.Emulator({"data": "flat:4:4096"}) as emu, \
            harness.Mount(emu, "data", args=["--fuse-uring"]) as m:
        pid = int(subprocess.run(["pgrep", "-f", f"ossuring mount .* {m.dir}"],
                                 capture_output=True, text=True).stdout.split()[0])
        name = sorted(os.listdir(m.dir))[0]
        holder = subprocess.Popen(
            [sys.executable, "-c",
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


def test_without_the_kernel_offering_it_or_with_several_reactors_the_mount_reads_dev_fuse():
    for on, args in ((False, []), (True, ["--cpus", "0-1"])):
        with enable_uring(on), harness.Emulator({"data": "flat:20:300"}) as emu, \
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
        test_a_reader_killed_during_a_slow_read_over_the_ring_returns_promptly,
        test_a_daemon_stopped_with_a_file_open_serves_it_until_closed_then_exits,
        test_without_the_kernel_offering_it_or_with_several_reactors_the_mount_reads_dev_fuse,
    ])
