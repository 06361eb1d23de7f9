"""The container image (deploy/Containerfile, built by deploy/build-image.sh from Debian packages)
under podman, as the DaemonSet runs it: privileged, read-only root, /dev/fuse, the kubelet
folder shared both ways (rshared, kubelet's Bidirectional), the plugin socket in a host folder.
The test plays kubelet from the host: the mount made inside the container is seen on the host,
survives a crash of the CSI server (the keeper restarts it), and unpublish removes it. Then what
a replaced plugin pod does: with the node's PID namespace (hostPID) and --mounts-outlive-container
the mount daemons live in cgroups outside the container's, so `podman rm -f` of the container
leaves a reader's mount serving the right bytes, and a new container's plugin knows the mount
(publish again is OK) and unpublishes it (the daemon ends). The image is built once per set of
inputs and reused; without podman, mmdebstrap or Debian's mirror, or where podman cannot run a
container, the test is skipped, saying why."""
import hashlib
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid

import csi_harness as ch
from csi_harness import harness, pb

ROOT = harness.ROOT


def skip(why):
    print(f"SKIP: {why}", file=sys.stderr)
    sys.exit(harness.SKIP)


def podman(*args, check=True, timeout=300):
    out = subprocess.run(["podman"] + list(args), capture_output=True, text=True,
                         timeout=timeout)
    if check and out.returncode != 0:
        raise RuntimeError(f"podman {' '.join(args)}: {out.stderr.strip()}")
    return out


def image_tag():
    """Tagged by what goes in, so a rebuilt binary gets a new image and an unchanged tree
    reuses the one built before (the mirror is needed only once)."""
    h = hashlib.sha256()
    for path in (harness.OSSURING, ch.CSI, os.path.join(ROOT, "deploy", "Containerfile"),
                 os.path.join(ROOT, "deploy", "build-image.sh")):
        with open(path, "rb") as f:
            h.update(f.read())
    return "localhost/ossuring-csi:test-" + h.hexdigest()[:12]


def run_flags():
    """podman run flags this machine needs. By default podman (as root) asks for the largest
    RLIMIT_NOFILE/NPROC, which a runtime without CAP_SYS_RESOURCE cannot set: ask for what the
    test already has. crun refuses a hybrid cgroup v1/v2 host; runc runs there."""
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    flags = [f"--ulimit=nofile={nofile}:{nofile}", "--ulimit=nproc=4096:4096"]
    runtime = []
    if shutil.which("runc"):
        runtime = ["--runtime", "runc"]
    return runtime, flags


def main():
    harness.require_mount_privileges()
    if not shutil.which("podman"):
        skip("podman is not installed (apt-get install podman)")
    if not shutil.which("mmdebstrap"):
        skip("mmdebstrap is not installed (apt-get install mmdebstrap)")
    tag = image_tag()
    if podman("image", "exists", tag, check=False).returncode != 0:
        # The root file system comes from Debian's mirror (mmdebstrap downloads the packages:
        # about 15 s): unreachable is a skip, any other failure of the build a failure.
        mirror = os.environ.get("DEBIAN_MIRROR", "http://deb.debian.org/debian")
        try:
            urllib.request.urlopen(mirror + "/dists/bookworm/InRelease", timeout=15).close()
        except OSError as e:
            skip(f"Debian's mirror {mirror} is unreachable, the image cannot be built: {e}")
        t0 = time.time()
        out = subprocess.run([os.path.join(ROOT, "deploy", "build-image.sh"), "--build",
                              harness.BUILD, "--tag", tag], capture_output=True, text=True,
                             timeout=600)
        assert out.returncode == 0, "deploy/build-image.sh failed: " + out.stderr[-2000:]
        print(f"built {tag} in {time.time() - t0:.1f}s")
        # Images of earlier builds are of no further use (55 MB each).
        listed = podman("images", "--format", "{{.Repository}}:{{.Tag}}", check=False)
        for old in listed.stdout.split():
            if old.startswith("localhost/ossuring-csi:test-") and old != tag:
                podman("rmi", old, check=False)  # not -f: never one a container runs
    runtime, flags = run_flags()
    # --network host as in the test: the default bridge needs network plugins the test does
    # not use (podman without its recommended packages has none).
    probe = podman(*runtime, "run", "--rm", *flags, "--network", "host", "--entrypoint",
                   "/usr/bin/ossuring", tag, "help", check=False)
    if probe.returncode != 0:
        skip("podman cannot run containers here: " + probe.stderr.strip()[-400:])
    harness.run_tests([test_image_serves_mounts_through_a_shared_kubelet_folder])


