"""Real kernel mounts in index mode against the emulator: tree, bytes and request counts."""
import errno
import os
import shutil
import subprocess
import tempfile
import time

import harness

IMAGENET = "imagenet:4:50"  # 200 files of ~110 KB in 4 class folders


def cli_listing(emu, bucket):
    """{key: size} from `ossuring ls -r` (the CLI talks to the emulator directly)."""
    out = subprocess.run([harness.OSSURING, "ls", f"oss://{bucket}/", "-r", "--endpoint",
                          emu.endpoint, "--path-style", "--access-key-id", harness.AK,
                          "--access-key-secret", harness.SK], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    keys = {}
    for line in out.stdout.splitlines():
        parts = line.split(None, 2)
        if len(parts) == 3 and parts[0].isdigit():
            keys[parts[2]] = int(parts[0])
    return keys


def walk_files(root):
    files = {}
    for d, _, names in os.walk(root):
        for n in names:
            p = os.path.join(d, n)
            files[os.path.relpath(p, root)] = os.stat(p).st_size
    return files


def test_tree_matches_listing_and_bytes_match_content():
    with harness.Emulator({"data": IMAGENET}) as emu, harness.Mount(emu, "data") as m:
        expected = cli_listing(emu, "data")
        assert len(expected) == 200, len(expected)
        assert walk_files(m.dir) == expected
        found = subprocess.run(["find", m.dir, "-type", "f"], capture_output=True, text=True,
                               check=True).stdout.split()
        assert sorted(os.path.relpath(p, m.dir) for p in found) == sorted(expected)
        ls = subprocess.run(["ls", "-lR", m.dir], capture_output=True, text=True, check=True)
        assert ls.stdout.count(".JPEG") == 200
        for key, size in list(expected.items())[:40]:
            with open(m.path(key), "rb") as f:
                assert f.read() == harness.synthetic_content(key, size), key
        copy = tempfile.mkdtemp(prefix="ossuring-cp-")
        try:
            subprocess.run(["cp", "-r", m.path("train"), copy], check=True, timeout=120)
            assert walk_files(os.path.join(copy, "train")) == {
                k[len("train/"):]: v for k, v in expected.items()}
        finally:
            shutil.rmtree(copy)


def test_metadata_after_index_costs_zero_requests():
    with harness.Emulator({"flat": "flat:10000:1024"}) as emu, harness.Mount(emu, "flat") as m:
        built = emu.requests()
        assert built["ListObjectsV2"] >= 1
        assert built["ListObjectsV2"] <= 20, built
        before = emu.total_requests()
        names = os.listdir(m.dir)
        assert len(names) == 10000
        for n in names:
            assert os.stat(os.path.join(m.dir, n)).st_size == 1024
        subprocess.run(["find", m.dir, "-name", "*7*"], capture_output=True, check=True)
        for i in range(100):
            try:
                os.stat(m.path(f"missing-{i}"))
                raise AssertionError("a missing file was found")
            except FileNotFoundError:
                pass
        assert emu.total_requests() == before, emu.requests()


def test_each_small_file_read_costs_one_get_and_passthrough_serves_reads():
    cache = tempfile.mkdtemp(prefix="ossuring-cache-")
    try:
        with harness.Emulator({"data": IMAGENET}) as emu, \
                harness.Mount(emu, "data", args=["--cache-dir", cache, "--open-mode",
                                                  "passthrough", "--prefetch", "off"]) as m:
            keys = sorted(walk_files(m.dir))[:50]
            before = emu.requests("GetObject")
            for k in keys:
                with open(m.path(k), "rb") as f:
                    data = f.read()
                assert data == harness.synthetic_content(k, len(data)), k
            assert emu.requests("GetObject") - before == len(keys)
            # A second read of the same files is local.
            for k in keys:
                with open(m.path(k), "rb") as f:
                    f.read()
            assert emu.requests("GetObject") - before == len(keys)
            st = m.stats()
            if st["mount"]["passthrough_granted"]:
                assert st["fuse"]["passthrough_opens"] >= len(keys), st["fuse"]
                assert st["fuse"]["daemon_reads"] == 0, st["fuse"]
    finally:
        shutil.rmtree(cache)


def test_odd_names_from_a_folder_bucket():
    src = tempfile.mkdtemp(prefix="ossuring-odd-")
    names = ["with space.txt", "plus+sign.txt", "per%cent.txt", "ünïcødé-文件.txt",
             "dir with space/inner+file.txt", "a" * 255]
    try:
        for i, n in enumerate(names):
            p = os.path.join(src, n)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "wb") as f:
                f.write(f"content {i}\n".encode())
        with harness.Emulator({"odd": src}) as emu, harness.Mount(emu, "odd") as m:
            for i, n in enumerate(names):
                with open(m.path(n), "rb") as f:
                    assert f.read() == f"content {i}\n".encode(), n
            assert sorted(walk_files(m.dir)) == sorted(names)
    finally:
        shutil.rmtree(src)


