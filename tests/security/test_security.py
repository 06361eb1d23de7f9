"""Security on real mounts: secrets stay out of logs and stats, world-readable credential files
are refused, TLS is verified by default, other users are kept out unless allowed, permissions
follow uid/gid/umask, and the control socket answers only its owner."""
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "faults"))
import faultlib  # noqa: E402
from faultlib import harness  # noqa: E402

STS_AK = "STS.sec-test-ak"
STS_SECRET = "Zq7SecretNeverLogged9XkW2pT"
STS_TOKEN = "CAIS-TokenNeverLogged-3f9a1c77e0b2"
NOBODY = 65534


def as_user(uid, gid, cmd, timeout=30):
    """Runs cmd with the given uid/gid and no supplementary groups."""
    return subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups"] +
                          cmd, capture_output=True, text=True, errors="replace",
                          timeout=timeout)


def assert_no_secret(text, where):
    for secret in (STS_SECRET, STS_TOKEN, harness.SK):
        assert secret not in text, f"a secret ({secret[:6]}...) appears in {where}"


def test_credentials_never_reach_logs_or_stats():
    sts = ["--access-key-id", STS_AK, "--access-key-secret", STS_SECRET, "--sts-token", STS_TOKEN]
    with harness.Emulator({"data": "flat:50:4096"}, extra_args=sts) as emu, \
            harness.Mount(emu, "data", args=sts + ["--log-level", "trace", "--retries", "2",
                                                  "--prefetch", "off"]) as m:
        names = sorted(os.listdir(m.dir))
        with open(m.path(names[0]), "rb") as f:
            assert f.read() == harness.synthetic_content(names[0], 4096)
        assert not os.path.exists(m.path("missing"))
        emu.set_faults(faults=["500@" + names[1], "503@" + names[2]])
        for k in names[1:3]:
            o = faultlib.read_all([m.path(k)])[0]
            assert o.rc != 0, o
        emu.set_faults(faults=[])
        stats = subprocess.run([harness.OSSURING, "stats", m.dir], capture_output=True,
                               text=True, timeout=30)
        assert stats.returncode == 0, stats.stderr
        assert_no_secret(stats.stdout + stats.stderr, "ossuring stats")
        assert_no_secret(m.stats().__repr__(), "ossuring stats --json")
        log = m.log_text()
        assert "fuse_op_failed" in log, log  # the failures above were logged (at trace level)
        assert_no_secret(log, "the mount log")
        # A wrong secret: the server answers SignatureDoesNotMatch with its string to sign; the
        # error output names the failure and still holds no secret.
        wrong = "WrongSecretAlsoNeverLogged42"
        rc, out = faultlib.mount_fails(emu, "data", ["--access-key-id", STS_AK,
                                                     "--access-key-secret", wrong,
                                                     "--sts-token", STS_TOKEN,
                                                     "--log-level", "trace"])
        assert rc != 0, out
        assert "SignatureDoesNotMatch" in out, out
        assert wrong not in out and STS_TOKEN not in out, out


