"""Real kernel mounts in lazy mode: listings on demand, attr_timeout, negative cache."""
import os
import subprocess
import tempfile
import time

import harness


def put(emu, bucket, key, data):
    with tempfile.NamedTemporaryFile() as f:
        f.write(data)
        f.flush()
        out = subprocess.run([harness.OSSURING, "put", f.name, f"oss://{bucket}/{key}",
                              "--endpoint", emu.endpoint, "--path-style", "--access-key-id",
                              harness.AK, "--access-key-secret", harness.SK],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr


def test_ls_l_costs_one_listing_and_no_head_per_entry():
    with harness.Emulator({"data": "imagenet:2:300"}) as emu, \
            harness.Mount(emu, "data", args=["--mode", "lazy"]) as m:
        emu.reset()
        d = m.path("train", sorted(os.listdir(m.path("train")))[0])
        emu.reset()
        out = subprocess.run(["ls", "-l", d], capture_output=True, text=True, check=True)
        assert out.stdout.count(".JPEG") == 300
        req = emu.requests()
        assert req["HeadObject"] == 0 and req["GetObjectMeta"] == 0, req
        assert 1 <= req["ListObjectsV2"] <= 2, req  # one page of 1,000 keys
        for n in os.listdir(d):
            os.stat(os.path.join(d, n))
        assert emu.requests("HeadObject") + emu.requests("GetObjectMeta") == 0


def test_a_change_is_seen_after_attr_timeout_and_not_before():
    with harness.Emulator({"mem": "memory"}) as emu:
        put(emu, "mem", "dir/file.txt", b"x" * 100)
        with harness.Mount(emu, "mem", args=["--mode", "lazy", "--attr-timeout", "2"]) as m:
            p = m.path("dir", "file.txt")
            assert os.stat(p).st_size == 100
            put(emu, "mem", "dir/file.txt", b"y" * 250)
            assert os.stat(p).st_size == 100  # cached attributes, inside attr_timeout
            time.sleep(2.6)
            assert os.stat(p).st_size == 250
            with open(p, "rb") as f:
                assert f.read() == b"y" * 250


def test_rewritten_content_is_read_after_attr_timeout_in_every_open_mode():
    # Same size, rewritten: only the ETag (folded into mtime's nanoseconds) tells the kernel to
    # drop the pages it kept (noopen and read modes keep the page cache across opens).
    for mode in ["noopen", "read", "passthrough"]:
        with harness.Emulator({"mem": "memory"}) as emu:
            put(emu, "mem", "f.bin", b"a" * 5000)
            args = ["--mode", "lazy", "--attr-timeout", "1", "--open-mode", mode]
            with harness.Mount(emu, "mem", args=args) as m:
                p = m.path("f.bin")
                for _ in range(2):
                    with open(p, "rb") as f:
                        assert f.read() == b"a" * 5000, mode
                put(emu, "mem", "f.bin", b"b" * 5000)
                time.sleep(1.6)
                with open(p, "rb") as f:
                    assert f.read() == b"b" * 5000, mode

def test_negative_cache_obeys_its_timeout():
    with harness.Emulator({"mem": "memory"}) as emu:
        put(emu, "mem", "present.txt", b"here")
        args = ["--mode", "lazy", "--oss_negative_cache_timeout", "2", "--attr-timeout", "0"]
        with harness.Mount(emu, "mem", args=args) as m:
            p = m.path("later.txt")
            assert not os.path.exists(p)
            before = emu.total_requests()
            for _ in range(20):
                assert not os.path.exists(p)
            assert emu.total_requests() == before, "negative lookups went to OSS"
            put(emu, "mem", "later.txt", b"now")
            assert not os.path.exists(p)  # still cached as missing
            time.sleep(2.6)
            assert os.path.exists(p)
            with open(p, "rb") as f:
                assert f.read() == b"now"


if __name__ == "__main__":
    harness.require_mount_privileges()
    harness.run_tests([
        test_ls_l_costs_one_listing_and_no_head_per_entry,
        test_a_change_is_seen_after_attr_timeout_and_not_before,
        test_rewritten_content_is_read_after_attr_timeout_in_every_open_mode,
        test_negative_cache_obeys_its_timeout,
    ])
