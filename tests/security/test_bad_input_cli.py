"""Bad flags and config files of `ossuring mount`: each gets a one-line message naming the problem
and exit code 2, before anything is mounted; none hangs or crashes. Needs no root."""
import os
import resource
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "integration"))
import harness  # noqa: E402

# Flags -> a word the message must contain.
BAD_FLAGS = [
    (["-c", "/dev/zero"], "regular file"),  # a device never ends a line
    (["-c", "/tmp"], "regular file"),
    (["--bogus-flag"], "bogus-flag"),
    (["--request-timeout", "abc"], "request-timeout"),
    (["--request-timeout", "99999999999999999999999"], "request-timeout"),
    (["--umask", "999"], "umask"),
    (["--mode", "weird"], "mode"),
    (["--memory-limit", "12XB"], "memory-limit"),
    (["--cache-size", "-1"], "cache-size"),
    (["--uid", "-5"], "uid"),
    (["--http", "3"], "http"),
    (["--sign-version", "v3"], "sign-version"),
    (["--open-mode", "mmap"], "open-mode"),
    (["--log-level", "loud"], "log-level"),
    (["-o", "allow_other=maybe"], "allow_other"),
    (["-o", "no_such_option"], "no_such_option"),
    (["--endpoint"], "endpoint"),
    (["-c"], "-c"),
    (["-c", "/nonexistent/ossuring.conf"], "/nonexistent/ossuring.conf"),
    # Out of range: these used to wrap (uid 0, no timeout, port 0, a 2^63-byte budget).
    (["--uid", "4294967296"], "uid"),
    (["--connect-timeout", "4294967296"], "connect-timeout"),
    (["--metrics-port", "65536"], "metrics-port"),
    (["--memory-limit", "20000000T"], "memory-limit"),
    (["--memory-limit", "0"], "memory-limit"),
    (["--attr-timeout", "nan"], "attr-timeout"),
    (["--max-list-ret-count", "1001"], "max-list-ret-count"),
    # Credentials that would have been skipped in silence.
    (["--access-key-id", "AK"], "access-key-secret"),
    (["--passwd-file", "/nonexistent/passwd"], "/nonexistent/passwd"),
]
BAD_CONFIGS = [
    ("--endpoint=x\n--nosuch=1\n", ":2:"),
    ("--retries=lots\n", "retries"),
    ("\0\0\0garbage\xff\xfe\n", "unknown option"),
    ("--" + "a" * 100000 + "=1\n", "unknown option"),
    ("--uid=4294967296\n", "uid"),
]
# Known product bugs, reported to the lead: run and reported, not yet failing the suite.


def limit_memory():
    # 2 GiB of address space: an unbounded allocation fails fast instead of pressing the host
    # (not under ASan, which reserves terabytes of shadow address space).
    if "ASAN_OPTIONS" not in os.environ:
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


def run_mount(extra, mnt, timeout=20):
    # A file for output: were a mount to succeed, its daemon would keep a pipe open.
    with tempfile.TemporaryFile() as log:
        try:
            rc = subprocess.run([harness.OSSURING, "mount", "oss://data/", mnt, "--endpoint",
                                 "http://127.0.0.1:1"] + extra, stdout=log, stderr=log,
                                preexec_fn=limit_memory,
                                timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            rc = "hung"
        log.seek(0)
        return rc, log.read().decode(errors="replace")


def check(extra, word, mnt, timeout=20):
    rc, out = run_mount(extra, mnt, timeout)
    assert not os.path.ismount(mnt)
    assert rc == 2, f"{extra}: exit {rc}: {out!r}"
    lines = out.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ossuring mount: "), f"{extra}: {out!r}"
    assert word in lines[0], f"{extra}: message does not name {word!r}: {out!r}"
    # (A 100 KB unknown option name is echoed whole: ugly, reported, not asserted.)


def test_bad_flags_exit_2_with_one_clear_line():
    mnt = tempfile.mkdtemp(prefix="ossuring-badflags-")
    try:
        for extra, word in BAD_FLAGS:
            check(extra, word, mnt)
    finally:
        os.rmdir(mnt)


def test_bad_config_files_exit_2_naming_file_and_line():
    d = tempfile.mkdtemp(prefix="ossuring-badconf-")
    try:
        for i, (text, word) in enumerate(BAD_CONFIGS):
            conf = os.path.join(d, f"c{i}.conf")
            with open(conf, "w", errors="surrogateescape") as f:
                f.write(text)
            os.chmod(conf, 0o600)
            check(["-c", conf], word, d)
    finally:
        subprocess.run(["rm", "-rf", d])


if __name__ == "__main__":
    if not os.path.exists(harness.OSSURING):
        print("SKIP: ossuring not built", file=sys.stderr)
        sys.exit(harness.SKIP)
    harness.run_tests([
        test_bad_flags_exit_2_with_one_clear_line,
        test_bad_config_files_exit_2_naming_file_and_line,
    ])
