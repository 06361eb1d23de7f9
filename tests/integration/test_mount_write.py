"""Real kernel mounts with -o rw (lazy mode): files, directories and renames through the mount
become objects byte for byte, with the requests counted at the emulator."""
import errno
import hashlib
import os
import subprocess
import sys
import tempfile

import harness

RW = ["-o", "rw"]


def get(emu, bucket, key):
    """The object's bytes as OSS has them (through the CLI, not the mount), or None."""
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "obj")
        r = subprocess.run([harness.OSSURING, "get", f"oss://{bucket}/{key}", out, "--endpoint",
                            emu.endpoint, "--path-style", "--access-key-id", harness.AK,
                            "--access-key-secret", harness.SK], capture_output=True, timeout=60)
        if r.returncode != 0:
            return None
        with open(out, "rb") as f:
            return f.read()


def expect_errno(code, fn, *args):
    try:
        fn(*args)
    except OSError as e:
        assert e.errno == code, (e, errno.errorcode[code])
        return
    raise AssertionError(f"expected {errno.errorcode[code]}")


def test_files_written_through_the_mount_are_objects():
    with harness.Emulator({"mem": "memory"}) as emu, \
            harness.Mount(emu, "mem", args=RW + ["--multipart-threshold", "4M",
                                                 "--part-size", "1M"]) as m:
        os.listdir(m.dir)
        emu.reset()
        # A new file written and closed: one PutObject and nothing else.
        with open(m.path("hello.txt"), "wb") as f:
            f.write(b"hello\n")
        assert {k: v for k, v in emu.requests().items() if v} == {"PutObject": 1}, \
            emu.requests()
        assert get(emu, "mem", "hello.txt") == b"hello\n"
        # Read back from a cold page cache: the uploaded bytes were kept as a blob, no GET.
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3")
        emu.reset()
        with open(m.path("hello.txt"), "rb") as f:
            assert f.read() == b"hello\n"
        assert emu.requests().get("GetObject", 0) == 0, emu.requests()
        assert m.stats()["fs"]["blobs_seeded"] == 1, m.stats()["fs"]
        # A shell redirection closes a duplicate fd first: the empty file, then its content.
        subprocess.run(["sh", "-c", f"echo shell > '{m.path('shell.txt')}'"], check=True)
        assert get(emu, "mem", "shell.txt") == b"shell\n"
        # touch: an empty object.
        subprocess.run(["touch", m.path("empty")], check=True)
        assert get(emu, "mem", "empty") == b""

        # Above the threshold: a multipart upload, checked byte for byte.
        data = os.urandom(9 * 1024 * 1024 + 12345)
        emu.reset()
        with open(m.path("big.bin"), "wb") as f:
            for i in range(0, len(data), 1 << 20):
                f.write(data[i:i + (1 << 20)])
        req = emu.requests()
        assert req.get("InitiateMultipartUpload") == 1, req
        assert req.get("UploadPart") == 10, req
        assert req.get("CompleteMultipartUpload") == 1, req
        assert req.get("PutObject", 0) == 0, req
        assert hashlib.sha256(get(emu, "mem", "big.bin")).digest() == \
            hashlib.sha256(data).digest()
        fs_stats = m.stats()["fs"]
        # hello.txt, shell.txt twice (empty, then its line), empty, big.bin
        assert fs_stats["uploads"] == 5 and fs_stats["upload_failures"] == 0, fs_stats
        assert fs_stats["upload_bytes"] == len(data) + 12, fs_stats
        assert os.stat(m.path("big.bin")).st_size == len(data)

        # Rewriting the middle of an existing object, appending, truncating.
        with open(m.path("hello.txt"), "r+b") as f:
            f.seek(1)
            f.write(b"ELL")
        assert get(emu, "mem", "hello.txt") == b"hELLo\n"
        with open(m.path("hello.txt"), "ab") as f:
            f.write(b"more\n")
        assert get(emu, "mem", "hello.txt") == b"hELLo\nmore\n"
        os.truncate(m.path("hello.txt"), 3)
        assert get(emu, "mem", "hello.txt") == b"hEL"
        with open(m.path("hello.txt"), "rb") as f:
            assert f.read() == b"hEL"
        # fsync uploads before close.
        with open(m.path("synced"), "wb") as f:
            f.write(b"durable")
            f.flush()
            os.fsync(f.fileno())
            assert get(emu, "mem", "synced") == b"durable"
        st = os.stat(m.path("synced"))
        assert st.st_mode & 0o777 == 0o644 and st.st_size == 7


