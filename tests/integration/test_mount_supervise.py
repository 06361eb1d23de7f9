"""Real kernel mounts with --supervise: a daemon killed mid-read is replaced on the same FUSE
connection, readers finish with the right bytes and no error, and a daemon that keeps dying
ends the mount instead of hanging it."""
import errno
import os
import signal
import subprocess
import threading
import time

import harness

IMAGENET = "imagenet:2:30"  # 60 files of ~110 KB
SUPERVISE = ["--supervise"]


def processes(m):
    """(supervisor pid, worker pid or None) of the mount `m`."""
    pids = [int(p) for p in subprocess.run(["pgrep", "-f", f"ossuring mount .* {m.dir}"],
                                           capture_output=True, text=True).stdout.split()]
    parents = {}
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                parents[p] = int(f.read().rsplit(")", 1)[1].split()[1])
        except OSError:
            pass
    supervisor = [p for p in parents if parents[p] not in parents]
    workers = [p for p in parents if parents[p] in parents]
    return (supervisor[0] if supervisor else None), (workers[0] if workers else None)


def wait_for_new_worker(m, old, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        _, w = processes(m)
        if w is not None and w != old:
            return w
        time.sleep(0.05)
    raise AssertionError("no new worker")


def listing(emu, bucket):
    out = subprocess.run([harness.OSSURING, "ls", f"oss://{bucket}/", "-r", "--endpoint",
                          emu.endpoint, "--path-style", "--access-key-id", harness.AK,
                          "--access-key-secret", harness.SK], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    files = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[-1].endswith(".JPEG"):
            files[parts[-1]] = int(parts[0])
    return files


def test_a_killed_daemon_is_restarted_and_readers_never_see_an_error():
    # 400 ms before every answer: the kill lands while READs wait for their GETs.
    with harness.Emulator({"data": IMAGENET}, extra_args=["--latency", "400"]) as emu, \
            harness.Mount(emu, "data", args=SUPERVISE) as m:
        files = listing(emu, "data")
        assert len(files) == 60, files
        keys = sorted(files)[:12]
        supervisor, worker = processes(m)
        assert supervisor is not None and worker is not None
        errors = []
        done = []

        def reader():
            for k in keys:
                try:
                    with open(m.path(k), "rb") as f:
                        if f.read() != harness.synthetic_content(k, files[k]):
                            errors.append(f"{k}: wrong bytes")
                    done.append(k)
                except OSError as e:
                    errors.append(f"{k}: {e}")

        t = threading.Thread(target=reader)
        t.start()
        time.sleep(1.0)  # the third file's GET is in flight
        os.kill(worker, signal.SIGKILL)
        t.join(timeout=120)
        assert not t.is_alive(), "reader hung"
        assert errors == [] and len(done) == len(keys), (errors, done)
        new_worker = wait_for_new_worker(m, worker)
        log = m.log_text()
        assert "worker_restarting" in log and "mount_resumed" in log, log
        assert processes(m)[0] == supervisor
        # Names the kernel resolved before the crash, and new ones, still work.
        found = sum(len(fs) for _, _, fs in os.walk(m.dir))
        assert found == 60, found
        for k in sorted(files)[-3:]:
            with open(m.path(k), "rb") as f:
                assert f.read() == harness.synthetic_content(k, files[k]), k
        stats = m.stats()  # the new worker answers stats too
        assert stats["mount"]["restarts"] == 1 and stats["fuse"]["daemon_reads"] >= 3, stats
        # SIGTERM to the supervisor stops the worker cleanly, and the mount with it.
        os.kill(supervisor, signal.SIGTERM)
        deadline = time.time() + 20
        while time.time() < deadline and (os.path.ismount(m.dir) or any(processes(m))):
            time.sleep(0.05)
        assert not os.path.ismount(m.dir)
        assert processes(m) == (None, None), processes(m)
        assert new_worker != worker


def test_parallel_readers_survive_repeated_kills():
    # Six readers, many READs in flight at each of three kills (100 ms per answer).
    with harness.Emulator({"data": IMAGENET}, extra_args=["--latency", "100"]) as emu, \
            harness.Mount(emu, "data", args=SUPERVISE) as m:
        files = listing(emu, "data")
        keys = sorted(files)
        errors = []
        reads = []

        def reader(part):
            for k in keys[part::6]:
                try:
                    with open(m.path(k), "rb") as f:
                        if f.read() != harness.synthetic_content(k, files[k]):
                            errors.append(f"{k}: wrong bytes")
                    reads.append(k)
                except OSError as e:
                    errors.append(f"{k}: {e}")

        threads = [threading.Thread(target=reader, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        _, worker = processes(m)
        for _ in range(3):
            time.sleep(0.3)
            os.kill(worker, signal.SIGKILL)
            worker = wait_for_new_worker(m, worker)
        for t in threads:
            t.join(timeout=120)
        assert not any(t.is_alive() for t in threads), "a reader hung"
        assert errors == [] and sorted(reads) == keys, (errors, len(reads))
        assert m.log_text().count("mount_resumed") == 3


def test_a_daemon_that_keeps_dying_ends_the_mount_instead_of_hanging():
    with harness.Emulator({"data": IMAGENET}) as emu, \
            harness.Mount(emu, "data", args=SUPERVISE) as m:
        supervisor, worker = processes(m)
        for _ in range(5):
            os.kill(worker, signal.SIGKILL)
            worker = wait_for_new_worker(m, worker)
            assert len(os.listdir(m.path("train"))) == 2
        os.kill(worker, signal.SIGKILL)  # the sixth death within a minute: given up
        deadline = time.time() + 20
        while time.time() < deadline and (os.path.ismount(m.dir) or any(processes(m))):
            time.sleep(0.05)
        assert not os.path.ismount(m.dir)
        assert processes(m) == (None, None)
        assert "supervisor_gave_up" in m.log_text()
        assert os.listdir(m.dir) == []  # a plain folder again, not a hung mount


def test_a_restart_after_a_refresh_serves_the_refreshed_index():
    import urllib.request

    with harness.Emulator({"live": "flat:0"}, anonymous=True) as emu:
        def put(key, data):
            req = urllib.request.Request(f"{emu.endpoint}/live/{key}", data=data, method="PUT")
            with urllib.request.urlopen(req, timeout=30) as r:
                assert r.status == 200

        put("a.txt", b"one")
        with harness.Mount(emu, "live", args=SUPERVISE + ["--access-key-id", harness.AK,
                                                          "--access-key-secret", harness.SK]) as m:
            held = open(m.path("a.txt"), "rb")  # the kernel holds this inode across it all
            assert held.read() == b"one"
            put("a.txt", b"three")
            put("b.txt", b"bee")
            out = subprocess.run([harness.OSSURING, "refresh", m.dir], capture_output=True,
                                 text=True, timeout=60)
            assert out.returncode == 0, out.stderr
            assert sorted(os.listdir(m.dir)) == ["a.txt", "b.txt"]
            _, worker = processes(m)
            os.kill(worker, signal.SIGKILL)
            wait_for_new_worker(m, worker)
            # The new worker serves the refreshed index, not the one built at mount.
            assert sorted(os.listdir(m.dir)) == ["a.txt", "b.txt"]
            with open(m.path("a.txt"), "rb") as f:
                assert f.read() == b"three"
            with open(m.path("b.txt"), "rb") as f:
                assert f.read() == b"bee"
            # The inode of the first index generation is unknown now: an error, never other bytes.
            held.seek(0)
            try:
                data = held.read()
                assert data == b"one", data  # still in the page cache
            except OSError as e:
                assert e.errno == errno.ESTALE, e
            held.close()


def test_supervise_refuses_mounts_it_could_not_restart():
    with harness.Emulator({"data": IMAGENET}) as emu:
        for extra in (["--mode", "lazy"], ["-o", "rw"], ["--open-mode", "passthrough"]):
            d = harness.tempfile.mkdtemp(prefix="ossuring-mnt-")
            try:
                out = subprocess.run(
                    [harness.OSSURING, "mount", "oss://data/", d, "--endpoint", emu.endpoint,
                     "--path-style", "--access-key-id", harness.AK, "--access-key-secret",
                     harness.SK, "--supervise"] + extra, capture_output=True, text=True,
                    timeout=60)
                assert out.returncode != 0 and "--supervise" in out.stderr, (extra, out.stderr)
                assert not os.path.ismount(d)
            finally:
                os.rmdir(d)


if __name__ == "__main__":
    harness.require_mount_privileges()
    harness.run_tests([
        test_a_killed_daemon_is_restarted_and_readers_never_see_an_error,
        test_parallel_readers_survive_repeated_kills,
        test_a_daemon_that_keeps_dying_ends_the_mount_instead_of_hanging,
        test_a_restart_after_a_refresh_serves_the_refreshed_index,
        test_supervise_refuses_mounts_it_could_not_restart,
    ])