class Container:
    """The plugin's container, with the DaemonSet's volumes mapped onto scratch folders."""

    def __init__(self, kubelet, plugin_dir, data_dir, tag):
        self.name = "ossuring-csi-test-" + uuid.uuid4().hex[:8]
        self.kubelet, self.plugin_dir, self.data_dir, self.tag = kubelet, plugin_dir, data_dir, tag

    def start(self):
        runtime, flags = run_flags()
        # --privileged: what Bidirectional propagation needs in Kubernetes too. --read-only
        # (with tmpfs on /run, /tmp and /var/tmp, podman's default): the DaemonSet's
        # readOnlyRootFilesystem and its emptyDirs. --network host: the emulator listens on
        # the host's loopback. --pid host and the plugin's arguments: the DaemonSet's hostPID
        # and args (mounts outlive the container).
        podman(*runtime, "run", "-d", "--name", self.name, *flags, "--privileged",
               "--read-only", "--read-only-tmpfs", "--network", "host", "--pid", "host",
               "--device", "/dev/fuse",
               "-v", f"{self.kubelet}:{self.kubelet}:rshared",
               "-v", f"{self.plugin_dir}:/csi", "-v", f"{self.data_dir}:/var/lib/ossuring-csi",
               "-e", "NODE_NAME=image-node", self.tag, "--endpoint=unix:///csi/csi.sock",
               "--data-dir=/var/lib/ossuring-csi", "--mounts-outlive-container")
        return self

    def pid(self):
        return int(podman("inspect", "--format", "{{.State.Pid}}", self.name).stdout)

    def logs(self):
        out = podman("logs", self.name, check=False)
        return out.stdout + out.stderr  # podman splits the container's lines between the two

    def remove(self):
        podman("rm", "-f", "-t", "0", self.name, check=False)


def mount_daemons(target):
    """The processes in the cgroup the plugin made for the mount at `target`
    (ossuring-mounts/<first 32 hex digits of sha256(target)>, tools/csi/cgroup_escape.hh)."""
    group = ":/ossuring-mounts/" + hashlib.sha256(target.encode()).hexdigest()[:32] + "\n"
    found = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/cgroup") as f:
                    if group in f.read():
                        found.append(int(p))
            except OSError:
                pass
    return found


def remove_mount_cgroups():
    """The test's cgroups: what the plugin made under each hierarchy's root (empty by now)."""
    for top in [os.path.join(d, "ossuring-mounts") for d in
                ["/sys/fs/cgroup"] + [os.path.join("/sys/fs/cgroup", c)
                                      for c in os.listdir("/sys/fs/cgroup")]]:
        if os.path.isdir(top):
            for g in os.listdir(top):
                if os.path.isdir(os.path.join(top, g)):
                    try:
                        os.rmdir(os.path.join(top, g))
                    except OSError:
                        pass
            try:
                os.rmdir(top)
            except OSError:
                pass


