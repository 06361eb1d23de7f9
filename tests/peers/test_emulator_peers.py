"""The emulator checked against clients nobody here wrote: curl (HTTP/1.1), nghttp and h2load
(HTTP/2 h2c with prior knowledge) and s3fs (a FUSE mount speaking S3 path style, anonymous).

Usage: test_emulator_peers.py curl|nghttp|s3fs. Exits 77 (SKIP) when the peer program is missing,
and for s3fs also without root or /dev/fuse.
"""
import base64
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "integration"))
import harness  # noqa: E402

# 2 class folders x 6 images (~20 KB), one 3 MiB object read by s3fs in several ranges, and a
# flat folder of 4 KiB files.
BUCKETS = {"syn": "imagenet:2:6:20000+big:3MiB:big.bin", "flat": "flat:8:4096"}


def skip(why):
    print(f"SKIP: {why}", file=sys.stderr)
    sys.exit(harness.SKIP)


def require_tools(*names):
    for n in names:
        if shutil.which(n) is None:
            skip(f"{n} is not installed")


def listing(emu, bucket):
    """{key: size} of the whole bucket, from ListObjectsV2 (unsigned: the emulator is anonymous)."""
    keys = {}
    token = None
    while True:
        url = f"{emu.endpoint}/{bucket}/?list-type=2&max-keys=1000"
        if token:
            url += "&continuation-token=" + urllib.request.quote(token, safe="")
        with urllib.request.urlopen(url, timeout=10) as r:
            root = ET.fromstring(r.read())
        ns = root.tag[:root.tag.index("}") + 1] if root.tag.startswith("{") else ""
        for c in root.findall(f"{ns}Contents"):
            keys[c.find(f"{ns}Key").text] = int(c.find(f"{ns}Size").text)
        if root.find(f"{ns}IsTruncated").text != "true":
            return keys
        token = root.find(f"{ns}NextContinuationToken").text


