"""The CSI contract, as kubelet drives it, against the emulator through real FUSE mounts:
GetPluginInfo, NodeGetInfo, NodeGetCapabilities, NodePublishVolume, reads, NodeUnpublishVolume;
read-only when asked, writable when the options ask and the access mode allows, repeated and
conflicting publishes, unpublish of what is not mounted, the error codes an operator sees, and
secrets that reach no log, command line or environment."""
import errno
import glob
import os
import threading
import time

import csi_harness as ch
from csi_harness import Mode, grpc, harness, pb

FILES = {
    "train/a.bin": os.urandom(300_000),
    "train/b.txt": b"hello from oss\n",
    "train/sub/c.bin": os.urandom(5_000_000),  # past the small-file threshold: ranged GETs
    "val/d.txt": b"validation\n",
}


def context(emu, **extra):
    ctx = {"bucket": "data", "url": emu.endpoint}
    ctx.update(extra)
    return ctx


# STS credentials the emulator also accepts (a second key, with its token).
STS_ID, STS_SECRET, STS_TOKEN = "STS.csitest", "sts-secret-7f3a9c", "sts-token-c0ffee42"
STS_KEYS = ["--access-key-id", STS_ID, "--access-key-secret", STS_SECRET,
            "--sts-token", STS_TOKEN]


def assert_refuses_writes(path, what):
    """Creating `path` fails as on a read-only mount; `what` names the failure otherwise."""
    try:
        with open(path, "wb") as f:
            f.write(b"x")
        raise AssertionError(what)
    except OSError as e:
        assert e.errno in (errno.EROFS, errno.EACCES, errno.EPERM), e


def check_mount_processes_hide(target, secrets):
    """The mount's own processes exist, got their credentials as `-c /proc/self/fd/3` (the
    memfd), and show none of `secrets` in their command line or environment."""
    pids = ch.ossuring_pids(target)
    assert pids, "no mount process to check"
    for pid in pids:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
        assert b"/proc/self/fd/3" in argv, argv
        with open(f"/proc/{pid}/environ", "rb") as f:
            env = f.read()
        for s in secrets:
            assert s.encode() not in b"\0".join(argv), f"secret in /proc/{pid}/cmdline"
            assert s.encode() not in env, f"secret in /proc/{pid}/environ"


def check_no_secret_anywhere(plugin, secret, emu):
    """The secret is in no log, no process's command line and no process's environment (but
    the emulator's, which is given it on its command line to check signatures)."""
    assert secret not in plugin.log_text(), "secret in the plugin's log"
    for log in glob.glob(os.path.join(plugin.data, "logs", "*")):
        with open(log, errors="replace") as f:
            assert secret not in f.read(), f"secret in {log}"
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) in (emu.proc.pid, os.getpid()):
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv0 = f.read().split(b"\0")[0]
        except OSError:
            continue
        if os.path.basename(argv0) == b"ossemu":
            continue  # any emulator (another test's, a benchmark's) is given the test keys
        for what in ("cmdline", "environ"):
            try:
                with open(f"/proc/{pid}/{what}", "rb") as f:
                    data = f.read()
            except OSError:
                continue
            assert secret.encode() not in data, f"secret in /proc/{pid}/{what}"


