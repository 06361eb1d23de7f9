"""Integration-test harness: starts the OSS emulator, mounts ossuring on it, reads its counters.

Used by the real-mount tests in this folder (run as root with /dev/fuse, else they exit 77) and by
the benchmark scripts. Standard library only.
"""
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("OSSURING_BUILD", os.path.join(ROOT, "build"))
OSSEMU = os.path.join(BUILD, "tools", "ossemu")
OSSURING = os.path.join(BUILD, "tools", "ossuring")

AK = "test-ak"
SK = "test-sk-0123456789"

SKIP = 77


def require_mount_privileges():
    """Exits with 77 (meson's SKIP) when real mounts are impossible here."""
    if os.geteuid() != 0 or not os.path.exists("/dev/fuse"):
        print("SKIP: needs root and /dev/fuse", file=sys.stderr)
        sys.exit(SKIP)


# ---- the emulator's synthetic content (mirrors tools/emu/content.hh) -------------------------

M64 = (1 << 64) - 1


def splitmix64(x):
    x = (x + 0x9E3779B97F4A7C15) & M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
    return x ^ (x >> 31)


def content_seed(key, size):
    h = 0xCBF29CE484222325
    for c in key.encode():
        h = ((h ^ c) * 0x100000001B3) & M64
    return splitmix64(h ^ splitmix64(size))


def synthetic_content(key, size, offset=0, length=None):
    """Bytes [offset, offset+length) of the synthetic object (key, size)."""
    if length is None:
        length = size - offset
    seed = content_seed(key, size)
    first = offset // 8
    last = (offset + length + 7) // 8
    out = b"".join(struct.pack("<Q", splitmix64((seed + b) & M64)) for b in range(first, last))
    skip = offset % 8
    return out[skip:skip + length]


# ---- processes -----------------------------------------------------------------------------

class Emulator:
    """`ossemu` on ephemeral loopback ports. Use as a context manager."""

    def __init__(self, buckets, extra_args=(), anonymous=False, env=None,
                 listen="127.0.0.1:0", admin="127.0.0.1:0"):
        self.buckets = buckets  # {"name": "spec or DIR"}
        self.listen = listen
        self.admin_listen = admin
        self.extra_args = list(extra_args)
        self.anonymous = anonymous
        self.env = env
        self.proc = None
        self.endpoint = None
        self.admin = None

    def __enter__(self):
        args = [OSSEMU, "--listen", self.listen, "--admin", self.admin_listen]
        for name, spec in self.buckets.items():
            args += ["--bucket", f"{name}={spec}"]
        if self.anonymous:
            args.append("--anonymous")
        else:
            args += ["--access-key-id", AK, "--access-key-secret", SK]
        args += self.extra_args
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=sys.stderr, text=True,
                                     env=self.env)
        deadline = time.time() + 30
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"ossemu exited with {self.proc.wait()} before it was ready")
            if line.startswith("ready "):
                fields = dict(f.split("=", 1) for f in line.split()[1:] if "=" in f)
                self.endpoint = fields["endpoint"]
                self.admin = fields["admin"]
                return self
        raise RuntimeError("ossemu did not become ready in 30 s")

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def _admin(self, method, path, body=None):
        req = urllib.request.Request(self.admin + path, method=method, data=body)
        with urllib.request.urlopen(req, timeout=10) as r:
            data = r.read()
        return json.loads(data) if data else None

    def stats(self):
        return self._admin("GET", "/_admin/stats")

    def requests(self, api=None):
        """Requests per API name, or the count for one API."""
        per_api = self.stats().get("requests", {})
        return per_api.get(api, 0) if api else per_api

    def total_requests(self):
        return sum(self.requests().values())

    def reset(self):
        self._admin("POST", "/_admin/reset")

    def set_faults(self, **faults):
        self._admin("PUT", "/_admin/faults", json.dumps(faults).encode())


class Mount:
    """`ossuring mount` of a bucket of an emulator on a fresh temporary folder."""

    def __init__(self, emu, bucket, prefix="", args=(), foreground=False, endpoint=None,
                 path_style=True):
        """`endpoint` replaces the emulator's own address (a host name a test resolves to it);
        `path_style=False` leaves virtual-host addressing, as a real endpoint needs."""
        self.emu = emu
        self.endpoint = endpoint or emu.endpoint
        self.path_style = path_style
        self.bucket = bucket
        self.prefix = prefix
        self.args = list(args)
        self.dir = None
        self.proc = None
        self.log = None

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="ossuring-mnt-")
        self.log = tempfile.NamedTemporaryFile(prefix="ossuring-log-", suffix=".log", delete=False)
        # The daemon logs into its --log-dir (never into the output of `ossuring mount`).
        self.log_dir = tempfile.mkdtemp(prefix="ossuring-logdir-")
        url = f"oss://{self.bucket}/{self.prefix}"
        args = [OSSURING, "mount", url, self.dir, "--endpoint", self.endpoint, "--log-level",
                "info", "--log-dir", self.log_dir] + (["--path-style"] if self.path_style else [])
        if not self.emu.anonymous:
            args += ["--access-key-id", AK, "--access-key-secret", SK]
        args += self.args
        # `ossuring mount` returns once the mount is ready (the daemon keeps serving).
        rc = subprocess.run(args, stdout=self.log, stderr=self.log, timeout=120).returncode
        if rc != 0:
            self.log.flush()
            with open(self.log.name) as f:
                sys.stderr.write(f.read())
            raise RuntimeError(f"ossuring mount exited with {rc}")
        return self

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def stats(self):
        out = subprocess.run([OSSURING, "stats", self.dir, "--json"], capture_output=True,
                             text=True, timeout=30)
        if out.returncode != 0:
            raise RuntimeError(f"ossuring stats failed: {out.stderr}")
        return json.loads(out.stdout)

    def log_text(self):
        """What `ossuring mount` printed, then the daemon's log files (rotated ones first)."""
        with open(self.log.name, errors="replace") as f:
            text = f.read()
        for name in sorted(os.listdir(self.log_dir), reverse=True):
            with open(os.path.join(self.log_dir, name), errors="replace") as f:
                text += f.read()
        return text

    def __exit__(self, *exc):
        # Waits for the daemon to exit (its uploads and saved index written), at most 30 s.
        subprocess.run([OSSURING, "umount", self.dir, "--wait", "30"], capture_output=True,
                       timeout=60)
        if os.path.ismount(self.dir):
            subprocess.run(["umount", "-l", self.dir], capture_output=True)
        try:
            os.rmdir(self.dir)
        except OSError:
            pass
        if exc[0] is not None:
            sys.stderr.write("---- ossuring log ----\n" + self.log_text())
        os.unlink(self.log.name)
        shutil.rmtree(self.log_dir, ignore_errors=True)


def process_running(pid):
    """True while `pid` runs: gone, or a zombie (exited, not reaped yet), is not running."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def run_tests(tests):
    """Runs test functions in order; prints one line each; exit code 0 only if all passed."""
    failed = 0
    for t in tests:
        start = time.time()
        try:
            t()
            print(f"ok   {t.__name__} ({time.time() - start:.2f}s)")
        except Exception as e:  # noqa: BLE001 - a test failure of any kind
            failed += 1
            print(f"FAIL {t.__name__}: {type(e).__name__}: {e}")
            import traceback
            traceback.print_exc()
    sys.exit(1 if failed else 0)