def curl(*args):
    """(status, headers {lower name: value}, body) of one curl call over HTTP/1.1."""
    with tempfile.NamedTemporaryFile() as hdr, tempfile.NamedTemporaryFile() as body:
        out = subprocess.run(["curl", "-sS", "--http1.1", "-D", hdr.name, "-o", body.name,
                              "-w", "%{http_code} %{http_version}", *args],
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        code, version = out.stdout.split()
        assert version == "1.1", version
        headers = {}
        for line in open(hdr.name, errors="replace").read().splitlines()[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        return int(code), headers, open(body.name, "rb").read()


# ---- curl, HTTP/1.1 ---------------------------------------------------------------------------

def test_curl_whole_object_get_returns_exact_bytes():
    with harness.Emulator(BUCKETS, anonymous=True) as emu:
        for key, size in listing(emu, "flat").items():
            code, h, body = curl(f"{emu.endpoint}/flat/{key}")
            assert code == 200, (key, code)
            assert int(h["content-length"]) == size
            assert body == harness.synthetic_content(key, size), key
            assert h["x-oss-request-id"]


def test_curl_range_gets_206_with_content_range():
    with harness.Emulator(BUCKETS, anonymous=True) as emu:
        size = 3 << 20
        code, h, body = curl("-H", "Range: bytes=1000000-1000099", f"{emu.endpoint}/syn/big.bin")
        assert code == 206, code
        assert h["content-range"] == f"bytes 1000000-1000099/{size}", h
        assert body == harness.synthetic_content("big.bin", size, 1000000, 100)
        # An open-ended range is clamped to the object's end.
        code, h, body = curl("-H", f"Range: bytes={size - 10}-", f"{emu.endpoint}/syn/big.bin")
        assert code == 206 and h["content-range"] == f"bytes {size - 10}-{size - 1}/{size}"
        assert body == harness.synthetic_content("big.bin", size, size - 10, 10)


def test_curl_invalid_range_gets_whole_object_unless_standard_behavior_then_416():
    with harness.Emulator(BUCKETS, anonymous=True) as emu:
        url = f"{emu.endpoint}/flat/file-3.bin"
        code, h, body = curl("-H", "Range: bytes=5000-6000", url)
        assert code == 200, code
        assert "content-range" not in h
        assert body == harness.synthetic_content("file-3.bin", 4096)
        code, h, body = curl("-H", "Range: bytes=5000-6000", "-H",
                             "x-oss-range-behavior: standard", url)
        assert code == 416, code
        assert h["content-range"] == "bytes */4096", h
        assert b"<Code>InvalidRange</Code>" in body, body


def test_curl_head_of_missing_key_carries_error_xml_in_x_oss_err():
    with harness.Emulator(BUCKETS, anonymous=True) as emu:
        code, h, body = curl("-I", f"{emu.endpoint}/flat/no-such-key")
        assert code == 404, code
        assert h["content-length"] == "0", h
        xml = base64.b64decode(h["x-oss-err"]).decode()
        root = ET.fromstring(xml)
        assert root.find("Code").text == "NoSuchKey", xml
        assert root.find("RequestId").text == h["x-oss-request-id"]


# ---- nghttp and h2load, HTTP/2 h2c with prior knowledge -------------------------------------

def test_nghttp_fetches_several_objects_over_h2c_byte_exact():
    with harness.Emulator(BUCKETS, anonymous=True) as emu:
        objects = {f"flat/{k}": v for k, v in listing(emu, "flat").items()}
        objects.update({f"syn/{k}": v for k, v in listing(emu, "syn").items() if k != "big.bin"})
        # All objects as concurrent streams of one connection: every one 200, every byte there
        # (nghttp writes DATA frames as they arrive, interleaved, so only the total is checked).
        run = subprocess.run(["nghttp", "-s", *(f"{emu.endpoint}/{p}" for p in objects)],
                             capture_output=True, timeout=60)
        assert run.returncode == 0, run.stderr
        table_at = run.stdout.rindex(b"***** Statistics *****")
        assert table_at == sum(objects.values()), (table_at, sum(objects.values()))
        table = run.stdout[table_at:].decode()
        assert table.count(" 200 ") == len(objects), table
        # Then each object on its own connection, byte for byte.
        for path, size in objects.items():
            run = subprocess.run(["nghttp", f"{emu.endpoint}/{path}"], capture_output=True,
                                 timeout=30)
            assert run.returncode == 0, run.stderr
            key = path.split("/", 1)[1]
            assert run.stdout == harness.synthetic_content(key, size), path
        assert emu.requests("GetObject") == 2 * len(objects)


def test_nghttp_range_request_gets_206():
    with harness.Emulator(BUCKETS, anonymous=True) as emu:
        out = subprocess.run(["nghttp", "-H", "range: bytes=4096-8191",
                              f"{emu.endpoint}/syn/big.bin"], capture_output=True, timeout=30)
        assert out.returncode == 0, out.stderr
        assert out.stdout == harness.synthetic_content("big.bin", 3 << 20, 4096, 4096)


def test_h2load_many_streams_all_succeed():
    with harness.Emulator(BUCKETS, anonymous=True) as emu:
        out = subprocess.run(["h2load", "-n", "400", "-c", "4", "-m", "16",
                              f"{emu.endpoint}/flat/file-1.bin"], capture_output=True, text=True,
                             timeout=60)
        assert out.returncode == 0, out.stdout + out.stderr
        assert "Application protocol: h2c" in out.stdout, out.stdout
        assert "400 succeeded, 0 failed, 0 errored" in out.stdout, out.stdout
        assert "status codes: 400 2xx" in out.stdout, out.stdout
        assert emu.requests("GetObject") == 400


# ---- s3fs, a FUSE mount speaking S3 -----------------------------------------------------------

def walk_files(root):
    files = {}
    for d, _, names in os.walk(root):
        for n in names:
            p = os.path.join(d, n)
            files[os.path.relpath(p, root)] = os.stat(p).st_size
    return files


def test_s3fs_mounts_the_emulator_and_reads_files_byte_for_byte():
    with harness.Emulator(BUCKETS, anonymous=True) as emu:
        expected = listing(emu, "syn")
        mnt = tempfile.mkdtemp(prefix="ossuring-s3fs-")
        try:
            out = subprocess.run(["s3fs", "syn", mnt, "-o",
                                  f"url={emu.endpoint},use_path_request_style,public_bucket=1"],
                                 capture_output=True, text=True, timeout=60)
            assert out.returncode == 0, out.stderr
            deadline = time.time() + 20
            while not os.path.ismount(mnt) and time.time() < deadline:
                time.sleep(0.1)
            assert os.path.ismount(mnt), "s3fs did not mount"
            try:
                assert walk_files(mnt) == expected
                for key, size in expected.items():
                    with open(os.path.join(mnt, key), "rb") as f:
                        assert f.read() == harness.synthetic_content(key, size), key
                # A read in the middle of the big object (s3fs sends a ranged GET).
                with open(os.path.join(mnt, "big.bin"), "rb") as f:
                    f.seek(2 << 20)
                    assert f.read(5000) == harness.synthetic_content("big.bin", 3 << 20,
                                                                     2 << 20, 5000)
            finally:
                um = subprocess.run(["fusermount", "-u", mnt], capture_output=True, text=True,
                                    timeout=30)
                assert um.returncode == 0, um.stderr
            assert not os.path.ismount(mnt)
            assert emu.requests("GetObject") >= len(expected)
        finally:
            if os.path.ismount(mnt):
                subprocess.run(["umount", "-l", mnt], capture_output=True)
            os.rmdir(mnt)


GROUPS = {
    "curl": (("curl",), [test_curl_whole_object_get_returns_exact_bytes,
                         test_curl_range_gets_206_with_content_range,
                         test_curl_invalid_range_gets_whole_object_unless_standard_behavior_then_416,
                         test_curl_head_of_missing_key_carries_error_xml_in_x_oss_err]),
    "nghttp": (("nghttp", "h2load"),
               [test_nghttp_fetches_several_objects_over_h2c_byte_exact,
                test_nghttp_range_request_gets_206, test_h2load_many_streams_all_succeed]),
    "s3fs": (("s3fs", "fusermount"), [test_s3fs_mounts_the_emulator_and_reads_files_byte_for_byte]),
}

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in GROUPS:
        sys.exit(f"usage: {sys.argv[0]} {'|'.join(GROUPS)}")
    tools, tests = GROUPS[sys.argv[1]]
    require_tools(*tools)
    if sys.argv[1] == "s3fs" and (os.geteuid() != 0 or not os.path.exists("/dev/fuse")):
        skip("s3fs mounts need root and /dev/fuse")
    harness.run_tests(tests)
