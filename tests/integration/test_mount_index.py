"""Real kernel mounts in index mode against the emulator: tree, bytes and request counts."""
import errno
import json
import os
import shutil
import signal
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
        # The blob cache: the five files read are cached whole, each fetched by one GET.
        assert "\nossuring_cache_blobs 5\n" in text, text
        assert "\nossuring_cache_misses_total 5\n" in text, text
        assert "\nossuring_cache_bytes 500\n" in text, text
        for name in ("ossuring_cache_limit_bytes", "ossuring_cache_hits_total",
                     "ossuring_cache_evictions_total"):
            assert f"\n{name} " in text, (name, text)


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


def find_mode(doc):
    """The mount's mode ("index" or "lazy") anywhere in `ossuring stats --json`."""
    if isinstance(doc, dict):
        if isinstance(doc.get("mode"), str):
            return doc["mode"]
        for v in doc.values():
            found = find_mode(v)
            if found:
                return found
    return None


def mount8(argv, mnt, opts, env=None):
    """Runs mount(8) as fstab does; returns (returncode, output)."""
    log = tempfile.TemporaryFile(mode="w+")  # a file, not a pipe: the daemon keeps stderr
    rc = subprocess.run(["mount", *argv, mnt, "-o", opts], stdout=log, stderr=log, timeout=60,
                        env=env).returncode
    log.seek(0)
    return rc, log.read()


def unmount(mnt):
    subprocess.run([harness.OSSURING, "umount", mnt], capture_output=True, timeout=60)
    if os.path.ismount(mnt):
        subprocess.run(["umount", "-l", mnt], capture_output=True)


def test_fstab_forms_mount_read_only_unless_writable():
    # mount(8) adds rw to every mount without ro: that is no request to write. fstab entries of
    # type fuse.ossuring and `mount -t fuse.ossuring` go through mount.fuse3 exactly as
    # `mount -t fuse PROG#SOURCE` does (mount.fuse3 runs `ossuring SOURCE MNT -o rw,...`, found
    # in its own fixed PATH, where the build's binary is not): this form stands for all of them.
    base = ("oss_endpoint=emu_endpoint_placeholder,use_path_request_style,"
        f"oss_access_key_id={harness.AK},oss_access_key_secret={harness.SK}")
    forms = [("fuse PROG#SOURCE", ["-t", "fuse", f"{harness.OSSURING}#oss://data/"], ""),
         ("fuse PROG#SOURCE, writable", ["-t", "fuse", f"{harness.OSSURING}#oss://data/"],
          ",writable")]
    with harness.Emulator({"data": "flat:5:100"}) as emu:
        for what, argv, extra in forms:
            mnt = tempfile.mkdtemp(prefix="ossuring-fstab-")
            opts = base.replace("emu_endpoint_placeholder", emu.endpoint) + extra
            try:
                rc, out = mount8(argv, mnt, opts)
                assert rc == 0, (what, out)
                st = subprocess.run([harness.OSSURING, "stats", mnt, "--json"],
                                    capture_output=True, text=True, timeout=30)
                assert st.returncode == 0, st.stderr
                mode = find_mode(json.loads(st.stdout))
                if extra:
                    assert mode == "lazy", (what, mode)
                else:
                    assert mode == "index", (what, mode)
                    assert "the rw that mount(8) adds" in out, (what, out)
                    try:
                        open(os.path.join(mnt, "x"), "wb").close()
                        raise AssertionError(f"{what}: a write succeeded")
                    except OSError as e:
                        assert e.errno in (errno.EROFS, errno.EACCES, errno.EPERM), e
                    assert "x" not in os.listdir(mnt)
            finally:
                unmount(mnt)
                os.rmdir(mnt)


def test_rw_on_the_ossuring_command_line_still_writes():
    with harness.Emulator({"data": "flat:3:100"}) as emu, \
            harness.Mount(emu, "data", args=["-o", "rw"]) as m:
        assert find_mode(m.stats()) == "lazy"