def bucket_writer(emu, bucket):
    """PUT/DELETE of one key on an anonymous emulator, changing the bucket behind a mount."""
    import urllib.request

    def oss(method, key, data=None):
        req = urllib.request.Request(f"{emu.endpoint}/{bucket}/{key}", data=data, method=method)
        with urllib.request.urlopen(req, timeout=30) as r:
            assert r.status in (200, 204), r.status

    return oss


def test_refresh_shows_bucket_changes_under_a_live_mount():
    with harness.Emulator({"live": "flat:0"}, anonymous=True) as emu:
        oss = bucket_writer(emu, "live")
        oss("PUT", "a.txt", b"one")
        oss("PUT", "d/x.txt", b"x")
        with harness.Mount(emu, "live", args=["--refresh", "2", "--access-key-id", harness.AK,
                                              "--access-key-secret", harness.SK]) as m:
            assert sorted(os.listdir(m.dir)) == ["a.txt", "d"]
            assert os.listdir(m.path("d")) == ["x.txt"]
            with open(m.path("a.txt"), "rb") as f:
                assert f.read() == b"one"
            # The bucket changes behind the mount.
            oss("PUT", "a.txt", b"three")
            oss("PUT", "b.txt", b"bee")
            oss("PUT", "d/y.txt", b"why")
            oss("DELETE", "d/x.txt")
            emu.reset()
            out = subprocess.run([harness.OSSURING, "refresh", m.dir], capture_output=True,
                                 text=True, timeout=60)
            assert out.returncode == 0, out.stderr
            assert '"objects":3' in out.stdout, out.stdout
            assert emu.requests("ListObjectsV2") >= 1
            # Listings change at once (the kernel is told to drop its cached ones)...
            assert sorted(os.listdir(m.dir)) == ["a.txt", "b.txt", "d"]
            assert os.listdir(m.path("d")) == ["y.txt"]
            # ...and names the kernel already resolved, within the --refresh interval.
            time.sleep(2.5)
            with open(m.path("a.txt"), "rb") as f:
                assert f.read() == b"three"
            with open(m.path("d", "y.txt"), "rb") as f:
                assert f.read() == b"why"
            assert not os.path.exists(m.path("d", "x.txt"))
            assert m.stats()["fs"]["index_refreshes"] >= 1
            assert "index_refreshed" in m.log_text()


def test_refresh_on_demand_updates_names_the_kernel_already_resolved():
    # Without --refresh the kernel may keep entries for a year; `ossuring refresh` tells it to
    # look every name up again (FUSE_NOTIFY_INC_EPOCH), found and missing ones alike.
    with harness.Emulator({"still": "flat:0"}, anonymous=True) as emu:
        oss = bucket_writer(emu, "still")
        oss("PUT", "a.txt", b"one")
        oss("PUT", "d/x.txt", b"x")
        oss("PUT", "same.txt", b"same")
        with harness.Mount(emu, "still", args=["--access-key-id", harness.AK,
                                               "--access-key-secret", harness.SK]) as m:
            # The kernel resolves and caches these names, and the miss.
            assert os.stat(m.path("a.txt")).st_size == 3
            assert os.stat(m.path("d", "x.txt")).st_size == 1
            same_ino = os.stat(m.path("same.txt")).st_ino
            assert not os.path.exists(m.path("b.txt"))

            def refresh():
                out = subprocess.run([harness.OSSURING, "refresh", m.dir], capture_output=True,
                                     text=True, timeout=60)
                assert out.returncode == 0, out.stderr

            # Nothing changed: the kernel keeps its inodes.
            refresh()
            assert os.stat(m.path("same.txt")).st_ino == same_ino
            assert "changed=no" in m.log_text()

            oss("PUT", "a.txt", b"three")
            oss("PUT", "b.txt", b"bee")
            oss("DELETE", "d/x.txt")
            refresh()
            # At once, with no timeout to wait for.
            assert os.stat(m.path("a.txt")).st_size == 5
            with open(m.path("a.txt"), "rb") as f:
                assert f.read() == b"three"
            with open(m.path("b.txt"), "rb") as f:
                assert f.read() == b"bee"
            assert not os.path.exists(m.path("d", "x.txt"))
            assert "kernel_names_kept" not in m.log_text()