def test_kubelet_sequence_read_only():
    with ch.scene(FILES) as (emu, kubelet, plugin, bucket_dir):
        # node-driver-registrar, then kubelet at registration.
        info = plugin.call("GetPluginInfo", pb.GetPluginInfoRequest())
        assert info.name == ch.DRIVER and info.vendor_version, info
        node = plugin.call("NodeGetInfo", pb.NodeGetInfoRequest())
        assert node.node_id == ch.NODE_ID, node
        probe = plugin.call("Probe", pb.ProbeRequest())
        assert probe.ready.value, probe
        caps = plugin.call("GetPluginCapabilities", pb.GetPluginCapabilitiesRequest())
        assert not any(c.service.type == pb.PluginCapability.Service.CONTROLLER_SERVICE
                       for c in caps.capabilities), caps
        # kubelet, for the pod: capabilities (no staging), then publish.
        ncaps = plugin.call("NodeGetCapabilities", pb.NodeGetCapabilitiesRequest())
        types = {c.rpc.type for c in ncaps.capabilities}
        assert pb.NodeServiceCapability.RPC.STAGE_UNSTAGE_VOLUME not in types, types
        assert pb.NodeServiceCapability.RPC.GET_VOLUME_STATS in types, types

        target = kubelet.target("pv-train")
        req = ch.publish_request("pv-train", target, context(emu, path="/train"),
                                 readonly=True)
        plugin.call("NodePublishVolume", req)
        assert len(ch.mounts_at(target)) == 1, ch.mounts_at(target)
        assert "fuse.ossuring" in ch.mounts_at(target)[0]
        # The bucket's bytes, below the prefix only.
        assert sorted(os.listdir(target)) == ["a.bin", "b.txt", "sub"], os.listdir(target)
        for key, data in FILES.items():
            if key.startswith("train/"):
                with open(os.path.join(target, key[len("train/"):]), "rb") as f:
                    assert f.read() == data, key
        # Read-only as asked.
        assert_refuses_writes(os.path.join(target, "new.txt"),
                              "a write to a read-only volume succeeded")
        # Supervised (read-only index mode), so a crashed daemon is replaced.
        pids = ch.ossuring_pids(target)
        assert len(pids) == 2, pids  # supervisor + daemon

        # The same publish again (kubelet retries after a timeout): OK, nothing new.
        plugin.call("NodePublishVolume", req)
        assert len(ch.mounts_at(target)) == 1
        assert ch.ossuring_pids(target) == pids
        # The same target with other attributes: ALREADY_EXISTS.
        other = ch.publish_request("pv-train", target, context(emu, path="/val"))
        code, details = plugin.error("NodePublishVolume", other)
        assert code == grpc.StatusCode.ALREADY_EXISTS, (code, details)
        assert "unpublish it first" in details, details

        stats = plugin.call("NodeGetVolumeStats",
                            pb.NodeGetVolumeStatsRequest(volume_id="pv-train",
                                                         volume_path=target))
        units = {u.unit for u in stats.usage}
        assert pb.VolumeUsage.BYTES in units and pb.VolumeUsage.INODES in units, stats
        assert not stats.volume_condition.abnormal, stats

        check_mount_processes_hide(target, [harness.SK])
        check_no_secret_anywhere(plugin, harness.SK, emu)

        ch.unpublish(plugin, "pv-train", target)
        ch.wait_until(lambda: not ch.ossuring_pids(target), what="the daemon to exit")
        # Unpublish of what is not mounted (a retry): OK.
        plugin.call("NodeUnpublishVolume",
                    pb.NodeUnpublishVolumeRequest(volume_id="pv-train", target_path=target))
        code, _ = plugin.error("NodeGetVolumeStats",
                               pb.NodeGetVolumeStatsRequest(volume_id="pv-train",
                                                            volume_path=target))
        assert code == grpc.StatusCode.NOT_FOUND, code
        assert not os.listdir(os.path.join(plugin.data, "volumes")), "record left behind"


def test_read_only_from_access_mode_and_writes_when_asked():
    with ch.scene(FILES, emu_args=STS_KEYS) as (emu, kubelet, plugin, bucket_dir):
        # rw options but a reader-only access mode: read-only.
        ro = kubelet.target("pv-ro")
        plugin.call("NodePublishVolume", ch.publish_request(
            "pv-ro", ro, context(emu, otherOpts="-o rw -o mode=lazy"), readonly=False,
            mode=Mode.SINGLE_NODE_READER_ONLY))
        assert_refuses_writes(os.path.join(ro, "x.txt"),
                              "a write to a reader-only volume succeeded")
        # rw options and a writer access mode, but the PV's (or the pod's) readOnly: kubelet's
        # readonly flag alone makes it read-only.
        ro_flag = kubelet.target("pv-ro-flag")
        plugin.call("NodePublishVolume", ch.publish_request(
            "pv-ro-flag", ro_flag, context(emu, otherOpts="-o rw -o mode=lazy"),
            readonly=True, mode=Mode.MULTI_NODE_MULTI_WRITER))
        assert_refuses_writes(os.path.join(ro_flag, "y.txt"),
                              "a write to a readOnly volume succeeded")
        # The options ask for writes (ossfs 2.0 spellings as PV mountOptions) and the access
        # mode allows them: written through to the bucket, with STS credentials (akId,
        # akSecret, securityToken) that show nowhere.
        rw = kubelet.target("pv-rw")
        sts = {"akId": STS_ID, "akSecret": STS_SECRET, "securityToken": STS_TOKEN}
        plugin.call("NodePublishVolume", ch.publish_request(
            "pv-rw", rw, context(emu, mode="lazy"), secrets=sts, readonly=False,
            mode=Mode.MULTI_NODE_MULTI_WRITER, flags=["ro=false", "attr_timeout=1"]))
        with open(os.path.join(rw, "train", "out.txt"), "wb") as f:
            f.write(b"checkpoint\n")
        with open(os.path.join(bucket_dir, "train", "out.txt"), "rb") as f:
            assert f.read() == b"checkpoint\n"
        check_mount_processes_hide(rw, [STS_SECRET, STS_TOKEN])
        for secret in (STS_SECRET, STS_TOKEN):
            check_no_secret_anywhere(plugin, secret, emu)
        for target, pv in ((ro, "pv-ro"), (ro_flag, "pv-ro-flag"), (rw, "pv-rw")):
            ch.unpublish(plugin, pv, target)