def test_a_mountpoint_that_is_a_mount_or_not_empty_is_refused():
    with harness.Emulator({"data": "flat:5:100"}) as emu, harness.Mount(emu, "data") as m:
        args = [harness.OSSURING, "mount", "oss://data/", m.dir, "--endpoint", emu.endpoint,
                "--path-style", "--access-key-id", harness.AK, "--access-key-secret", harness.SK]
        r = subprocess.run(args, capture_output=True, text=True, timeout=60)
        assert r.returncode == 1, r
        assert "already a mount point" in r.stderr, r.stderr
        assert "fuse.ossuring oss://data/" in r.stderr, r.stderr
        assert f"ossuring umount {m.dir}" in r.stderr, r.stderr
        assert len(os.listdir(m.dir)) == 5  # the first mount still serves
        full = tempfile.mkdtemp(prefix="ossuring-full-")
        try:
            with open(os.path.join(full, "local.txt"), "w") as f:
                f.write("x")
            args[3] = full
            r = subprocess.run(args, capture_output=True, text=True, timeout=60)
            assert r.returncode == 1, r
            assert "is not empty" in r.stderr and "-o nonempty" in r.stderr, r.stderr
            assert not os.path.ismount(full)
            # Output to a file, not a pipe: the daemon keeps stderr for its log.
            log = tempfile.TemporaryFile(mode="w+")
            rc = subprocess.run(args + ["-o", "nonempty"], stdout=log, stderr=log, timeout=60)
            log.seek(0)
            out = log.read()
            assert rc.returncode == 0, out
            assert "hides its files" in out, out
            assert len(os.listdir(full)) == 5
        finally:
            unmount(full)
            shutil.rmtree(full)


