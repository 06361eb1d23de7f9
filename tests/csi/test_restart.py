"""Mounts outlive the plugin: the plugin is killed (SIGKILL) while a pod's reader waits on
slow GETs, a new one starts on the same socket and data folder, the reader finishes with the
right bytes, and the new plugin knows the mount (a repeated publish is OK and mounts nothing,
a conflicting one is ALREADY_EXISTS, unpublish unmounts it). Also the --keeper mode a container
runs: the server dies, the keeper starts it again, the mount keeps serving."""
import os
import signal
import threading
import time

import csi_harness as ch
from csi_harness import grpc, harness

FILES = {f"imgs/{i:03d}.jpg": os.urandom(100_000 + i * 1000) for i in range(12)}


def test_kill_the_plugin_mid_read_and_start_it_again():
    # 300 ms before every answer: the kill lands while reads wait for their GETs.
    with ch.scene(FILES, emu_args=["--latency", "300"]) as (emu, kubelet, plugin, _):
        target = kubelet.target("pv-imgs")
        ctx = {"bucket": "data", "url": emu.endpoint, "path": "imgs"}
        req = ch.publish_request("pv-imgs", target, ctx)
        plugin.call("NodePublishVolume", req)
        pids = ch.ossuring_pids(target)
        assert pids, "no mount daemon"
        errors, done = [], []

        def reader():
            for key in sorted(FILES):
                try:
                    with open(os.path.join(target, key.split("/", 1)[1]), "rb") as f:
                        if f.read() != FILES[key]:
                            errors.append(f"{key}: wrong bytes")
                    done.append(key)
                except OSError as e:
                    errors.append(f"{key}: {e}")

        t = threading.Thread(target=reader)
        t.start()
        time.sleep(1.0)  # a few files in: the next GET is in flight
        assert 0 < len(done) < len(FILES), done
        plugin.kill(signal.SIGKILL)
        assert plugin.proc.returncode == -signal.SIGKILL
        assert t.is_alive(), "the reader finished before the kill: nothing was proven"

        plugin.start()  # same socket (left behind by the killed one), same data folder
        t.join(timeout=60)
        assert not t.is_alive(), "reader hung"
        assert not errors, errors
        assert len(done) == len(FILES), done
        assert ch.ossuring_pids(target) == pids, "the mount was remade, not kept"
        assert "csi_volume_rediscovered" in plugin.log_text()
        assert "state=serving" in plugin.log_text()

        # It knows the mount: the same publish is OK and mounts nothing more ...
        plugin.call("NodePublishVolume", req)
        assert len(ch.mounts_at(target)) == 1
        assert ch.ossuring_pids(target) == pids
        # ... a different one at the same target is refused ...
        other = ch.publish_request("pv-imgs", target, dict(ctx, path="other"))
        code, _ = plugin.error("NodePublishVolume", other)
        assert code == grpc.StatusCode.ALREADY_EXISTS, code
        # ... and unpublish takes it down.
        ch.unpublish(plugin, "pv-imgs", target)
        ch.wait_until(lambda: not ch.ossuring_pids(target), what="the daemons to exit")


def test_keeper_restarts_a_dead_server_and_the_mount_stays():
    with ch.scene(FILES, plugin_args=["--keeper"]) as (emu, kubelet, plugin, _):
        target = kubelet.target("pv-keep")
        plugin.call("NodePublishVolume", ch.publish_request(
            "pv-keep", target, {"bucket": "data", "url": emu.endpoint}))
        keeper = plugin.proc.pid
        with open(f"/proc/{keeper}/task/{keeper}/children") as f:
            children = [int(p) for p in f.read().split()]
        server = [p for p in children if p not in ch.ossuring_pids(target)]
        assert len(server) == 1, (children, ch.ossuring_pids(target))
        os.kill(server[0], signal.SIGKILL)
        ch.wait_until(lambda: "csi_server_died" in plugin.log_text(), what="the keeper")
        channel = grpc.insecure_channel("unix://" + plugin.socket)
        grpc.channel_ready_future(channel).result(timeout=30)
        plugin.channel = channel
        with open(os.path.join(target, "imgs", "000.jpg"), "rb") as f:
            assert f.read() == FILES["imgs/000.jpg"]
        ch.unpublish(plugin, "pv-keep", target)
        # The daemons of the unmounted volume were reaped, not left as zombies.
        ch.wait_until(lambda: not ch.ossuring_pids(target), what="the daemons to exit")
        plugin.kill(signal.SIGTERM)
        assert plugin.proc.returncode == 0, plugin.proc.returncode


if __name__ == "__main__":
    harness.require_mount_privileges()
    harness.run_tests([test_kill_the_plugin_mid_read_and_start_it_again,
                       test_keeper_restarts_a_dead_server_and_the_mount_stays])