def test_errors_an_operator_can_act_on():
    with ch.scene(FILES) as (emu, kubelet, plugin, bucket_dir):
        target = kubelet.target("pv-bad")
        invalid = grpc.StatusCode.INVALID_ARGUMENT
        cases = [
            (ch.publish_request("", target, context(emu)), invalid, "volume_id"),
            (ch.publish_request("pv", "", context(emu)), invalid, "target_path"),
            (pb.NodePublishVolumeRequest(volume_id="pv", target_path=target,
                                         volume_context=context(emu)), invalid,
             "volume_capability"),
            (pb.NodePublishVolumeRequest(
                volume_id="pv", target_path=target, volume_context=context(emu),
                volume_capability=pb.VolumeCapability(
                    block=pb.VolumeCapability.BlockVolume(),
                    access_mode=Mode(mode=Mode.SINGLE_NODE_WRITER))), invalid, "block"),
            (ch.publish_request("pv", target, {"url": emu.endpoint}), invalid, "bucket"),
            (ch.publish_request("pv", target, context(emu, attr_timeout="soon")), invalid,
             "attr_timeout"),
            (ch.publish_request("pv", target, context(emu, oss_access_key_secret="x")), invalid,
             "nodePublishSecretRef"),
            (ch.publish_request("pv", target, context(emu), secrets={"akId": "only"}),
             invalid, "akSecret"),
            (ch.publish_request("pv", target, context(emu),
                                secrets={"akId": harness.AK, "akSecret": "wrong-secret"}),
             grpc.StatusCode.PERMISSION_DENIED, "ossuring mount"),
            (ch.publish_request("pv", target, context(emu, bucket="nosuch")),
             grpc.StatusCode.NOT_FOUND, "nosuch"),
        ]
        for req, want, words in cases:
            code, details = plugin.error("NodePublishVolume", req)
            assert code == want and words in details, (want, words, code, details)
            assert not ch.mounts_at(target), details
            assert "wrong-secret" not in details
        code, details = plugin.error(
            "NodeUnpublishVolume", pb.NodeUnpublishVolumeRequest(volume_id="pv"))
        assert code == invalid and "target_path" in details, (code, details)
        code, _ = plugin.error("NodeStageVolume", pb.NodeStageVolumeRequest())
        assert code == grpc.StatusCode.UNIMPLEMENTED, code
        # Unpublish of a target never published: OK.
        plugin.call("NodeUnpublishVolume",
                    pb.NodeUnpublishVolumeRequest(volume_id="pv", target_path=target))
        assert "wrong-secret" not in plugin.log_text()


def test_a_call_while_another_runs_on_the_target_is_aborted():
    """kubelet retries a publish that timed out while the first one still mounts: the second
    answers ABORTED (the spec's "operation pending"), the first completes, a retry is OK."""
    with ch.scene(FILES, emu_args=["--latency", "400"]) as (emu, kubelet, plugin, bucket_dir):
        target = kubelet.target("pv-slow")
        req = ch.publish_request("pv-slow", target, context(emu, path="/train"))
        first = []

        def publish():
            try:
                plugin.call("NodePublishVolume", req)
                first.append("OK")
            except grpc.RpcError as e:
                first.append(e.code())

        t = threading.Thread(target=publish)
        t.start()
        time.sleep(0.3)  # the first publish waits for the emulator's answers
        code, details = plugin.error("NodePublishVolume", req)
        assert code == grpc.StatusCode.ABORTED and "in progress" in details, (code, details)
        code, _ = plugin.error("NodeUnpublishVolume", pb.NodeUnpublishVolumeRequest(
            volume_id="pv-slow", target_path=target))
        assert code == grpc.StatusCode.ABORTED, code
        t.join(timeout=60)
        assert first == ["OK"], first
        plugin.call("NodePublishVolume", req)  # kubelet's retry: OK, nothing new
        assert len(ch.mounts_at(target)) == 1
        with open(os.path.join(target, "b.txt"), "rb") as f:
            assert f.read() == FILES["train/b.txt"]
        ch.unpublish(plugin, "pv-slow", target)


def test_unpublish_returns_once_the_daemon_has_uploaded():
    with ch.scene(FILES) as (emu, kubelet, plugin, bucket_dir):
        target = kubelet.target("pv-bg")
        plugin.call("NodePublishVolume", ch.publish_request(
            "pv-bg", target, context(emu, otherOpts="-o rw -o mode=lazy -o background-upload"),
            readonly=False, mode=Mode.MULTI_NODE_MULTI_WRITER))
        daemons = ch.ossuring_pids(target)
        assert daemons, "no mount process"
        with open(os.path.join(target, "train", "last.txt"), "wb") as f:
            f.write(b"last words\n")
            # The upload the close starts takes 1.5 s: still running when kubelet unpublishes.
            emu.set_faults(latency=1500)
        ch.unpublish(plugin, "pv-bg", target)
        running = [pid for pid in daemons if harness.process_running(pid)]
        assert not running, running
        emu.set_faults(latency=0)
        with open(os.path.join(bucket_dir, "train", "last.txt"), "rb") as f:
            assert f.read() == b"last words\n"


if __name__ == "__main__":
    harness.require_mount_privileges()
    harness.run_tests([test_kubelet_sequence_read_only,
                       test_read_only_from_access_mode_and_writes_when_asked,
                       test_errors_an_operator_can_act_on,
                       test_a_call_while_another_runs_on_the_target_is_aborted,
                       test_unpublish_returns_once_the_daemon_has_uploaded])
