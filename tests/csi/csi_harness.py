"""Plays kubelet against ossuring-csi: starts the plugin on a Unix socket, calls the CSI v1
Identity and Node RPCs with Debian's python3-grpcio and the messages protoc generated from
tools/csi/csi.proto (CSI_PROTO_PY). Used by tests/csi/test_*.py; skips (77) without grpcio."""
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import harness  # noqa: E402

try:
    import grpc  # noqa: E402
except ImportError:
    print("SKIP: python3-grpcio is missing (apt-get install python3-grpcio)", file=sys.stderr)
    sys.exit(harness.SKIP)

sys.path.insert(0, os.environ.get("CSI_PROTO_PY",
                                  os.path.join(harness.BUILD, "tools", "csi")))
import csi_pb2 as pb  # noqa: E402

CSI = os.path.join(harness.BUILD, "tools", "csi", "ossuring-csi")
DRIVER = "csi.ossuring.io"
NODE_ID = "test-node-1"

# Kubelet's calls: (service, method, response type).
RPCS = {
    "GetPluginInfo": ("Identity", pb.GetPluginInfoResponse),
    "GetPluginCapabilities": ("Identity", pb.GetPluginCapabilitiesResponse),
    "Probe": ("Identity", pb.ProbeResponse),
    "NodeGetInfo": ("Node", pb.NodeGetInfoResponse),
    "NodeGetCapabilities": ("Node", pb.NodeGetCapabilitiesResponse),
    "NodePublishVolume": ("Node", pb.NodePublishVolumeResponse),
    "NodeUnpublishVolume": ("Node", pb.NodeUnpublishVolumeResponse),
    "NodeGetVolumeStats": ("Node", pb.NodeGetVolumeStatsResponse),
    "NodeStageVolume": ("Node", pb.NodeStageVolumeResponse),
}

Mode = pb.VolumeCapability.AccessMode


class Plugin:
    """ossuring-csi on a fresh socket and data folder; `restart()` keeps both."""

    def __init__(self, workdir, extra_args=()):
        self.workdir = workdir
        self.socket = os.path.join(workdir, "plugin", "csi.sock")
        self.data = os.path.join(workdir, "data")
        self.log_path = os.path.join(workdir, "plugin.log")
        self.extra_args = list(extra_args)
        self.proc = None
        self.channel = None

    def start(self):
        args = [CSI, "--endpoint", "unix://" + self.socket, "--data-dir", self.data,
                "--node-id", NODE_ID, "--ossuring", harness.OSSURING] + self.extra_args
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen(args, stdout=log, stderr=log)
        log.close()
        return self.connect()

    def connect(self, timeout=30):
        """A channel to the socket (of this process, or of a plugin started elsewhere)."""
        if self.channel:
            self.channel.close()
        self.channel = grpc.insecure_channel("unix://" + self.socket)
        grpc.channel_ready_future(self.channel).result(timeout=timeout)
        return self

    def call(self, method, request, timeout=120):
        service, response = RPCS[method]
        fn = self.channel.unary_unary(f"/csi.v1.{service}/{method}",
                                      request_serializer=type(request).SerializeToString,
                                      response_deserializer=response.FromString)
        return fn(request, timeout=timeout)

    def error(self, method, request):
        """The gRPC status code of a call that must fail (AssertionError if it succeeds)."""
        try:
            self.call(method, request)
        except grpc.RpcError as e:
            return e.code(), e.details()
        raise AssertionError(f"{method} succeeded but must fail")

    def kill(self, sig=signal.SIGKILL):
        if self.channel:
            self.channel.close()
            self.channel = None
        if self.proc and self.proc.poll() is None:
            # With --keeper the server is a child: it goes too (a test that failed midway
            # must not leave a server running on its socket).
            try:
                with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as f:
                    children = [int(p) for p in f.read().split()]
            except OSError:
                children = []
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)
            for pid in children:
                try:
                    with open(f"/proc/{pid}/exe", "rb"):
                        pass
                    if os.readlink(f"/proc/{pid}/exe") == os.path.realpath(CSI):
                        os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass

    def log_text(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()


class Kubelet:
    """A scratch kubelet root: pods/<uid>/volumes/kubernetes.io~csi/<pv>/mount target paths."""

    def __init__(self):
        self.root = tempfile.mkdtemp(prefix="ossuring-csi-")

    def target(self, pv):
        pod = os.path.join(self.root, "kubelet", "pods", str(uuid.uuid4()), "volumes",
                           "kubernetes.io~csi", pv)
        os.makedirs(pod)  # kubelet makes the volume's folder; the plugin makes `mount`
        return os.path.join(pod, "mount")

    def cleanup(self):
        # Anything a failed test left mounted below the root comes off first.
        with open("/proc/self/mountinfo") as f:
            points = [line.split()[4] for line in f if self.root in line]
        for p in reversed(points):
            subprocess.run(["umount", "-l", p], capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)


def capability(mode=Mode.MULTI_NODE_READER_ONLY, flags=()):
    return pb.VolumeCapability(mount=pb.VolumeCapability.MountVolume(mount_flags=list(flags)),
                               access_mode=Mode(mode=mode))


def publish_request(volume_id, target, context, secrets=None, readonly=True,
                    mode=Mode.MULTI_NODE_READER_ONLY, flags=()):
    return pb.NodePublishVolumeRequest(
        volume_id=volume_id, target_path=target, volume_capability=capability(mode, flags),
        readonly=readonly, secrets=secrets if secrets is not None else
        {"akId": harness.AK, "akSecret": harness.SK}, volume_context=context)


def mounts_at(path):
    with open("/proc/self/mountinfo") as f:
        return [line for line in f if line.split()[4] == path]


def ossuring_pids(target):
    """Processes whose command line names `target` (the mount's supervisor and daemon)."""
    out = subprocess.run(["pgrep", "-f", f"ossuring mount .* {target}"], capture_output=True,
                         text=True).stdout
    return sorted(int(p) for p in out.split())


def wait_until(cond, timeout=20, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def write_bucket(root, files):
    """A folder the emulator serves as a bucket: {key: bytes}."""
    for key, data in files.items():
        path = os.path.join(root, key)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)


@contextlib.contextmanager
def scene(files, emu_args=(), plugin_args=(), start=True):
    """A bucket of `files` on the emulator, a scratch kubelet root and the plugin (started
    unless `start` is false): yields (emu, kubelet, plugin, bucket_dir); cleans up all."""
    bucket_dir = tempfile.mkdtemp(prefix="ossuring-csi-bucket-")
    write_bucket(bucket_dir, files)
    kubelet = Kubelet()
    plugin = Plugin(kubelet.root, plugin_args)
    try:
        with harness.Emulator({"data": bucket_dir}, extra_args=list(emu_args)) as emu:
            if start:
                plugin.start()
            yield emu, kubelet, plugin, bucket_dir
    finally:
        plugin.kill()
        kubelet.cleanup()
        shutil.rmtree(bucket_dir, ignore_errors=True)


def unpublish(plugin, volume_id, target):
    """NodeUnpublishVolume, then the target is neither mounted nor present."""
    plugin.call("NodeUnpublishVolume",
                pb.NodeUnpublishVolumeRequest(volume_id=volume_id, target_path=target))
    assert not mounts_at(target), mounts_at(target)
    assert not os.path.exists(target), "target_path left behind"
