"""Process, mount and measurement helpers of the side-by-side benchmark (tools/bench/compare.py).

Every step that can block runs under a timeout; a FUSE mount that stops answering is aborted
through /sys/fs/fuse/connections so that no step can hang the harness. Standard library only.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
NETNS_SH = os.path.join(HERE, "netns.sh")
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import harness  # noqa: E402  (the emulator's content function and test credentials)

CLK_TCK = os.sysconf("SC_CLK_TCK")


class StepTimeout(Exception):
    pass


class StepFailed(Exception):
    pass


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def clean_env(**extra):
    """The environment for child processes: rclone refuses to start while AWS_CA_BUNDLE is set."""
    env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}
    env.update(extra)
    return env


def fuse_abort(path):
    """Aborts the FUSE connection behind mount point `path` (unblocks every waiter)."""
    try:
        dev = os.stat(path).st_dev if os.path.ismount(path) else None
    except OSError:
        dev = None
    if dev is None:
        return
    ctl = f"/sys/fs/fuse/connections/{os.minor(dev)}/abort"
    try:
        with open(ctl, "w") as f:
            f.write("1")
    except OSError:
        pass


def run(cmd, timeout, cwd=None, env=None, guard=None, out=subprocess.DEVNULL):
    """Runs `cmd` (a list, or a string for bash) in its own process group.

    Returns (seconds, stdout text or None). Raises StepTimeout (after killing the group and
    aborting the FUSE mount `guard`, if any) or StepFailed on a non-zero exit.
    """
    if isinstance(cmd, str):
        cmd = ["bash", "-c", cmd]
    capture = out == "capture"
    # A command that leaves a daemon behind (`ossuring mount`) must not hand it our pipes, or
    # waiting for their end would wait for the daemon: its output goes to the file `out`.
    to_file = not capture and out is not subprocess.DEVNULL
    start = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env or clean_env(), start_new_session=True,
                            stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE if capture else out,
                            stderr=out if to_file else subprocess.PIPE, text=True)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc, guard)
        raise StepTimeout(f"timeout after {timeout}s: {' '.join(cmd)[:200]}")
    elapsed = time.monotonic() - start
    if proc.returncode != 0:
        if to_file:
            out.flush()
            with open(out.name, errors="replace") as f:
                stderr = f.read()
        raise StepFailed(f"exit {proc.returncode}: {' '.join(cmd)[:200]}: {(stderr or '')[-400:]}")
    return elapsed, stdout


def _kill_group(proc, guard):
    for attempt in range(3):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            proc.communicate(timeout=5)
            return
        except subprocess.TimeoutExpired:
            if guard:  # stuck in the kernel on a FUSE request: abort the connection
                fuse_abort(guard)
    log(f"warning: process group {proc.pid} survived SIGKILL")


def drop_caches():
    run("sync; echo 3 > /proc/sys/vm/drop_caches", timeout=120)


# ---- daemon accounting --------------------------------------------------------------------

def proc_cpu_seconds(pid):
    """utime + stime of `pid` (all threads) in seconds, None when unknown."""
    if not pid:
        return None
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return None


def proc_peak_rss_mib(pid):
    if not pid:
        return None
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def find_daemon(mountpoint, names):
    """PID of the process whose executable is one of `names` and whose argv names `mountpoint`."""
    want = os.path.realpath(mountpoint)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
        except OSError:
            continue
        if argv and os.path.basename(argv[0]) in names and \
                any(os.path.realpath(a) == want for a in argv[1:] if a.startswith("/")):
            return int(entry)
    return None


def wait_mounted(path, timeout, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.ismount(path):
            return
        if proc is not None and proc.poll() is not None:
            raise StepFailed(f"mount daemon exited with {proc.returncode}")
        time.sleep(0.05)
    raise StepTimeout(f"{path} not mounted after {timeout}s")


def unmount(path, pid=None, proc=None, first=None):
    """Unmounts politely (`first` command, else umount), then lazily; stops the daemon."""
    if os.path.ismount(path):
        try:
            run(first or ["umount", path], timeout=30)
        except (StepTimeout, StepFailed):
            fuse_abort(path)
            subprocess.run(["umount", "-l", path], capture_output=True, timeout=30)
    deadline = time.monotonic() + 15
    while pid and time.monotonic() < deadline and os.path.exists(f"/proc/{pid}"):
        if proc is not None and proc.poll() is not None:
            break
        time.sleep(0.05)
    if pid and os.path.exists(f"/proc/{pid}") and (proc is None or proc.poll() is None):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if proc is not None:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


# ---- network namespace and emulator ---------------------------------------------------------

class Netns:
    def __init__(self, name, rate, subnet="10.77.0"):
        self.name, self.rate = name, rate
        self.env = clean_env(OSSBENCH_HOST_IP=f"{subnet}.1", OSSBENCH_NS_IP=f"{subnet}.2")

    def __enter__(self):
        try:
            run([NETNS_SH, "up", self.name, self.rate], timeout=60, env=self.env)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc):
        subprocess.run([NETNS_SH, "down", self.name], capture_output=True, timeout=60)


class NsEmulator:
    """ossemu inside the namespace, anonymous (for s3fs/rclone) and with a key (for ossuring)."""

    def __init__(self, ossemu, netns, subnet, buckets, latency_ms, connect_delay_ms, log_path):
        self.ossemu, self.netns, self.buckets = ossemu, netns, buckets
        self.ip = f"{subnet}.2"
        self.latency_ms, self.connect_delay_ms = latency_ms, connect_delay_ms
        self.log_path = log_path
        self.proc = self.endpoint = self.admin = None

    def __enter__(self):
        args = [NETNS_SH, "exec", self.netns, self.ossemu, "--listen", f"{self.ip}:9000",
                "--admin", f"{self.ip}:9001", "--anonymous", "--access-key-id", harness.AK,
                "--access-key-secret", harness.SK, "--latency", str(self.latency_ms),
                "--connect-delay", str(self.connect_delay_ms)]
        for name, spec in self.buckets.items():
            args += ["--bucket", f"{name}={spec}"]
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self._log, text=True,
                                     start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise StepFailed(f"ossemu exited with {self.proc.wait()} (log {self.log_path})")
            if line.startswith("ready "):
                fields = dict(f.split("=", 1) for f in line.split()[1:] if "=" in f)
                self.endpoint, self.admin = fields["endpoint"], fields["admin"]
                return self
        raise StepTimeout("ossemu did not become ready in 30 s")

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._log.close()

    def _admin(self, method, path, body=None):
        req = urllib.request.Request(self.admin + path, method=method, data=body)
        with urllib.request.urlopen(req, timeout=30) as r:
            data = r.read()
        return json.loads(data) if data else None

    def requests(self):
        """Requests per API, plus the pseudo-API "bytes": response body bytes sent."""
        stats = self._admin("GET", "/_admin/stats")
        return dict(stats["requests"], bytes=stats.get("bytes_sent", 0))

    def reset(self):
        self._admin("POST", "/_admin/reset")

    def set_latency(self, latency_ms, connect_delay_ms):
        body = {"latency_ms": latency_ms, "connect_delay_ms": connect_delay_ms}
        self._admin("PUT", "/_admin/faults", json.dumps(body).encode())


def diff_requests(after, before):
    return {k: after.get(k, 0) - before.get(k, 0) for k in after
            if after.get(k, 0) - before.get(k, 0)}


def rmtree(path):
    shutil.rmtree(path, ignore_errors=True)
