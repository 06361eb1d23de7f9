"""Endpoints as users type them: region host names, virtual-hosted buckets, verified TLS, HTTP/2 by
ALPN or HTTP/1.1, IPv6, names that do not resolve or move, in a private network namespace whose
/etc/hosts sends the names to emulators (tests/integration/networld.py). Root and /dev/fuse."""
import os
import subprocess
import sys
import tempfile
import time

import harness
from networld import IPV6, World

WORLD = World.enter()

# 3 class directories of 10 images (~2 KB): keys train/nXXXXXXXX/nXXXXXXXX_NNNNN.JPEG.
BUCKETS = {"data": "imagenet:3:10:2000", "scratch": "memory"}
KEYS_ENV = dict(os.environ, OSS_ACCESS_KEY_ID=harness.AK, OSS_ACCESS_KEY_SECRET=harness.SK)

HANGZHOU = "oss-cn-hangzhou.aliyuncs.com"
INTERNAL = "oss-cn-hangzhou-internal.aliyuncs.com"
SHENZHEN = "oss-cn-shenzhen.aliyuncs.com"
BEIJING = "oss-cn-beijing.aliyuncs.com"
SHANGHAI = "oss-cn-shanghai.aliyuncs.com"

WORLD.set_hosts({
    HANGZHOU: "127.0.0.1", f"data.{HANGZHOU}": "127.0.0.1", f"scratch.{HANGZHOU}": "127.0.0.1",
    INTERNAL: "127.0.0.1", f"data.{INTERNAL}": "127.0.0.1",
    SHENZHEN: "127.0.0.4", f"data.{SHENZHEN}": "127.0.0.4",
    BEIJING: IPV6, f"data.{BEIJING}": IPV6,  # IPv6 only
    "evil.example.net": "127.0.0.1", "data.evil.example.net": "127.0.0.1",
    f"data.{SHANGHAI}": "127.0.0.2",
})


def emulator(listen, region="cn-hangzhou", tls=True, alpn=None):
    args = ["--region", region] + (WORLD.tls_args(alpn) if tls else [])
    return harness.Emulator(BUCKETS, extra_args=args, listen=listen)


