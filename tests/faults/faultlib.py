"""Helpers shared by the fault, crash and security tests: readers with deadlines, an emulator on
a fixed port that can be killed and restarted, TLS test certificates. Standard library only."""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "integration"))
import harness  # noqa: E402

# Slowest acceptable answer to one read(2) through a mount under faults: the mount's
# --request-timeout (2 s) times --retries (3) plus backoff, with a wide margin. A reader still
# blocked after this is a hung `cat`.
READ_DEADLINE_S = 45


class read_outcome:
    def __init__(self, path, rc, data, err, hung):
        self.path = path
        self.rc = rc
        self.data = data
        self.err = err
        self.hung = hung

    @property
    def eio(self):
        return self.rc != 0 and "Input/output error" in self.err

    def __repr__(self):
        return (f"read_outcome({self.path!r}, rc={self.rc}, bytes={len(self.data)}, "
                f"err={self.err.strip()!r}, hung={self.hung})")


def start_reader(path):
    # `cat` in its own process: a read stuck in the kernel cannot block the test itself.
    return subprocess.Popen(["cat", path], stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def finish_reader(proc, path, deadline_s=READ_DEADLINE_S):
    try:
        out, err = proc.communicate(timeout=deadline_s)
        return read_outcome(path, proc.returncode, out, err.decode(errors="replace"), False)
    except subprocess.TimeoutExpired:
        proc.kill()
        try:
            out, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            out, err = b"", b""  # unkillable: stuck in an uninterruptible wait
        return read_outcome(path, -9, out, err.decode(errors="replace"), True)


def read_all(paths, deadline_s=READ_DEADLINE_S):
    """Reads every path in parallel (one `cat` each); returns their outcomes in order."""
    procs = [(start_reader(p), p) for p in paths]
    start = time.time()
    outcomes = []
    for proc, p in procs:
        left = max(1.0, deadline_s - (time.time() - start))
        outcomes.append(finish_reader(proc, p, left))
    return outcomes


def check_bytes(outcome, key, size):
    """Whatever reached the reader is a prefix of the object (all of it on success)."""
    want = harness.synthetic_content(key, size)
    assert not outcome.hung, f"reader hung: {outcome}"
    if outcome.rc == 0:
        assert len(outcome.data) == size, f"short read without an error: {outcome}"
    assert outcome.data == want[:len(outcome.data)], f"wrong bytes reached a reader: {outcome}"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FixedEmulator(harness.Emulator):
    """An emulator whose OSS listener keeps its port across stop()/start(): a mount pointing at
    it sees refused connections while it is down and the same server when it is back."""

    def __init__(self, buckets, extra_args=(), **kw):
        self.port = free_port()
        super().__init__(buckets, extra_args, **kw)

    def __enter__(self):
        # harness.Emulator passes "--listen 127.0.0.1:0"; a later --listen wins in ossemu.
        fixed = ["--listen", f"127.0.0.1:{self.port}"]
        if self.extra_args[-2:] != fixed:
            self.extra_args = self.extra_args + fixed
        return super().__enter__()

    def stop(self):
        self.proc.kill()
        self.proc.wait()

    def start(self):
        deadline = time.time() + 20
        while True:  # the old socket may linger in TIME_WAIT briefly
            try:
                return self.__enter__()
            except RuntimeError:
                if time.time() > deadline:
                    raise
                time.sleep(0.5)


class Certs:
    """A throw-away CA and server certificate from tools/gen-test-certs.sh."""

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="ossuring-certs-")
        subprocess.run(["sh", os.path.join(harness.ROOT, "tools", "gen-test-certs.sh"), self.dir],
                       check=True, timeout=60)
        return self

    def path(self, name):
        return os.path.join(self.dir, name)

    def __exit__(self, *exc):
        subprocess.run(["rm", "-rf", self.dir])


def mount_fails(emu, bucket, args, timeout=120):
    """Runs `ossuring mount` expecting failure; returns (exit code, output). Unmounts if it
    unexpectedly succeeded."""
    mnt = tempfile.mkdtemp(prefix="ossuring-mnt-")
    try:
        cmd = [harness.OSSURING, "mount", f"oss://{bucket}/", mnt, "--endpoint", emu.endpoint,
               "--path-style", "--access-key-id", harness.AK, "--access-key-secret",
               harness.SK] + list(args)
        # A file, not a pipe: if the mount succeeds, its daemon keeps the output open.
        with tempfile.TemporaryFile() as log:
            rc = subprocess.run(cmd, stdout=log, stderr=log, timeout=timeout).returncode
            log.seek(0)
            return rc, log.read().decode(errors="replace")
    finally:
        if os.path.ismount(mnt):
            subprocess.run([harness.OSSURING, "umount", mnt], capture_output=True, timeout=60)
            subprocess.run(["umount", "-l", mnt], capture_output=True)
        try:
            os.rmdir(mnt)
        except OSError:
            pass


def daemon_pid(mount_dir):
    """The pid of the ossuring daemon serving mount_dir (from /proc/*/cmdline)."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and os.path.basename(argv[0]) == b"ossuring" and b"mount" in argv \
                and mount_dir.encode() in argv:
            return int(pid)
    return None


def kill_quietly(proc):
    if proc and proc.poll() is None:
        try:
            proc.send_signal(signal.SIGCONT)
            proc.kill()
            proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            pass


def run_selected(tests):
    """harness.run_tests, restricted to the tests whose names contain an argv word (if any)."""
    words = sys.argv[1:]
    harness.run_tests([t for t in tests if not words or any(w in t.__name__ for w in words)])
