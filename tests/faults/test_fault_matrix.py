"""Fault matrix on real mounts: every injected server or network fault ends each read within a
deadline, never hands a reader a wrong byte, surfaces persistent failures as EIO with a log line
naming the OSS request id, and the mount recovers once the fault clears."""
import os
import re
import signal
import time

import faultlib
from faultlib import harness

# 600 objects of 64 KiB (fetched whole) and one 24 MiB object (ranged reads). Each scenario
# reads its own keys, so the blob cache never hides a fault.
BUCKET = "flat:600:65536+big:24MiB"
SIZE = 65536
BIG = ("big.bin", 24 << 20)
# Prefetch off: the request counts asserted below are those of the reads themselves.
MOUNT_ARGS = ["--request-timeout", "2000", "--connect-timeout", "1000", "--retries", "3",
              "--prefetch", "off"]


def keys(first, count):
    return [f"file-{i:03d}.bin" for i in range(first, first + count)]


def read_keys(m, names):
    outcomes = faultlib.read_all([m.path(k) for k in names])
    for o, k in zip(outcomes, names):
        faultlib.check_bytes(o, k, SIZE)
    return outcomes


def assert_all_read(m, names):
    for o in read_keys(m, names):
        assert o.rc == 0, o


def failed_cleanly(o):
    """A persistent failure reached the reader as EIO (fs/errors.hh maps transport errors to
    EIO), not a hang and not a transport errno."""
    return o.rc != 0 and not o.hung and o.eio


def faults_fired(emu):
    return emu.stats()["faults"]


def transient(emu, m, rule, counter, first, retried=True):
    """A fault that fires a bounded number of times: retries hide it from readers."""
    before = emu.requests("GetObject")
    fired_before = faults_fired(emu)[counter]
    emu.set_faults(faults=[rule])
    names = keys(first, 8)
    assert_all_read(m, names)
    fired = faults_fired(emu)[counter] - fired_before
    assert fired >= 1, faults_fired(emu)
    gets = emu.requests("GetObject") - before
    if retried:
        # Every fired fault cost one extra attempt (retries happened).
        assert gets >= len(names) + fired, emu.requests()
    else:
        assert gets == len(names), emu.requests()
    emu.set_faults(faults=[])


def test_transient_faults_are_retried_and_bytes_stay_exact():
    with harness.Emulator({"data": BUCKET}) as emu, \
            harness.Mount(emu, "data", args=MOUNT_ARGS) as m:
        transient(emu, m, "503#4", "http_503", 0)
        transient(emu, m, "500#4", "http_500", 10)
        transient(emu, m, "reset#4", "reset_after_bytes", 20)
        transient(emu, m, "truncate#4", "truncate_body", 30)
        transient(emu, m, "bad-length=100#4", "wrong_content_length", 40)
        # A stall shorter than --request-timeout is only a slow answer.
        transient(emu, m, "stall=500#4", "stall", 50, retried=False)
        # Stalls longer than the timeout: the attempt is abandoned and retried.
        transient(emu, m, "stall=30000#2", "stall", 60)


def test_qps_storm_honours_qos_delay_and_every_read_succeeds():
    with harness.Emulator({"data": BUCKET}) as emu, \
            harness.Mount(emu, "data", args=MOUNT_ARGS + ["--retries", "10"]) as m:
        emu.reset()
        emu.set_faults(qps_limit=10)
        names = keys(100, 40)
        assert_all_read(m, names)
        st = emu.stats()
        limited = st["faults"]["qps_limited"]
        assert limited >= 1, st  # the storm happened
        # The client waits x-oss-qos-delay-time instead of hammering: refusals stay within a
        # small multiple of the successful requests (a client retrying at once, or with only
        # its 200 ms base backoff, would be refused many times per read).
        assert limited <= 4 * len(names), st
        # Each refusal cost one more attempt and nothing else was retried.
        assert st["requests"]["GetObject"] == len(names) + limited, st
        emu.set_faults(qps_limit=0)


def test_persistent_failure_is_eio_with_request_id_and_mount_recovers():
    with harness.Emulator({"data": BUCKET}) as emu, \
            harness.Mount(emu, "data", args=MOUNT_ARGS) as m:
        names = keys(200, 3)
        emu.set_faults(faults=["500@file-20[0-2].bin"])
        for o in read_keys(m, names):
            assert o.eio, o
        log = m.log_text()
        failed = [line for line in log.splitlines() if "errno=5" in line]
        assert failed, log
        ids = re.findall(r"request_id=([0-9A-F]{24})", "\n".join(failed))
        assert ids, failed  # the OSS request id reaches the log
        for k in names:  # a line per failed FUSE request (the kernel may send two reads)
            assert 1 <= sum(f"oss://data/{k}" in line for line in failed) <= 3, (k, failed)
        # Three attempts per read (--retries 3), no more.
        assert emu.stats()["faults"]["http_500"] <= 3 * len(names) * 2, emu.stats()
        emu.set_faults(faults=[])
        assert_all_read(m, names)