def ossuring(*args, timeout=120):
    """Runs the CLI; output through files, not pipes: a mount's daemon keeps them open."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        rc = subprocess.run([harness.OSSURING] + list(args), stdout=out, stderr=err,
                            env=KEYS_ENV, timeout=timeout).returncode
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(args, rc, out.read(), err.read())


def check_files(root, count=3):
    """Lists ROOT (the train/ prefix) and checks COUNT files byte for byte."""
    dirs = sorted(os.listdir(root))
    assert len(dirs) == 3 and all(d.startswith("n") for d in dirs), dirs
    files = sorted(os.listdir(os.path.join(root, dirs[1])))
    assert len(files) == 10, files
    for name in files[:count]:
        with open(os.path.join(root, dirs[1], name), "rb") as f:
            data = f.read()
        key = f"train/{dirs[1]}/{name}"
        assert data == harness.synthetic_content(key, len(data)), key


def transport(emu):
    st = emu.stats()
    return st["addressing"], st["protocols"], st["server_names"]


def test_readme_command_mounts_the_internal_endpoint_over_verified_h2():
    # The README's first command, word for word but for the paths: a bare endpoint is HTTPS,
    # verified against the system CA bundle, with the bucket as a virtual host.
    WORLD.trust_test_ca(True)
    try:
        with emulator("127.0.0.1:443") as emu:
            mnt = tempfile.mkdtemp(prefix="ossuring-readme-")
            r = ossuring("mount", "oss://data/train", mnt, "--endpoint", INTERNAL)
            assert r.returncode == 0, r.stderr
            try:
                check_files(mnt)
            finally:
                ossuring("umount", mnt)
            addressing, protocols, names = transport(emu)
            assert addressing["virtual_hosted"] > 0 and addressing["path_style"] == 0, addressing
            assert protocols.get("h2", 0) > 0 and "http/1.1" not in protocols, protocols
            assert list(names) == [f"data.{INTERNAL}"], names  # SNI: the bucket's host
    finally:
        WORLD.trust_test_ca(False)


def test_https_scheme_with_ca_file_mounts_the_public_endpoint():
    with emulator("127.0.0.1:443") as emu:
        with harness.Mount(emu, "data", "train/", endpoint=f"https://{HANGZHOU}", path_style=False,
                           args=["--ca-file", WORLD.ca]) as m:
            check_files(m.dir)
        addressing, protocols, names = transport(emu)
        assert addressing["path_style"] == 0 and protocols.get("h2", 0) > 0, (addressing, protocols)
        assert list(names) == [f"data.{HANGZHOU}"], names


def test_http_scheme_speaks_http11_in_clear_text_on_port_80():
    with emulator("127.0.0.1:80", tls=False) as emu:
        with harness.Mount(emu, "data", "train/", endpoint=f"http://{HANGZHOU}",
                           path_style=False) as m:
            check_files(m.dir, count=1)
        addressing, protocols, names = transport(emu)
        assert addressing["virtual_hosted"] > 0 and addressing["path_style"] == 0, addressing
        assert list(protocols) == ["http/1.1"] and not names, (protocols, names)


def test_a_server_offering_only_http11_is_spoken_to_in_http11():
    # Which protocols a region offers is not ours to assume: ALPN decides.
    with emulator("127.0.0.4:443", region="cn-shenzhen", alpn="http/1.1") as emu:
        with harness.Mount(emu, "data", "train/", endpoint=SHENZHEN, path_style=False,
                           args=["--ca-file", WORLD.ca]) as m:
            check_files(m.dir, count=2)
        _, protocols, names = transport(emu)
        assert list(protocols) == ["http/1.1"], protocols
        assert list(names) == [f"data.{SHENZHEN}"], names


def test_path_style_only_when_asked():
    with emulator("127.0.0.1:443") as emu:
        r = ossuring("ls", "oss://data/train/", "--endpoint", HANGZHOU, "--ca-file", WORLD.ca,
                     "--path-style")
        assert r.returncode == 0, r.stderr
        assert len(r.stdout.split("\n")) >= 3, r.stdout
        addressing, _, names = transport(emu)
        assert addressing["path_style"] > 0 and addressing["virtual_hosted"] == 0, addressing
        assert list(names) == [HANGZHOU], names


def test_an_unknown_ca_is_refused_with_a_clear_message():
    with emulator("127.0.0.1:443") as emu:
        r = ossuring("ls", "oss://data/train/", "--endpoint", HANGZHOU, "--retries", "1")
        assert r.returncode not in (0, -6, 134), (r.returncode, r.stderr)
        assert "certificate verification failed" in r.stderr, r.stderr
        # The emulator sends its chain up to the test CA, which nothing here trusts.
        assert "self-signed certificate in certificate chain" in r.stderr, r.stderr
        assert emu.total_requests() == 0
        mnt = tempfile.mkdtemp(prefix="ossuring-badca-")
        r = ossuring("mount", "oss://data/train", mnt, "--endpoint", HANGZHOU, "--retries", "1")
        assert r.returncode != 0 and not os.path.ismount(mnt), r.returncode
        assert "certificate verification failed" in r.stderr, r.stderr
        os.rmdir(mnt)
        # Testing only: the same server without verification.
        r = ossuring("ls", "oss://data/train/", "--endpoint", HANGZHOU, "--insecure-skip-verify")
        assert r.returncode == 0, r.stderr


def test_a_certificate_for_another_name_is_refused():
    with emulator("127.0.0.1:443") as emu:
        r = ossuring("ls", "oss://data/train/", "--endpoint", "evil.example.net", "--ca-file",
                     WORLD.ca, "--retries", "1")
        assert r.returncode not in (0, -6, 134), (r.returncode, r.stderr)
        assert "certificate verification failed" in r.stderr, r.stderr
        assert "hostname mismatch" in r.stderr, r.stderr
        assert emu.total_requests() == 0


def test_ipv6_endpoints_by_name_and_by_literal():
    with emulator(f"[{IPV6}]:443", region="cn-beijing") as emu:
        with harness.Mount(emu, "data", "train/", endpoint=BEIJING, path_style=False,
                           args=["--ca-file", WORLD.ca]) as m:
            check_files(m.dir, count=2)
        assert transport(emu)[0]["virtual_hosted"] > 0
    with emulator("[::1]:0", tls=False) as emu:
        # A literal address has no bucket host name: it is addressed path style by itself.
        assert emu.endpoint.startswith("http://[::1]:"), emu.endpoint
        r = ossuring("ls", "oss://data/train/", "-r", "--endpoint", emu.endpoint)
        assert r.returncode == 0 and r.stdout.count("JPEG") == 30, (r.stdout, r.stderr)
        assert transport(emu)[0]["path_style"] > 0


def test_a_name_that_does_not_resolve_fails_cleanly():
    start = time.time()
    r = ossuring("ls", "oss://data/", "--endpoint", "oss-cn-nowhere.aliyuncs.com")
    assert r.returncode not in (0, -6, 134), (r.returncode, r.stderr)
    assert "cannot resolve data.oss-cn-nowhere.aliyuncs.com" in r.stderr, r.stderr
    mnt = tempfile.mkdtemp(prefix="ossuring-nodns-")
    r = ossuring("mount", "oss://data/", mnt, "--endpoint", "oss-cn-nowhere.aliyuncs.com")
    assert r.returncode not in (0, -6, 134) and not os.path.ismount(mnt), r.returncode
    assert "cannot resolve data.oss-cn-nowhere.aliyuncs.com" in r.stderr, r.stderr
    os.rmdir(mnt)
    assert time.time() - start < 60


def test_new_connections_follow_a_name_that_moved():
    # data.oss-cn-shanghai moves from 127.0.0.2 to 127.0.0.3 while mounted. Once the resolver
    # cache has expired (--dns-ttl 1), a new connection goes to the new address even though the
    # old server still answers (resetting every GET, so the pooled connection is given up).
    with emulator("127.0.0.2:80", region="cn-shanghai", tls=False) as old, \
            emulator("127.0.0.3:80", region="cn-shanghai", tls=False) as new:
        with harness.Mount(old, "data", "train/", endpoint=f"http://{SHANGHAI}", path_style=False,
                           args=["--dns-ttl", "1", "--retries", "4"]) as m:
            dirs = sorted(os.listdir(m.dir))
            names = sorted(os.listdir(m.path(dirs[0])))
            with open(m.path(dirs[0], names[0]), "rb") as f:
                f.read()
            assert old.requests("GetObject") == 1 and new.total_requests() == 0
            WORLD.set_hosts({f"data.{SHANGHAI}": "127.0.0.3"})
            time.sleep(1.5)
            old.set_faults(faults=["reset=1"])
            key = f"train/{dirs[0]}/{names[1]}"
            with open(m.path(dirs[0], names[1]), "rb") as f:
                data = f.read()
            assert data == harness.synthetic_content(key, len(data))
            assert new.requests("GetObject") == 1, new.requests()
    WORLD.set_hosts({f"data.{SHANGHAI}": "127.0.0.2"})


def test_object_commands_by_name_through_the_system_trust_store():
    WORLD.trust_test_ca(True)
    try:
        with emulator("127.0.0.1:443") as emu:
            payload = os.urandom(5000)
            src = tempfile.NamedTemporaryFile(delete=False)
            src.write(payload)
            src.close()
            ep = ["--endpoint", HANGZHOU]
            r = ossuring("put", src.name, "oss://scratch/dir/a file+1.bin", *ep)
            assert r.returncode == 0, r.stderr
            r = ossuring("stat", "oss://scratch/dir/a file+1.bin", *ep)
            assert r.returncode == 0 and "5000" in r.stdout, (r.stdout, r.stderr)
            out = src.name + ".out"
            r = ossuring("get", "oss://scratch/dir/a file+1.bin", out, *ep)
            assert r.returncode == 0, r.stderr
            with open(out, "rb") as f:
                assert f.read() == payload
            r = ossuring("ls", "oss://scratch/dir/", *ep)
            assert r.returncode == 0 and "a file+1.bin" in r.stdout, r.stdout
            os.unlink(src.name)
            os.unlink(out)
            _, protocols, names = transport(emu)
            assert set(names) == {f"scratch.{HANGZHOU}"} and "h2" in protocols, (names, protocols)
    finally:
        WORLD.trust_test_ca(False)


def test_fstab_form_by_name():
    # mount(8) through mount.fuse3, as an fstab line of type fuse.ossuring does (see
    # test_mount_index.py for why the program is named in the source).
    WORLD.trust_test_ca(True)
    mnt = tempfile.mkdtemp(prefix="ossuring-fstab-")
    try:
        with emulator("127.0.0.1:443") as emu:
            opts = (f"ro,endpoint={HANGZHOU},oss_access_key_id={harness.AK},"
                    f"oss_access_key_secret={harness.SK}")
            log = tempfile.TemporaryFile(mode="w+")
            rc = subprocess.run(["mount", "-t", "fuse", f"{harness.OSSURING}#oss://data/train/",
                                 mnt, "-o", opts], stdout=log, stderr=log, timeout=60).returncode
            log.seek(0)
            assert rc == 0, log.read()
            try:
                check_files(mnt, count=2)
            finally:
                subprocess.run([harness.OSSURING, "umount", mnt], capture_output=True, timeout=60)
            assert transport(emu)[0]["virtual_hosted"] > 0
    finally:
        if os.path.ismount(mnt):
            subprocess.run(["umount", "-l", mnt], capture_output=True)
        os.rmdir(mnt)
        WORLD.trust_test_ca(False)


def test_demo_with_a_configured_bucket_uses_the_named_endpoint():
    # tools/demo.py's real-bucket path (OSS_BUCKET, OSS_ENDPOINT, keys in the environment).
    WORLD.trust_test_ca(True)
    try:
        with emulator("127.0.0.1:443") as emu:
            env = dict(KEYS_ENV, OSS_BUCKET="data", OSS_PREFIX="train/", OSS_ENDPOINT=HANGZHOU)
            r = subprocess.run([sys.executable, os.path.join(harness.ROOT, "tools", "demo.py")],
                               capture_output=True, text=True, env=env, timeout=120)
            assert r.returncode == 0, r.stdout + r.stderr
            assert "30 files" in r.stdout, r.stdout
            assert emu.requests("ListObjectsV2") > 0
    finally:
        WORLD.trust_test_ca(False)


if __name__ == "__main__":
    harness.run_tests([
        test_readme_command_mounts_the_internal_endpoint_over_verified_h2,
        test_https_scheme_with_ca_file_mounts_the_public_endpoint,
        test_http_scheme_speaks_http11_in_clear_text_on_port_80,
        test_a_server_offering_only_http11_is_spoken_to_in_http11,
        test_path_style_only_when_asked,
        test_an_unknown_ca_is_refused_with_a_clear_message,
        test_a_certificate_for_another_name_is_refused,
        test_ipv6_endpoints_by_name_and_by_literal,
        test_a_name_that_does_not_resolve_fails_cleanly,
        test_new_connections_follow_a_name_that_moved,
        test_object_commands_by_name_through_the_system_trust_store,
        test_fstab_form_by_name,
        test_demo_with_a_configured_bucket_uses_the_named_endpoint,
    ])