def test_mount_through_mount_fuse3_as_fstab_does():
    # An fstab line of type fuse.ossuring makes mount(8) run mount.fuse3, which runs
    # `ossuring oss://... MNT -o OPTIONS` found in PATH. The build's binary is not in PATH, so
    # this names it in the source (`PROGRAM#SOURCE` with type fuse): the same mount.fuse3 path.
    with harness.Emulator({"data": "flat:20:300"}) as emu:
        mnt = tempfile.mkdtemp(prefix="ossuring-fstab-")
        opts = (f"ro,oss_endpoint={emu.endpoint},use_path_request_style,"
                f"oss_access_key_id={harness.AK},oss_access_key_secret={harness.SK}")
        # Output to a file, not a pipe: the daemon keeps stderr for its log.
        log = tempfile.TemporaryFile(mode="w+")
        rc = subprocess.run(["mount", "-t", "fuse", f"{harness.OSSURING}#oss://data/", mnt,
                             "-o", opts], stdout=log, stderr=log, timeout=60).returncode
        try:
            log.seek(0)
            assert rc == 0, log.read()
            assert os.path.ismount(mnt)
            with open("/proc/self/mounts") as f:
                line = next(l for l in f if f" {mnt} " in l)
            assert line.split()[2] == "fuse.ossuring", line  # as our mount(2) names it
            assert harness.SK not in line  # the secret is not shown in the mount table
            names = sorted(os.listdir(mnt))
            assert len(names) == 20
            with open(os.path.join(mnt, names[3]), "rb") as f:
                assert f.read() == harness.synthetic_content(names[3], 300)
        finally:
            subprocess.run([harness.OSSURING, "umount", mnt], capture_output=True, timeout=60)
            if os.path.ismount(mnt):
                subprocess.run(["umount", "-l", mnt], capture_output=True)
            os.rmdir(mnt)

def test_metrics_port_serves_prometheus_text():
    import socket
    import urllib.request
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with harness.Emulator({"data": "flat:5:100"}) as emu, \
            harness.Mount(emu, "data", args=["--metrics-port", str(port)]) as m:
        for n in os.listdir(m.dir):
            with open(m.path(n), "rb") as f:
                f.read()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
            text = r.read().decode()
        assert "ossuring_fuse_requests_total" in text, text[:500]
        assert 'ossuring_oss_requests_total{api="GetObject"} 5' in text, text[:2000]


def test_read_only_mount_refuses_writes():
    with harness.Emulator({"data": "flat:10:100"}) as emu, harness.Mount(emu, "data") as m:
        name = os.listdir(m.dir)[0]
        for action in (lambda: open(m.path("new-file"), "wb"),
                       lambda: open(m.path(name), "ab"),
                       lambda: os.mkdir(m.path("newdir")),
                       lambda: os.unlink(m.path(name))):
            try:
                action()
                raise AssertionError("a write succeeded on a read-only mount")
            except OSError as e:
                assert e.errno in (errno.EROFS, errno.EACCES, errno.EPERM), e


def test_unmount_with_open_files_and_remount():
    with harness.Emulator({"data": "flat:20:4096"}) as emu:
        m = harness.Mount(emu, "data")
        m.__enter__()
        try:
            name = sorted(os.listdir(m.dir))[0]
            held = open(m.path(name), "rb")
            assert len(held.read(10)) == 10
        finally:
            m.__exit__(None, None, None)
        held.close()
        assert not os.path.ismount(m.dir)
        with harness.Mount(emu, "data") as again:
            assert len(os.listdir(again.dir)) == 20


def test_daemon_killed_readers_get_an_error_and_umount_cleans_up():
    with harness.Emulator({"data": "flat:5:100"}) as emu:
        with harness.Mount(emu, "data") as m:
            pid = int(subprocess.run(["pgrep", "-f", f"ossuring mount .* {m.dir}"],
                                     capture_output=True, text=True).stdout.split()[0])
            os.kill(pid, 9)
            try:
                os.listdir(m.dir)
                raise AssertionError("a dead mount answered")
            except OSError as e:
                assert e.errno in (errno.ENOTCONN, errno.ECONNABORTED, errno.EIO), e
            rc = subprocess.run([harness.OSSURING, "umount", m.dir], capture_output=True,
                                text=True, timeout=30)
            assert rc.returncode == 0, rc.stderr
            assert not os.path.ismount(m.dir)


if __name__ == "__main__":
    harness.require_mount_privileges()
    harness.run_tests([
        test_tree_matches_listing_and_bytes_match_content,
        test_metadata_after_index_costs_zero_requests,
        test_each_small_file_read_costs_one_get_and_passthrough_serves_reads,
        test_odd_names_from_a_folder_bucket,
        test_refresh_shows_bucket_changes_under_a_live_mount,
        test_refresh_on_demand_updates_names_the_kernel_already_resolved,
        test_mount_through_mount_fuse3_as_fstab_does,
        test_metrics_port_serves_prometheus_text,
        test_read_only_mount_refuses_writes,
        test_unmount_with_open_files_and_remount,
        test_daemon_killed_readers_get_an_error_and_umount_cleans_up,
    ])