def test_messages_say_what_to_do_next():
    with harness.Emulator({"data": IMAGENET}) as emu:
        base = ["--endpoint", emu.endpoint, "--path-style", "--access-key-id", harness.AK,
                "--access-key-secret", harness.SK]
        missing = "/tmp/ossuring-no-such-folder-xyz"
        r = subprocess.run([harness.OSSURING, "mount", "oss://data/", missing, *base],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 1 and "does not exist" in r.stderr, r.stderr
        with harness.Mount(emu, "data") as m:
            # warmup on a folder inside the mount finds the mount root.
            sub = os.path.join(m.dir, "train", sorted(os.listdir(m.path("train")))[0])
            w = subprocess.run([harness.OSSURING, "warmup", sub, "--no-progress"],
                               capture_output=True, text=True, timeout=120)
            assert w.returncode == 0, w.stderr
            assert "done" in w.stdout, w.stdout
            files = len(os.listdir(sub))
            assert f"files {files}/{files}" in w.stdout, w.stdout
            w = subprocess.run([harness.OSSURING, "warmup", m.dir, "no-such", "--no-progress"],
                               capture_output=True, text=True, timeout=120)
            assert w.returncode == 1
            assert "warmup: warmup:" not in w.stderr, w.stderr
            assert "no-such" in w.stderr, w.stderr
            pid = int(subprocess.run(["pgrep", "-f", f"ossuring mount .* {m.dir}"],
                                     capture_output=True, text=True).stdout.split()[0])
            os.kill(pid, 9)
            time.sleep(0.2)
            st = subprocess.run([harness.OSSURING, "stats", m.dir], capture_output=True,
                                text=True, timeout=30)
            assert st.returncode == 1
            assert "has exited" in st.stderr and f"ossuring umount {m.dir}" in st.stderr, st.stderr
            r = subprocess.run([harness.OSSURING, "mount", "oss://data/", m.dir, *base],
                               capture_output=True, text=True, timeout=60)
            assert r.returncode == 1, r
            assert "Transport endpoint is not connected" in r.stderr, r.stderr
            assert f"run `ossuring umount {m.dir}` first" in r.stderr, r.stderr


def test_a_background_mount_never_holds_the_callers_pipe():
    # `ossuring mount ... 2>&1 | tail` must return once the mount is ready: the daemon logs to
    # its --log-dir (or the default folder), never into the caller's stdout or stderr.
    with harness.Emulator({"data": "flat:5:100"}) as emu:
        mnt = tempfile.mkdtemp(prefix="ossuring-pipe-")
        logdir = tempfile.mkdtemp(prefix="ossuring-pipelog-")
        args = [harness.OSSURING, "mount", "oss://data/", mnt, "--endpoint", emu.endpoint,
                "--path-style", "--log-dir", logdir, "--log-file-max-count", "2"]
        # Keys from the environment: a secret on the command line is warned about (on stderr,
        # before `mount` returns, which is fine), and this test wants no log line at all there.
        env = dict(os.environ, OSS_ACCESS_KEY_ID=harness.AK, OSS_ACCESS_KEY_SECRET=harness.SK)
        try:
            for extra in ([], ["--log-dir", ""]):  # given, then the default folder
                p = subprocess.Popen(args + extra, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, env=env)
                # communicate() returns only at EOF: when no process holds the pipe any more.
                out, _ = p.communicate(timeout=60)
                assert p.returncode == 0, out
                assert os.path.ismount(mnt)
                assert b"event=" not in out, out
                assert len(os.listdir(mnt)) == 5
                unmount(mnt)
            name = "ossuring-" + mnt.strip("/").replace("/", "-") + ".log"
            logs = os.listdir(logdir)
            assert logs == [name], logs
            default = os.path.join("/var/log/ossuring", name)  # as root
            assert os.path.exists(default)
            os.unlink(default)
            with open(os.path.join(logdir, logs[0])) as f:
                text = f.read()
            assert text.count("event=index_built") == 1, text
            assert "event=mounted" in text and "event=unmounted" in text, text
        finally:
            unmount(mnt)
            os.rmdir(mnt)
            shutil.rmtree(logdir)


def test_warmup_prints_a_summary_and_stats_reads_for_people():
    with harness.Emulator({"data": "flat:20:3000"}) as emu, harness.Mount(emu, "data") as m:
        # Not on a terminal: no progress line at all, one summary line at the end.
        for extra in ([], ["--no-progress"]):
            w = subprocess.run([harness.OSSURING, "warmup", m.dir, *extra], capture_output=True,
                               text=True, timeout=120)
            assert w.returncode == 0, w.stderr
            assert w.stderr == "", w.stderr
            lines = w.stdout.splitlines()
            assert len(lines) == 1, w.stdout
            assert lines[0].startswith("warmup done: files 20/20, 58.6 KiB in "), lines
            assert lines[0].endswith(", 0 failed"), lines
        w = subprocess.run([harness.OSSURING, "warmup", m.dir, "--json"], capture_output=True,
                           text=True, timeout=120)
        assert w.returncode == 0, w.stderr
        last = json.loads(w.stdout.splitlines()[-1])
        assert last["done"] and last["files_done"] == 20 and last["files_failed"] == 0, last
        st = subprocess.run([harness.OSSURING, "stats", m.dir], capture_output=True, text=True,
                            timeout=30)
        assert st.returncode == 0, st.stderr
        out = st.stdout
        assert "{" not in out, out  # a report, not the JSON
        assert "58.6 KiB of 768 MiB" in out, out  # cache fill against its budget
        assert "20 blobs" in out, out
        assert "hit rate" in out and "(40 hits, 20 GETs)" in out, out
        assert "GetObject" in out and "ListObjectsV2" in out and "p99" in out, out
        assert "errors    0 FUSE requests answered an error, 0 failed OSS requests" in out, out
        # --json stays the machines' document.
        assert json.loads(subprocess.run([harness.OSSURING, "stats", m.dir, "--json"],
                                         capture_output=True, text=True,
                                         timeout=30).stdout)["cache"]["blobs"] == 20


def test_a_foreground_mount_tells_systemd_when_it_is_ready():
    import socket
    with harness.Emulator({"data": "flat:5:100"}) as emu:
        mnt = tempfile.mkdtemp(prefix="ossuring-notify-")
        sock_path = mnt + ".notify"
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.bind(sock_path)
            sock.settimeout(60)
            env = dict(os.environ, NOTIFY_SOCKET=sock_path, OSS_ACCESS_KEY_ID=harness.AK,
                       OSS_ACCESS_KEY_SECRET=harness.SK)
            log = tempfile.TemporaryFile()
            p = subprocess.Popen([harness.OSSURING, "mount", "oss://data/", mnt, "-f",
                                  "--endpoint", emu.endpoint, "--path-style"], env=env,
                                 stdout=log, stderr=log)
            try:
                msg = sock.recv(256).decode()
                assert "READY=1" in msg.split("\n"), msg
                # READY=1 comes once the mount serves: no waiting needed here.
                assert os.path.ismount(mnt)
                assert len(os.listdir(mnt)) == 5
            finally:
                p.send_signal(signal.SIGTERM)
                p.wait(timeout=60)
                unmount(mnt)
                os.rmdir(mnt)
                os.unlink(sock_path)


def test_commands_reach_a_mount_started_with_its_own_control_socket():
    sock = os.path.join(tempfile.mkdtemp(prefix="ossuring-ctl-"), "ctl.sock")
    with harness.Emulator({"data": "flat:20:300"}) as emu:
        with harness.Mount(emu, "data", args=["--control-socket", sock]) as m:
            r = subprocess.run([harness.OSSURING, "stats", m.dir, "--json"], capture_output=True,
                               text=True, timeout=30)
            assert r.returncode != 0, r.stdout  # the default path finds nothing
            for cmd in (["stats", m.dir, "--json", "--control-socket", sock],
                        ["refresh", m.dir, f"--control-socket={sock}"],
                        ["warmup", m.dir, "--no-progress", "--control-socket", sock]):
                r = subprocess.run([harness.OSSURING] + cmd, capture_output=True, text=True,
                                   timeout=60)
                assert r.returncode == 0, (cmd, r.stdout, r.stderr)
            r = subprocess.run([harness.OSSURING, "stats", m.dir, "--control-socket"],
                               capture_output=True, text=True, timeout=30)
            assert r.returncode == 2 and "needs a path" in r.stderr, r.stderr


def test_a_user_who_cannot_mount_is_told_before_the_listing():
    # The endpoint answers nothing (port 1): a message about the mount itself proves the check
    # ran before the bucket's listing, which would fail (or take minutes) first otherwise.
    if not shutil.which("setpriv"):
        return
    base = tempfile.mkdtemp(prefix="ossuring-nonroot-")
    os.chmod(base, 0o755)
    rootowned = os.path.join(base, "root-owned")
    os.mkdir(rootowned)
    env = dict(os.environ, HOME=base, OSS_ACCESS_KEY_ID="a", OSS_ACCESS_KEY_SECRET="b")
    as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    r = subprocess.run(as_nobody + [harness.OSSURING, "mount", "oss://data/", rootowned,
                                    "--endpoint", "http://127.0.0.1:1"],
                       capture_output=True, text=True, env=env, timeout=30)
    assert r.returncode == 1 and "needs write access" in r.stderr, r.stderr
    owned = os.path.join(base, "owned")
    os.mkdir(owned)
    os.chown(owned, 65534, 65534)
    with open("/etc/fuse.conf") as f:
        allowed = any(l.strip().startswith("user_allow_other") for l in f)
    if not allowed:
        r = subprocess.run(as_nobody + [harness.OSSURING, "mount", "oss://data/", owned,
                                        "--endpoint", "http://127.0.0.1:1", "-o", "allow_other"],
                           capture_output=True, text=True, env=env, timeout=30)
        assert r.returncode == 1 and "user_allow_other" in r.stderr, r.stderr
    shutil.rmtree(base)


def test_a_mountpoint_with_a_space_is_found_by_umount_and_stats():
    # mountinfo writes a space as \\040: the name must be unescaped before it is compared.
    base = tempfile.mkdtemp(prefix="ossuring-space-")
    mnt = os.path.join(base, "my data")
    os.mkdir(mnt)
    with harness.Emulator({"data": "flat:5:100"}) as emu:
        r = subprocess.run([harness.OSSURING, "mount", "oss://data/", mnt, "--endpoint",
                            emu.endpoint, "--path-style", "--log-dir", base, "--access-key-id",
                            harness.AK, "--access-key-secret", harness.SK],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        try:
            assert len(os.listdir(mnt)) == 5
            r = subprocess.run([harness.OSSURING, "stats", mnt, "--json"], capture_output=True,
                               text=True, timeout=30)
            assert r.returncode == 0, r.stderr
            r = subprocess.run([harness.OSSURING, "umount", mnt], capture_output=True, text=True,
                               timeout=60)
            assert r.returncode == 0, r.stderr
            assert not os.path.ismount(mnt)
        finally:
            if os.path.ismount(mnt):
                subprocess.run(["umount", "-l", mnt], capture_output=True)
    shutil.rmtree(base)


def test_every_command_has_help():
    for cmd in ["mount", "umount", "stats", "warmup", "refresh", "ls", "stat", "get", "put"]:
        for argv in (["help", cmd], [cmd, "--help"], [cmd, "-h"]):
            r = subprocess.run([harness.OSSURING, *argv], capture_output=True, text=True,
                               timeout=30)
            assert r.returncode == 0, (argv, r.stderr)
            assert r.stdout.startswith("usage: ossuring "), (argv, r.stdout)
            assert "docs/" not in r.stdout
    r = subprocess.run([harness.OSSURING, "--help"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and "ossuring help COMMAND" in r.stdout, r.stdout
    assert "docs/" not in r.stdout


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
        test_fstab_forms_mount_read_only_unless_writable,
        test_rw_on_the_ossuring_command_line_still_writes,
        test_a_mountpoint_that_is_a_mount_or_not_empty_is_refused,
        test_messages_say_what_to_do_next,
        test_commands_reach_a_mount_started_with_its_own_control_socket,
        test_a_user_who_cannot_mount_is_told_before_the_listing,
        test_a_mountpoint_with_a_space_is_found_by_umount_and_stats,
        test_every_command_has_help,
        test_a_background_mount_never_holds_the_callers_pipe,
        test_warmup_prints_a_summary_and_stats_reads_for_people,
        test_a_foreground_mount_tells_systemd_when_it_is_ready,
    ])