def write_file(path, text, mode):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def test_credential_files_readable_by_others_are_refused():
    d = tempfile.mkdtemp(prefix="ossuring-sec-")
    try:
        with harness.Emulator({"data": "flat:5:100"}) as emu:
            conf = os.path.join(d, "ossfs.conf")
            write_file(conf, f"--access-key-id={harness.AK}\n"
                       f"--access-key-secret={harness.SK}\n", 0o644)
            mnt = tempfile.mkdtemp(prefix="ossuring-mnt-", dir=d)
            out = subprocess.run([harness.OSSURING, "mount", "oss://data/", mnt, "--endpoint",
                                  emu.endpoint, "--path-style", "-c", conf],
                                 capture_output=True, text=True, timeout=60)
            assert out.returncode != 0 and not os.path.ismount(mnt), out
            assert "chmod 600" in out.stderr, out.stderr
            assert_no_secret(out.stdout + out.stderr, "the refusal")
            passwd = os.path.join(d, "passwd-ossfs")
            write_file(passwd, f"data:{harness.AK}:{harness.SK}\n", 0o644)
            out = subprocess.run([harness.OSSURING, "mount", "oss://data/", mnt, "--endpoint",
                                  emu.endpoint, "--path-style", "--passwd-file", passwd],
                                 capture_output=True, text=True, timeout=60)
            if os.path.ismount(mnt):
                subprocess.run([harness.OSSURING, "umount", mnt], capture_output=True,
                               timeout=60)
                raise AssertionError("a world-readable passwd file was accepted")
            assert out.returncode != 0, out
            assert re.search(r"readable|permission|mode|chmod", out.stderr, re.I), out.stderr
            assert_no_secret(out.stdout + out.stderr, "the refusal")
            # The same files with mode 600 work: the refusal was about the mode only.
            os.chmod(passwd, 0o600)
            with harness.Mount(emu, "data", args=["--passwd-file", passwd,
                                                  "--access-key-id", "",
                                                  "--access-key-secret", ""]) as m:
                assert len(os.listdir(m.dir)) == 5
    finally:
        subprocess.run(["rm", "-rf", d])


def test_tls_is_verified_by_default():
    with faultlib.Certs() as certs, harness.Emulator(
            {"data": "flat:5:100"}, extra_args=["--tls-cert", certs.path("server.pem"),
                                                "--tls-key", certs.path("server.key")]) as emu:
        rc, out = faultlib.mount_fails(emu, "data", [])
        assert rc != 0, out
        assert emu.requests("ListObjectsV2") == 0, emu.requests()


def test_other_users_are_kept_out_unless_allowed():
    with harness.Emulator({"data": "flat:5:100"}) as emu:
        with harness.Mount(emu, "data") as m:
            assert len(os.listdir(m.dir)) == 5
            out = as_user(NOBODY, NOBODY, ["ls", m.dir])
            assert out.returncode != 0, out  # allow_other is off by default
            assert "Permission denied" in out.stderr, out.stderr
        with harness.Mount(emu, "data", args=["--allow-other"]) as m:
            out = as_user(NOBODY, NOBODY, ["ls", m.dir])
            assert out.returncode == 0 and len(out.stdout.split()) == 5, out


def test_default_permissions_follow_uid_gid_umask():
    owner = 4321
    with harness.Emulator({"data": "flat:5:100"}) as emu, harness.Mount(
            emu, "data", args=["--allow-other", "--default-permissions", "--uid", str(owner),
                               "--gid", str(owner), "--umask", "077"]) as m:
        name = sorted(os.listdir(m.dir))[0]
        st = os.stat(m.path(name))
        assert st.st_uid == owner and st.st_gid == owner, st
        assert st.st_mode & 0o077 == 0, oct(st.st_mode)
        assert as_user(owner, owner, ["cat", m.path(name)]).returncode == 0
        out = as_user(NOBODY, NOBODY, ["cat", m.path(name)])
        assert out.returncode != 0 and "Permission denied" in out.stderr, out


def test_control_socket_answers_only_its_owner():
    with harness.Emulator({"data": "flat:5:100"}) as emu, \
            harness.Mount(emu, "data", args=["--allow-other"]) as m:
        assert subprocess.run([harness.OSSURING, "stats", m.dir], capture_output=True,
                              timeout=30).returncode == 0
        out = as_user(NOBODY, NOBODY, [harness.OSSURING, "stats", m.dir, "--json"])
        assert out.returncode != 0, out
        assert '"requests"' not in out.stdout, out.stdout


if __name__ == "__main__":
    harness.require_mount_privileges()
    faultlib.run_selected([
        test_credentials_never_reach_logs_or_stats,
        test_credential_files_readable_by_others_are_refused,
        test_tls_is_verified_by_default,
        test_other_users_are_kept_out_unless_allowed,
        test_default_permissions_follow_uid_gid_umask,
        test_control_socket_answers_only_its_owner,
    ])
