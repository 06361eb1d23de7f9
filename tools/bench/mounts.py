"""The mounts compared by tools/bench/compare.py: ossuring (index, lazy), s3fs, rclone, local disk.

Each tool mounts one emulator bucket on a fresh directory with empty caches; the options are the
ones docs/benchmarks.md ("Side by side") justifies. A mount yields a `Mounted` (path, daemon PID,
mount time) and is always unmounted, lazily and by force if it stops answering.
"""
import contextlib
import os
import shutil
import subprocess
import tempfile
import time

from benchlib import (StepFailed, clean_env, find_daemon, harness, rmtree, run,
                      unmount, wait_mounted)

MOUNT_TIMEOUT = 300  # an index-mode mount of a 100,000-object tree lists it first


class Mounted:
    def __init__(self, path, pid=None, mount_s=0.0):
        self.path, self.pid, self.mount_s = path, pid, mount_s


def _version(cmd):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        text = (out.stdout or out.stderr).strip().splitlines()
        return text[0].strip() if text else "?"
    except (OSError, subprocess.TimeoutExpired):
        return "?"


class Tool:
    name = ""
    key = ""  # the name --tools uses
    is_local = False
    options = ""

    def __init__(self, ctx):
        self.ctx = ctx  # .emu, .work, .local_dirs, .ossuring, .ossuring_args

    def available(self):
        return True

    def version(self):
        return ""

    @contextlib.contextmanager
    def mounted(self, bucket):
        raise NotImplementedError


class Local(Tool):
    name = "local disk"
    key = "local"
    is_local = True
    options = "the VM's root file system (ext4 on a virtio disk here), page cache dropped"

    def version(self):
        return os.uname().release

    @contextlib.contextmanager
    def mounted(self, bucket):
        yield Mounted(self.ctx.local_dirs[bucket])


def _fresh_dir(ctx, tag):
    return tempfile.mkdtemp(prefix=f"{tag}-", dir=ctx.work)


def _remove_dir(path):
    """Removes an (unmounted) mount point; a lazily detached one may linger, which is harmless."""
    try:
        if not os.path.ismount(path):
            os.rmdir(path)
    except OSError:
        pass


class S3fs(Tool):
    name = key = "s3fs"

    def options_for(self, cache):
        # Read-heavy settings from s3fs(1) and its wiki: kernel_cache keeps the page cache across
        # opens, use_cache keeps fetched objects on local disk, a large long-lived stat cache and
        # the negative cache spare repeated HEADs, multireq_max/parallel_count widen readdir HEADs
        # and ranged downloads. (notsup_compat_dir would hide directories that exist only as
        # prefixes, as in these buckets.)
        return ",".join([
            "ro", f"url={self.ctx.emu.endpoint}", "use_path_request_style", "public_bucket=1",
            "kernel_cache", f"use_cache={cache}", "del_cache", "max_stat_cache_size=200000",
            "stat_cache_expire=3600", "enable_noobj_cache",
            "multireq_max=32", "parallel_count=8", "listobjectsv2"])

    @property
    def options(self):
        return "-o " + self.options_for("CACHE").replace(self.ctx.emu.endpoint, "URL")

    def available(self):
        return shutil.which("s3fs") is not None

    def version(self):
        return _version(["s3fs", "--version"]).split(" with ")[0]

    @contextlib.contextmanager
    def mounted(self, bucket):
        mnt, cache = _fresh_dir(self.ctx, "s3fs-mnt"), _fresh_dir(self.ctx, "s3fs-cache")
        logf = open(os.path.join(self.ctx.work, "s3fs.log"), "a")
        start = time.monotonic()
        proc = subprocess.Popen(["s3fs", bucket, mnt, "-f", "-o", self.options_for(cache)],
                                stdout=logf, stderr=logf, env=clean_env(),
                                start_new_session=True)
        try:
            wait_mounted(mnt, MOUNT_TIMEOUT, proc)
            yield Mounted(mnt, proc.pid, time.monotonic() - start)
        finally:
            unmount(mnt, proc.pid, proc)
            logf.close()
            _remove_dir(mnt)
            rmtree(cache)