def test_directories_renames_and_odd_names():
    names = ["with space", "plus+sign", "per%25cent", "ünïcødé", "x" * 255]
    with harness.Emulator({"mem": "memory"}) as emu, harness.Mount(emu, "mem", args=RW) as m:
        os.makedirs(m.path("a", "b"))
        assert get(emu, "mem", "a/") == b"" and get(emu, "mem", "a/b/") == b""
        for n in names:
            with open(m.path("a", n), "wb") as f:
                f.write(n.encode())
        for n in names:
            assert get(emu, "mem", "a/" + n) == n.encode(), n
        assert sorted(os.listdir(m.path("a"))) == sorted(names + ["b"])
        expect_errno(errno.ENAMETOOLONG, open, m.path("a", "y" * 256), "wb")

        # rename of a file: copy and delete, the new name reads the same bytes.
        os.rename(m.path("a", "plus+sign"), m.path("a", "b", "moved"))
        assert get(emu, "mem", "a/plus+sign") is None
        assert get(emu, "mem", "a/b/moved") == b"plus+sign"
        with open(m.path("a", "b", "moved"), "rb") as f:
            assert f.read() == b"plus+sign"
        # Replacing an existing file (an editor's save).
        with open(m.path("a", "draft"), "wb") as f:
            f.write(b"v2")
        os.replace(m.path("a", "draft"), m.path("a", "with space"))
        assert get(emu, "mem", "a/with space") == b"v2"
        # A directory: rename(2) says EXDEV and mv copies it over.
        expect_errno(errno.EXDEV, os.rename, m.path("a"), m.path("c"))
        subprocess.run(["mv", m.path("a"), m.path("c")], check=True)
        assert not os.path.exists(m.path("a"))
        assert get(emu, "mem", "c/b/moved") == b"plus+sign"
        assert get(emu, "mem", "a/b/moved") is None

        expect_errno(errno.ENOTEMPTY, os.rmdir, m.path("c"))
        os.unlink(m.path("c", "b", "moved"))
        os.rmdir(m.path("c", "b"))
        assert get(emu, "mem", "c/b/") is None
        subprocess.run(["rm", "-r", m.path("c")], check=True)
        assert os.listdir(m.dir) == []
        expect_errno(errno.EPERM, os.symlink, "target", m.path("link"))


def test_renames_above_the_copy_limit_copy_in_ranges():
    # The emulator refuses CopyObject above 2 MiB as OSS does above 1 GB.
    with harness.Emulator({"mem": "memory"}, extra_args=["--copy-limit", "2M"]) as emu, \
            harness.Mount(emu, "mem", args=RW + ["--copy-threshold", "2M",
                                                 "--part-size", "1M"]) as m:
        data = os.urandom(5 * 1024 * 1024 + 777)
        with open(m.path("large.bin"), "wb") as f:
            f.write(data)
        with open(m.path("small.bin"), "wb") as f:
            f.write(b"small")
        emu.reset()
        os.rename(m.path("large.bin"), m.path("renamed large.bin"))
        req = {k: v for k, v in emu.requests().items() if v}
        assert req.get("UploadPartCopy") == 6, req
        assert req.get("InitiateMultipartUpload") == 1, req
        assert req.get("CompleteMultipartUpload") == 1, req
        assert req.get("DeleteObject") == 1, req
        assert req.get("CopyObject", 0) == 0 and req.get("UploadPart", 0) == 0, req
        assert hashlib.sha256(get(emu, "mem", "renamed large.bin")).digest() == \
            hashlib.sha256(data).digest()
        assert get(emu, "mem", "large.bin") is None
        with open(m.path("renamed large.bin"), "rb") as f:
            assert f.read() == data
        emu.reset()
        os.rename(m.path("small.bin"), m.path("small2.bin"))
        req = {k: v for k, v in emu.requests().items() if v}
        assert req.get("CopyObject") == 1 and req.get("UploadPartCopy", 0) == 0, req
        assert get(emu, "mem", "small2.bin") == b"small"


def test_an_upload_that_fails_fails_close_and_keeps_the_file():
    with harness.Emulator({"mem": "memory"}) as emu, \
            harness.Mount(emu, "mem", args=RW + ["--retries", "1"]) as m:
        os.listdir(m.dir)
        emu.set_faults(faults=["500@will-fail*"])
        f = open(m.path("will-fail.txt"), "wb")
        f.write(b"precious")
        try:
            f.close()
            raise AssertionError("close succeeded although every PutObject failed")
        except OSError as e:
            assert e.errno == errno.EIO, e
        assert "will-fail.txt" in m.log_text() or "fuse_op_failed" in m.log_text()
        assert get(emu, "mem", "will-fail.txt") is None
        # Still there in the mount; once OSS answers, the next close uploads it.
        emu.set_faults(faults=[])
        with open(m.path("will-fail.txt"), "r+b") as g:
            assert g.read() == b"precious"
            g.seek(0, os.SEEK_END)
            g.write(b"!")
        assert get(emu, "mem", "will-fail.txt") == b"precious!"


def test_uploads_survive_lost_answers_and_server_errors():
    with harness.Emulator({"mem": "memory"}) as emu, \
            harness.Mount(emu, "mem", args=RW + ["--multipart-threshold", "2M",
                                                 "--part-size", "512K"]) as m:
        os.listdir(m.dir)
        # The first two answers for small.txt are 500s; the first two answers about big.bin
        # (its InitiateMultipartUploads, POSTs the client does not retry) are cut after OSS
        # acted: the part stream falls back, the whole upload is tried again, nothing is lost.
        emu.set_faults(faults=["500#2@small.txt", "reset#2@big.bin"])
        emu.reset()
        with open(m.path("small.txt"), "wb") as f:
            f.write(b"retried")
        assert get(emu, "mem", "small.txt") == b"retried"
        assert emu.requests("PutObject") >= 3, emu.requests()
        data = os.urandom(5 * 1024 * 1024 + 777)
        with open(m.path("big.bin"), "wb") as f:
            for i in range(0, len(data), 256 * 1024):
                f.write(data[i:i + 256 * 1024])
        emu.set_faults(faults=[])
        got = get(emu, "mem", "big.bin")
        assert got is not None and hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
        with open(m.path("big.bin"), "rb") as f:
            assert hashlib.sha256(f.read()).digest() == hashlib.sha256(data).digest()


