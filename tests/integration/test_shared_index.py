"""--shared-index with real daemons against the emulator: one listing for a group of mounts,
image reads for the others, refused images fall back to a listing, every mount serves exactly
the bucket's keys."""
import os
import threading
import time
import urllib.request

import harness
from test_mount_index import walk_files

SPEC = "imagenet:4:50"  # 200 keys under train/
PREFIX = "train/"
IMAGE = "index/train.img"  # outside the prefix: never listed by the mounts
# No prefetch: the GETs counted are the image's only. Keys given also to an --anonymous
# emulator (the one the tests write to with plain HTTP).
BASE = ["--prefetch", "off", "--access-key-id", harness.AK, "--access-key-secret", harness.SK]


def start_group(emu, n, args):
    """Starts n daemons at once (threads); returns the entered Mount objects."""
    mounts = [harness.Mount(emu, "data", PREFIX, args=list(args)) for _ in range(n)]
    errors = []

    def enter(m):
        try:
            m.__enter__()
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=enter, args=(m,)) for m in mounts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        unmount_all(mounts)
        raise errors[0]
    return mounts


def mount_all(emu, n, extra=()):
    return start_group(emu, n, [*BASE, "--shared-index", IMAGE, *extra])


def unmount_all(mounts):
    for m in mounts:
        if m.dir and os.path.ismount(m.dir):
            m.__exit__(None, None, None)


def plain_listing(emu):
    """The tree a mount without the image serves, and the LISTs one listing costs."""
    emu.reset()
    with harness.Mount(emu, "data", PREFIX, args=BASE) as m:
        files = walk_files(m.dir)
    lists = emu.requests("ListObjectsV2")
    emu.reset()
    return files, lists


def put_object(emu, key, body):
    req = urllib.request.Request(f"{emu.endpoint}/data/{key}", data=body, method="PUT")
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200, r.status


def test_group_lists_once():
    # 100 ms per request: the three start while the first is still listing, so the others lose
    # the lease and wait for its image.
    with harness.Emulator({"data": SPEC}, extra_args=["--latency", "100"]) as emu:
        expected, one_listing = plain_listing(emu)
        assert len(expected) == 200, len(expected)
        assert one_listing >= 1
        mounts = mount_all(emu, 3)
        try:
            req = emu.requests()
            # One listing for the three, the others read the image.
            assert req["ListObjectsV2"] == one_listing, req
            assert 3 <= req["GetObject"] <= 3 + 2, req  # a miss each, then at most 2 reads
            assert req["PutObject"] <= 3 + 1, req  # lease attempts, and one image
            for m in mounts:
                assert walk_files(m.dir) == expected
            logs = [m.log_text() for m in mounts]
            assert sum("shared_index_published" in t for t in logs) == 1
            assert sum("shared_index_read" in t for t in logs) == 2
            assert not any("shared_index_refused" in t for t in logs)
        finally:
            unmount_all(mounts)
        # A mount that comes later: one GET, no LIST, no PUT.
        emu.reset()
        with harness.Mount(emu, "data", PREFIX, args=[*BASE, "--shared-index", IMAGE]) as m:
            req = emu.requests()
            assert req["ListObjectsV2"] == 0, req
            assert req["GetObject"] == 1, req
            assert req["PutObject"] == 0, req
            assert walk_files(m.dir) == expected
            # The image and its lease are outside the prefix: never served.
            assert not os.path.exists(m.path("index"))


def test_refused_image_falls_back_to_listing():
    with harness.Emulator({"data": SPEC}, anonymous=True) as emu:
        expected, one_listing = plain_listing(emu)
        for bad in (b"", b"OSSUIDX\n" + b"\0" * 200, os.urandom(4096)):
            put_object(emu, IMAGE, bad)
            emu.reset()
            with harness.Mount(emu, "data", PREFIX, args=[*BASE, "--shared-index", IMAGE]) as m:
                assert emu.requests("ListObjectsV2") == one_listing
                assert walk_files(m.dir) == expected
                assert "shared_index_refused" in m.log_text()
                assert "shared_index_published" in m.log_text()
            # The fallback published a good image: the next mount reads it.
            emu.reset()
            with harness.Mount(emu, "data", PREFIX, args=[*BASE, "--shared-index", IMAGE]) as m:
                assert emu.requests("ListObjectsV2") == 0
                assert walk_files(m.dir) == expected
            # The next round's mount must race for the lease again: drop this interval's.
            epoch = int(time.time()) // 3600
            for e in (epoch - 1, epoch, epoch + 1):
                req = urllib.request.Request(f"{emu.endpoint}/data/{IMAGE}.lease.{e}",
                                             method="DELETE")
                urllib.request.urlopen(req, timeout=10).close()


def test_one_relisting_per_interval_for_the_group():
    # Three mounts check every second; the image may be 2 s old (half of a 4 s interval): one
    # mount per interval wins the lease and re-lists, the others take its image by ETag.
    with harness.Emulator({"data": SPEC}, anonymous=True) as emu:
        _, one_listing = plain_listing(emu)
        mounts = mount_all(emu, 3, extra=["--refresh", "1", "--shared-index-interval", "4"])
        try:
            emu.reset()
            start = time.time()
            put_object(emu, PREFIX + "late/new.bin", b"fresh")
            deadline = start + 20
            while time.time() < deadline and not all(
                    os.path.exists(x.path("late", "new.bin")) for x in mounts):
                time.sleep(0.2)
            for x in mounts:
                with open(x.path("late", "new.bin"), "rb") as f:
                    assert f.read() == b"fresh"
            time.sleep(max(0.0, start + 12 - time.time()))
            window = time.time() - start
            req = emu.requests()
            # At most one listing per 4 s interval begun in the window (each mount listing on
            # its own would be 3 per second).
            intervals = int(window // 4) + 2
            assert 1 * one_listing <= req["ListObjectsV2"] <= intervals * one_listing, (req, window)
            logs = [m.log_text() for m in mounts]
            assert sum(t.count("shared_index_published") for t in logs) <= intervals + 1
            assert not any("shared_index_refused" in t for t in logs)
        finally:
            unmount_all(mounts)


if __name__ == "__main__":
    harness.require_mount_privileges()
    harness.run_tests([test_group_lists_once, test_refused_image_falls_back_to_listing,
                       test_one_relisting_per_interval_for_the_group])
