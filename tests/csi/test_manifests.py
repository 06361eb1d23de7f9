"""deploy/kubernetes/ as kubectl builds it offline (`kubectl kustomize`, then every object
decoded into kubectl's types; a dry run needs an API server), checked against what the plugin
and kubelet expect: the driver name the plugin reports, the socket path shared by plugin,
registrar and kubelet, Bidirectional propagation on the pods folder in a privileged container,
no token, the kubelet-root patch of kustomization.yaml, and the example PV/PVC/Job wired to each
other. Written for the kustomize of Debian 12's kubectl (1.20, kustomize v2) as well as newer
ones."""
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEPLOY = os.path.join(ROOT, "deploy", "kubernetes")
DRIVER = "csi.ossuring.io"


def build(path):
    out = subprocess.run(["kubectl", "kustomize", path], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    docs = [d for d in yaml.safe_load_all(out.stdout) if d]
    decode_typed(out.stdout, len(docs))
    return docs


def decode_typed(text, count):
    """Every object decodes into kubectl's Go types of its kind, offline: a field of the wrong
    type (privileged: "yes", a string port) fails here. `kubectl set image --local` is the
    offline command that decodes typed (label/annotate keep objects untyped); it names each
    object with a pod template and says of the others that they have none, with their type."""
    out = subprocess.run(["kubectl", "set", "image", "--local", "-f", "-", "*=probe",
                          "-o", "name"], input=text, capture_output=True, text=True, timeout=60)
    assert "unable to decode" not in out.stderr, out.stderr
    typed = out.stdout.split() + re.findall(r"does not have a pod template: \*v1\.\w+",
                                            out.stderr)
    assert len(typed) == count, (count, out.stdout, out.stderr)


def by_kind(docs, kind):
    return [d for d in docs if d["kind"] == kind]


def plugin_default_driver():
    with open(os.path.join(ROOT, "tools", "csi", "main.cc")) as f:
        return re.search(r'driver_name = "([^"]+)"', f.read()).group(1)


def test_driver():
    docs = build(DEPLOY)
    assert plugin_default_driver() == DRIVER
    (driver,) = by_kind(docs, "CSIDriver")
    assert driver["metadata"]["name"] == DRIVER
    assert driver["spec"]["attachRequired"] is False
    (ds,) = by_kind(docs, "DaemonSet")
    spec = ds["spec"]["template"]["spec"]
    assert ds["metadata"]["namespace"] == "ossuring-csi"
    assert ds["spec"]["updateStrategy"]["type"] == "OnDelete"
    assert spec["automountServiceAccountToken"] is False
    assert not spec.get("hostNetwork")
    # Mounts outlive the pod: the node's PID namespace and the daemons out of the pod's cgroup.
    assert spec.get("hostPID") is True
    plugin, registrar = spec["containers"]
    volumes = {v["name"]: v for v in spec["volumes"]}
    mounts = {m["name"]: m for m in plugin["volumeMounts"]}
    # The plugin's socket: --endpoint in the container = the registrar's --csi-address = the
    # kubelet path the registrar registers, through the plugin-dir hostPath.
    assert "--endpoint=unix:///csi/csi.sock" in plugin["args"]
    assert "--mounts-outlive-container" in plugin["args"]
    assert mounts["plugin-dir"]["mountPath"] == "/csi"
    assert "--csi-address=/csi/csi.sock" in registrar["args"]
    kubelet_sock = volumes["plugin-dir"]["hostPath"]["path"] + "/csi.sock"
    assert f"--kubelet-registration-path={kubelet_sock}" in registrar["args"]
    assert DRIVER in kubelet_sock
    # Mounts made in the container reach the node: Bidirectional on the pods folder, at the
    # same path as on the node (kubelet's target paths are node paths).
    pods = mounts["pods-dir"]
    assert pods["mountPropagation"] == "Bidirectional"
    assert pods["mountPath"] == volumes["pods-dir"]["hostPath"]["path"]
    assert plugin["securityContext"]["privileged"] is True  # Bidirectional requires it
    assert plugin["securityContext"]["readOnlyRootFilesystem"] is True
    assert "limits" not in plugin.get("resources", {}), "a limit would OOM-kill the mounts"
    assert registrar["securityContext"].get("privileged") is not True
    assert plugin["image"].endswith(":0.1.0")
    (sa,) = by_kind(docs, "ServiceAccount")
    assert sa["automountServiceAccountToken"] is False
    assert not by_kind(docs, "ClusterRoleBinding") and not by_kind(docs, "RoleBinding")


def test_kubelet_root_patch_of_the_kustomization():
    """The commented patch for another kubelet root, uncommented, moves every kubelet path."""
    work = tempfile.mkdtemp(prefix="ossuring-csi-kustomize-")
    try:
        for name in os.listdir(DEPLOY):
            if name.endswith(".yaml"):
                shutil.copy(os.path.join(DEPLOY, name), work)
        path = os.path.join(work, "kustomization.yaml")
        with open(path) as f:
            text = f.read()
        head, patch = text.split("# patchesJson6902:")
        text = head + "patchesJson6902:" + re.sub(r"^# ", "", patch, flags=re.M)
        with open(path, "w") as f:
            f.write(text)
        (ds,) = by_kind(build(work), "DaemonSet")
        text = yaml.safe_dump(ds)
        assert "/var/lib/kubelet" not in text.replace("/common/var/lib/kubelet", ""), text
        spec = ds["spec"]["template"]["spec"]
        mounts = {m["name"]: m for m in spec["containers"][0]["volumeMounts"]}
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert mounts["pods-dir"]["mountPath"] == volumes["pods-dir"]["hostPath"]["path"]
    finally:
        shutil.rmtree(work)


def test_example():
    docs = build(os.path.join(DEPLOY, "example"))
    (pv,) = by_kind(docs, "PersistentVolume")
    (pvc,) = by_kind(docs, "PersistentVolumeClaim")
    (job,) = by_kind(docs, "Job")
    # The Secret is made by hand (kubectl create secret, or secret.yaml edited and applied by
    # itself): `apply -k` must not replace the user's keys with the placeholders.
    assert not by_kind(docs, "Secret")
    with open(os.path.join(DEPLOY, "example", "secret.yaml")) as f:
        text = f.read()
    (secret,) = [d for d in yaml.safe_load_all(text) if d]
    decode_typed(text, 1)
    csi = pv["spec"]["csi"]
    assert csi["driver"] == DRIVER and csi["volumeAttributes"]["bucket"]
    assert csi["nodePublishSecretRef"] == {"name": secret["metadata"]["name"],
                                           "namespace": secret["metadata"]["namespace"]}
    assert set(secret["stringData"]) == {"akId", "akSecret"}
    assert pvc["spec"]["volumeName"] == pv["metadata"]["name"]
    assert pvc["spec"]["storageClassName"] == pv["spec"]["storageClassName"] == ""
    assert pvc["metadata"]["namespace"] == job["metadata"]["namespace"]
    vol = job["spec"]["template"]["spec"]["volumes"][0]
    assert vol["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"]


if __name__ == "__main__":
    if not shutil.which("kubectl"):
        # Without kustomize the manifests cannot be built as a user builds them.
        print("SKIP: kubectl is missing (apt-get install kubernetes-client)", file=sys.stderr)
        sys.exit(77)
    failed = 0
    for t in (test_driver, test_kubelet_root_patch_of_the_kustomization, test_example):
        try:
            t()
            print(f"ok   {t.__name__}")
        except Exception as e:  # noqa: BLE001 - a failure of any kind
            failed += 1
            print(f"FAIL {t.__name__}: {type(e).__name__}: {e}")
    sys.exit(1 if failed else 0)