def test_background_uploads_finish_by_fsync_and_by_unmount():
    import socket
    import urllib.request
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with harness.Emulator({"mem": "memory"}) as emu:
        data = {f"bg/f{i:03d}": os.urandom(1000 + i) for i in range(60)}
        with harness.Mount(emu, "mem", args=RW + ["--background-upload", "--metrics-port",
                                                  str(port)]) as m:
            os.mkdir(m.path("bg"))
            for key, body in data.items():
                with open(m.path(*key.split("/")), "wb") as f:
                    f.write(body)
            # Read back at once through the mount, uploaded or not.
            for key, body in data.items():
                with open(m.path(*key.split("/")), "rb") as f:
                    assert f.read() == body, key
            with open(m.path("bg", "synced"), "wb") as f:
                f.write(b"now")
                f.flush()
                os.fsync(f.fileno())
                assert get(emu, "mem", "bg/synced") == b"now"
            os.unlink(m.path("bg", "f000"))
            del data["bg/f000"]
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
                text = r.read().decode()
            assert "ossuring_upload_failures_total 0" in text, text
            assert "ossuring_uploads_total " in text, text
        # The unmount waited for every upload still running.
        assert emu.requests("PutObject") == len(data) + 3, emu.requests()  # + bg/, f000, synced
        for key, body in data.items():
            assert get(emu, "mem", key) == body, key
        assert get(emu, "mem", "bg/f000") is None


def test_a_read_only_mount_refuses_writes():
    with harness.Emulator({"mem": "memory"}) as emu:
        with harness.Mount(emu, "mem", args=["--mode", "lazy"]) as m:
            expect_errno(errno.EROFS, open, m.path("x"), "wb")
            expect_errno(errno.EROFS, os.mkdir, m.path("d"))
        out = subprocess.run([harness.OSSURING, "mount", "oss://mem", tempfile.gettempdir(),
                              "--endpoint", emu.endpoint, "-o", "rw", "--mode", "index"],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode != 0 and "lazy" in out.stderr, out.stderr


def test_umount_returns_once_the_daemon_has_written_everything():
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "faults"))
    import faultlib
    with harness.Emulator({"mem": "memory"}) as emu:
        for wait, waited in ((None, True), ("0", False)):
            emu.set_faults(latency=0)
            m = harness.Mount(emu, "mem", args=RW + ["--background-upload"]).__enter__()
            try:
                with open(m.path("w"), "wb") as f:
                    f.write(b"x" * 100)
                    # Its upload, started by the close, takes 1.5 s: still running at umount.
                    emu.set_faults(latency=1500)
                pid = faultlib.daemon_pid(m.dir)
                cmd = [harness.OSSURING, "umount", m.dir] + (["--wait", wait] if wait else [])
                out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
                assert out.returncode == 0, out.stderr
                # By default the daemon has exited, its upload done; --wait 0 does not wait.
                assert harness.process_running(pid) != waited, (wait, pid)
                if waited:
                    emu.set_faults(latency=0)
                    assert get(emu, "mem", "w") == b"x" * 100
            finally:
                m.__exit__(None, None, None)
        # A daemon that needs longer than --wait (its upload's answer takes 4 s): told, and left
        # to finish.
        emu.set_faults(latency=0)
        m = harness.Mount(emu, "mem", args=RW + ["--background-upload"]).__enter__()
        try:
            with open(m.path("late"), "wb") as f:
                f.write(b"y")
                emu.set_faults(latency=4000)
            out = subprocess.run([harness.OSSURING, "umount", m.dir, "--wait", "1"],
                                 capture_output=True, text=True, timeout=60)
            assert out.returncode == 0 and "still finishing" in out.stderr, out.stderr
        finally:
            m.__exit__(None, None, None)
    bad = subprocess.run([harness.OSSURING, "umount", "/nonexistent", "--wait", "x"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "--wait" in bad.stderr, bad.stderr

if __name__ == "__main__":
    harness.require_mount_privileges()
    harness.run_tests([
        test_files_written_through_the_mount_are_objects,
        test_directories_renames_and_odd_names,
        test_renames_above_the_copy_limit_copy_in_ranges,
        test_an_upload_that_fails_fails_close_and_keeps_the_file,
        test_uploads_survive_lost_answers_and_server_errors,
        test_background_uploads_finish_by_fsync_and_by_unmount,
        test_a_read_only_mount_refuses_writes,
        test_umount_returns_once_the_daemon_has_written_everything,
    ])