class Rclone(Tool):
    name = key = "rclone"
    # rclone mount docs: --vfs-cache-mode full for reads that seek (sparse cache files), long
    # --dir-cache-time/--attr-timeout for data that does not change, --no-modtime and
    # --s3-no-head-object to spare a HEAD per file, --vfs-fast-fingerprint, --read-only.
    flags = ["--read-only", "--vfs-cache-mode", "full", "--dir-cache-time", "1h",
             "--attr-timeout", "1h", "--no-modtime", "--no-checksum", "--vfs-fast-fingerprint",
             "--s3-no-head-object"]
    options = " ".join(flags)

    def env(self):
        return clean_env(RCLONE_CONFIG_EMU_TYPE="s3", RCLONE_CONFIG_EMU_PROVIDER="Other",
                         RCLONE_CONFIG_EMU_ENDPOINT=self.ctx.emu.endpoint,
                         RCLONE_CONFIG_EMU_FORCE_PATH_STYLE="true")

    def available(self):
        return shutil.which("rclone") is not None

    def version(self):
        return _version(["rclone", "version"])

    @contextlib.contextmanager
    def mounted(self, bucket):
        mnt, cache = _fresh_dir(self.ctx, "rclone-mnt"), _fresh_dir(self.ctx, "rclone-cache")
        args = ["rclone", "mount", f"emu:{bucket}", mnt, "--config", "/dev/null",
                "--cache-dir", cache, "--log-file", os.path.join(self.ctx.work, "rclone.log"),
                "--log-level", "NOTICE"] + self.flags
        start = time.monotonic()
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env=self.env(), start_new_session=True)
        try:
            wait_mounted(mnt, MOUNT_TIMEOUT, proc)
            yield Mounted(mnt, proc.pid, time.monotonic() - start)
        finally:
            unmount(mnt, proc.pid, proc)
            _remove_dir(mnt)
            rmtree(cache)


class Ossuring(Tool):
    def __init__(self, ctx, mode, variant=None, extra=()):
        super().__init__(ctx)
        self.mode = mode
        self.extra = list(extra)
        self.name = f"ossuring {mode}" + (f" {variant}" if variant else "")
        self.key = f"ossuring-{variant or mode}"
        self.options = " ".join([f"--mode {mode}"] + self.extra + ctx.ossuring_args)

    def available(self):
        return os.access(self.ctx.ossuring, os.X_OK)

    def version(self):
        return _version([self.ctx.ossuring, "--version"])

    @contextlib.contextmanager
    def mounted(self, bucket):
        mnt = _fresh_dir(self.ctx, "ossuring-mnt")
        args = [self.ctx.ossuring, "mount", f"oss://{bucket}/", mnt, "--endpoint",
                self.ctx.emu.endpoint, "--path-style", "--mode", self.mode, "--access-key-id",
                harness.AK, "--access-key-secret", harness.SK]
        args += self.extra + self.ctx.ossuring_args
        logpath = os.path.join(self.ctx.work, f"{self.key}.log")
        pid = None
        try:
            with open(logpath, "a") as logf:
                # `ossuring mount` returns once the mount is ready; the daemon keeps serving.
                mount_s, _ = run(args, timeout=MOUNT_TIMEOUT, out=logf)
            if not os.path.ismount(mnt):
                raise StepFailed(f"ossuring mount returned but {mnt} is not a mount point")
            pid = find_daemon(mnt, {"ossuring"})
            yield Mounted(mnt, pid, mount_s)
        finally:
            unmount(mnt, pid, first=[self.ctx.ossuring, "umount", mnt])
            _remove_dir(mnt)


def all_tools(ctx):
    # ossuring-poll: index mode with its reactor pinned to CPU 1 and polling (docs/benchmarks.md
    # "Poll mode"); meant with compare.py --pin-caller 0, so caller and daemon are on two cores.
    poll = Ossuring(ctx, "index", "poll", ["--cpus", "1", "--poll-us", "200"])
    return [Ossuring(ctx, "index"), poll, Ossuring(ctx, "lazy"), S3fs(ctx), Rclone(ctx),
            Local(ctx)]


