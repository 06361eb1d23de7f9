"""Crash behaviour on real mounts: after `kill -9` of the daemon, readers (idle or blocked in a
read) get an error at once, `ossuring umount` cleans the mount point, and a new mount works."""
import errno
import os
import signal
import subprocess
import time

import faultlib
from faultlib import harness

BUCKET = "flat:50:65536"


def kill_daemon(m):
    pid = faultlib.daemon_pid(m.dir)
    assert pid, "no ossuring daemon found for " + m.dir
    os.kill(pid, signal.SIGKILL)
    deadline = time.time() + 10
    while os.path.exists(f"/proc/{pid}") and time.time() < deadline:
        time.sleep(0.05)
    return pid


def expect_enotconn(path):
    # open() always reaches the daemon (stat may be answered from the kernel's attribute cache).
    try:
        with open(path, "rb") as f:
            f.read()
    except OSError as e:
        assert e.errno == errno.ENOTCONN, e
        return
    raise AssertionError(f"{path} still answers after the daemon died")


def test_killed_daemon_fails_readers_at_once_and_umount_cleans():
    with harness.Emulator({"data": BUCKET}) as emu:
        m = harness.Mount(emu, "data", args=["--request-timeout", "60000"])
        m.__enter__()
        try:
            names = sorted(os.listdir(m.dir))
            held = open(m.path(names[0]), "rb")
            # A reader blocked inside a GET: the emulator stalls that object for a minute.
            emu.set_faults(faults=["stall=60000@" + names[1]])
            blocked = faultlib.start_reader(m.path(names[1]))
            time.sleep(1)
            assert blocked.poll() is None, "the stalled read returned early"
            kill_daemon(m)
            start = time.time()
            o = faultlib.finish_reader(blocked, m.path(names[1]), deadline_s=10)
            assert not o.hung and o.rc != 0, o
            assert "Transport endpoint is not connected" in o.err or "Input/output" in o.err or \
                "Software caused connection abort" in o.err, o
            faultlib.check_bytes(o, names[1], 65536)
            assert time.time() - start < 10
            expect_enotconn(m.path(names[2]))
            try:
                # With FUSE passthrough the kernel reads an open file's backing blob itself, so
                # the read may still succeed; then the bytes must be exact.
                data = held.read()
                assert data == harness.synthetic_content(names[0], 65536), "wrong bytes"
            except OSError as e:
                assert e.errno in (errno.ENOTCONN, errno.ECONNABORTED, errno.EIO), e
            held.close()
            out = subprocess.run([harness.OSSURING, "umount", m.dir], capture_output=True,
                                 text=True, timeout=60)
            assert out.returncode == 0, out
            assert not os.path.ismount(m.dir)
            # A new mount on the same folder works and serves exact bytes.
            emu.set_faults(faults=[])
            # Output to the mount's log file: the daemon keeps it open (a pipe would never close).
            with open(m.log.name, "ab") as log:
                rc = subprocess.run([harness.OSSURING, "mount", "oss://data/", m.dir,
                                     "--endpoint", emu.endpoint, "--path-style",
                                     "--access-key-id", harness.AK, "--access-key-secret",
                                     harness.SK], stdout=log, stderr=log, timeout=120)
            assert rc.returncode == 0, m.log_text()
            for o, k in zip(faultlib.read_all([m.path(k) for k in names[:3]]), names):
                faultlib.check_bytes(o, k, 65536)
                assert o.rc == 0, o
        finally:
            faultlib.kill_quietly(locals().get("blocked"))
            m.__exit__(None, None, None)


def test_sigterm_unmounts_cleanly():
    with harness.Emulator({"data": BUCKET}) as emu:
        with harness.Mount(emu, "data") as m:
            pid = faultlib.daemon_pid(m.dir)
            assert pid
            os.kill(pid, signal.SIGTERM)
            deadline = time.time() + 30
            while os.path.ismount(m.dir) and time.time() < deadline:
                time.sleep(0.1)
            assert not os.path.ismount(m.dir), "SIGTERM left the mount in place"


if __name__ == "__main__":
    harness.require_mount_privileges()
    faultlib.run_selected([
        test_killed_daemon_fails_readers_at_once_and_umount_cleans,
        test_sigterm_unmounts_cleanly,
    ])