def test_persistent_stall_is_eio_within_deadline():
    with harness.Emulator({"data": BUCKET}) as emu, \
            harness.Mount(emu, "data", args=MOUNT_ARGS) as m:
        emu.set_faults(faults=["stall=600000@file-30[0-3].bin"])
        names = keys(300, 4)
        for o in read_keys(m, names):
            assert failed_cleanly(o), o
        emu.set_faults(faults=[])
        assert_all_read(m, names)


def test_large_file_ranged_reads_survive_resets():
    with harness.Emulator({"data": BUCKET}) as emu, \
            harness.Mount(emu, "data", args=MOUNT_ARGS) as m:
        emu.set_faults(faults=["reset=100000:0.3@big.bin", "truncate:0.2@big.bin"], seed=7)
        o = faultlib.read_all([m.path(BIG[0])])[0]
        faultlib.check_bytes(o, *BIG)
        assert o.rc == 0 or o.eio, o
        fired = faults_fired(emu)
        assert fired["reset_after_bytes"] + fired["truncate_body"] >= 1, fired
        emu.set_faults(faults=[])
        o = faultlib.read_all([m.path(BIG[0])])[0]
        faultlib.check_bytes(o, *BIG)
        assert o.rc == 0, o


def test_stopped_server_then_resumed():
    with harness.Emulator({"data": BUCKET}) as emu, \
            harness.Mount(emu, "data", args=MOUNT_ARGS) as m:
        names = keys(400, 6)
        emu.proc.send_signal(signal.SIGSTOP)
        try:
            procs = [(faultlib.start_reader(m.path(k)), k) for k in names]
            time.sleep(10)  # the server gone for 10 s
        finally:
            emu.proc.send_signal(signal.SIGCONT)
        for proc, k in procs:
            o = faultlib.finish_reader(proc, m.path(k))
            faultlib.check_bytes(o, k, SIZE)
            assert o.rc == 0 or failed_cleanly(o), o
        assert_all_read(m, names)


def test_refused_connections_then_server_back_on_same_port():
    with faultlib.FixedEmulator({"data": BUCKET}) as emu, \
            harness.Mount(emu, "data", args=MOUNT_ARGS) as m:
        assert_all_read(m, keys(500, 2))  # warm connections
        emu.stop()
        names = keys(510, 4)
        start = time.time()
        for o in read_keys(m, names):
            assert failed_cleanly(o), o
        assert time.time() - start < faultlib.READ_DEADLINE_S
        emu.start()
        assert_all_read(m, names)
        assert emu.requests("GetObject") >= len(names)


def test_tls_with_an_untrusted_certificate_is_refused():
    with faultlib.Certs() as certs, harness.Emulator(
            {"data": "flat:20:4096"},
            extra_args=["--tls-cert", certs.path("server.pem"), "--tls-key",
                        certs.path("server.key")]) as emu:
        assert emu.endpoint.startswith("https://"), emu.endpoint
        # The default trust store does not know the test CA: verification fails, mount refused.
        rc, out = faultlib.mount_fails(emu, "data", MOUNT_ARGS)
        assert rc != 0, out
        assert re.search(r"certif|verif|TLS|SSL", out, re.I), out
        assert emu.requests("ListObjectsV2") == 0, emu.requests()  # no request got through
        # The wrong CA (another throw-away CA) is refused as well.
        with faultlib.Certs() as other:
            rc, out = faultlib.mount_fails(emu, "data",
                                           MOUNT_ARGS + ["--ca-file", other.path("ca.pem")])
            assert rc != 0, out
        # With the right CA the same server is trusted and bytes are exact.
        with harness.Mount(emu, "data",
                           args=MOUNT_ARGS + ["--ca-file", certs.path("ca.pem")]) as m:
            names = sorted(os.listdir(m.dir))
            assert len(names) == 20
            for o, k in zip(faultlib.read_all([m.path(k) for k in names[:5]]), names):
                faultlib.check_bytes(o, k, 4096)
                assert o.rc == 0, o


if __name__ == "__main__":
    harness.require_mount_privileges()
    faultlib.run_selected([
        test_transient_faults_are_retried_and_bytes_stay_exact,
        test_qps_storm_honours_qos_delay_and_every_read_succeeds,
        test_persistent_failure_is_eio_with_request_id_and_mount_recovers,
        test_persistent_stall_is_eio_within_deadline,
        test_large_file_ranged_reads_survive_resets,
        test_stopped_server_then_resumed,
        test_refused_connections_then_server_back_on_same_port,
        test_tls_with_an_untrusted_certificate_is_refused,
    ])