def test_image_serves_mounts_through_a_shared_kubelet_folder():
    tag = image_tag()
    bucket_dir = tempfile.mkdtemp(prefix="ossuring-csi-bucket-")
    files = {"ds/x.bin": os.urandom(200_000), "ds/y.txt": b"from the image\n"}
    ch.write_bucket(bucket_dir, files)
    kubelet = ch.Kubelet()
    kroot = os.path.join(kubelet.root, "kubelet")
    os.makedirs(kroot)
    # The node's kubelet folder is a shared mount (systemd makes / shared): mounts the plugin
    # makes inside the container propagate back.
    subprocess.run(["mount", "--bind", kroot, kroot], check=True)
    subprocess.run(["mount", "--make-rshared", kroot], check=True)
    plugin = ch.Plugin(kubelet.root)
    plugin.socket = os.path.join(kubelet.root, "plugin", "csi.sock")
    os.makedirs(os.path.dirname(plugin.socket))
    data_dir = os.path.join(kubelet.root, "data")
    os.makedirs(data_dir)
    c = Container(kroot, os.path.dirname(plugin.socket), data_dir, tag)
    c2 = None
    daemons = []
    try:
        with harness.Emulator({"data": bucket_dir}) as emu:
            c.start()
            plugin.connect(timeout=60)
            assert plugin.call("GetPluginInfo", pb.GetPluginInfoRequest()).name == ch.DRIVER
            assert plugin.call("NodeGetInfo", pb.NodeGetInfoRequest()).node_id == "image-node"
            target = kubelet.target("pv-img")
            assert target.startswith(kroot)
            ctx = {"bucket": "data", "url": emu.endpoint, "path": "ds"}
            req = ch.publish_request("pv-img", target, ctx)
            plugin.call("NodePublishVolume", req)
            # Seen from the host, as kubelet and the pod's containers see it.
            assert ch.mounts_at(target), "the mount did not propagate to the host"
            with open(os.path.join(target, "x.bin"), "rb") as f:
                assert f.read() == files["ds/x.bin"]

            # The CSI server dies inside the container: the keeper starts another one, the
            # mount keeps serving, and the new server knows it.
            keeper = c.pid()
            with open(f"/proc/{keeper}/task/{keeper}/children") as f:
                children = [int(p) for p in f.read().split()]
            servers = [p for p in children
                       if os.readlink(f"/proc/{p}/exe").endswith("/ossuring-csi")]
            assert len(servers) == 1, children
            os.kill(servers[0], signal.SIGKILL)
            ch.wait_until(lambda: "csi_server_died" in c.logs(), what="the keeper")
            plugin.connect(timeout=60)
            with open(os.path.join(target, "y.txt"), "rb") as f:
                assert f.read() == files["ds/y.txt"]
            plugin.call("NodePublishVolume", req)  # known again: OK, nothing new
            assert len(ch.mounts_at(target)) == 1
            plugin.call("NodeUnpublishVolume",
                        pb.NodeUnpublishVolumeRequest(volume_id="pv-img", target_path=target))
            assert not ch.mounts_at(target) and not os.path.exists(target)

            # What a replaced plugin pod does: the container goes (the runtime kills every
            # process of its cgroup), the mount daemons, in cgroups of their own, stay.
            target2 = kubelet.target("pv-img2")
            req2 = ch.publish_request("pv-img2", target2, ctx)
            plugin.call("NodePublishVolume", req2)
            daemons = mount_daemons(target2)
            assert daemons, "no process in the mount's cgroup ossuring-mounts/<target hash>"
            reader = open(os.path.join(target2, "x.bin"), "rb")
            head = reader.read(100_000)
            plugin.kill()
            c.remove()
            assert podman("container", "exists", c.name, check=False).returncode != 0
            assert all(harness.process_running(p) for p in daemons), \
                "the mount daemon died with the container"
            # The rest of the read, from the daemon (not from pages cached before the removal).
            os.posix_fadvise(reader.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
            assert head + reader.read() == files["ds/x.bin"]
            with open(os.path.join(target2, "y.txt"), "rb") as f:
                assert f.read() == files["ds/y.txt"]
            os.statvfs(target2)  # asks the daemon: ENOTCONN if it were gone
            # The new container's plugin knows the mount (publish again: OK, nothing new) and
            # kubelet's unpublish, when the pod goes, ends it.
            c2 = Container(kroot, os.path.dirname(plugin.socket), data_dir, tag).start()
            plugin.connect(timeout=60)
            ch.wait_until(lambda: "state=serving" in c2.logs(), timeout=10,
                          what="the new plugin to report the surviving mount")
            plugin.call("NodePublishVolume", req2)
            assert len(ch.mounts_at(target2)) == 1
            reader.close()
            plugin.call("NodeUnpublishVolume",
                        pb.NodeUnpublishVolumeRequest(volume_id="pv-img2", target_path=target2))
            assert not ch.mounts_at(target2) and not os.path.exists(target2)
            ch.wait_until(lambda: not any(harness.process_running(p) for p in daemons),
                          timeout=10, what="the mount daemon to end after unpublish")
            podman("stop", "-t", "10", c2.name)
            code = podman("inspect", "--format", "{{.State.ExitCode}}", c2.name).stdout.strip()
            assert code == "0", code
    except Exception:
        sys.stderr.write("---- container log ----\n" + c.logs() +
                         (c2.logs() if c2 else ""))
        raise
    finally:
        plugin.kill()
        c.remove()
        if c2:
            c2.remove()
        for t in (kubelet.target("pv-img2"),):
            subprocess.run(["umount", "-l", t], capture_output=True)
        for p in daemons:
            try:  # only if the test failed before unpublish ended them
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
        remove_mount_cgroups()
        subprocess.run(["umount", "-l", kroot], capture_output=True)
        kubelet.cleanup()


if __name__ == "__main__":
    main()
