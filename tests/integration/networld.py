"""A private network where OSS region host names resolve to emulators on loopback.

`World.enter()` re-runs the calling test in new network and mount namespaces (unshare(1)). There
the test's own /etc/hosts, /etc/resolv.conf and /etc/nsswitch.conf are bind-mounted over the
machine's, so names a user types (oss-cn-hangzhou.aliyuncs.com, data.oss-cn-hangzhou.aliyuncs.com)
reach emulators listening on 127.0.0.x:443 (TLS, certificate from a test CA) or :80, or on
[fd00:5e5::1]:443. `trust_test_ca()` adds the test CA to the system CA bundle the same way, as
a user's update-ca-certificates would. Nothing of the machine's own files or network changes:
the bind mounts and addresses vanish with the test's processes.
"""
import os
import shutil
import subprocess
import sys
import tempfile

import harness

ROOT = harness.ROOT
MARK = "OSSURING_NETWORLD"
IPV6 = "fd00:5e5::1"  # a unique-local address of the private namespace's loopback
SYSTEM_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"

# Names the test certificate covers: endpoints and, by wildcard, their buckets.
CERT_NAMES = [
    "oss-cn-hangzhou.aliyuncs.com", "*.oss-cn-hangzhou.aliyuncs.com",
    "oss-cn-hangzhou-internal.aliyuncs.com", "*.oss-cn-hangzhou-internal.aliyuncs.com",
    "oss-cn-shenzhen.aliyuncs.com", "*.oss-cn-shenzhen.aliyuncs.com",
    "oss-cn-beijing.aliyuncs.com", "*.oss-cn-beijing.aliyuncs.com",
]


def run(args, **kw):
    return subprocess.run(args, check=True, capture_output=True, text=True, **kw)


class World:
    def __init__(self):
        self.dir = None
        self.hosts = {}  # name -> address
        self.ca = self.cert = self.key = None
        self._trusted = False

    @staticmethod
    def enter():
        """Returns the World inside the namespaces; outside, re-runs this script there and exits
        with its status (77 when namespaces or mounts are not possible here)."""
        harness.require_mount_privileges()
        if os.environ.get(MARK) == "1":
            w = World()
            w._setup()
            return w
        if not shutil.which("unshare") or not shutil.which("ip"):
            print("SKIP: needs unshare(1) and ip(8)", file=sys.stderr)
            sys.exit(harness.SKIP)
        probe = subprocess.run(["unshare", "--net", "--mount", "true"], capture_output=True)
        if probe.returncode != 0:
            print(f"SKIP: cannot make namespaces: {probe.stderr.decode().strip()}", file=sys.stderr)
            sys.exit(harness.SKIP)
        env = dict(os.environ, **{MARK: "1"})
        rc = subprocess.run(["unshare", "--net", "--mount", "--propagation", "private",
                             sys.executable] + sys.argv, env=env).returncode
        sys.exit(rc)

    def _setup(self):
        run(["ip", "link", "set", "lo", "up"])
        run(["ip", "-6", "addr", "add", f"{IPV6}/128", "dev", "lo", "nodad"])
        self.dir = tempfile.mkdtemp(prefix="ossuring-world-")
        # No resolver answers here: a name missing from hosts fails at once instead of waiting
        # for the machine's DNS servers, which this namespace cannot reach.
        self._bind("resolv.conf", "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n",
                   "/etc/resolv.conf")
        self._bind("nsswitch.conf", "hosts: files dns\n", "/etc/nsswitch.conf")
        self._bind("hosts", "", "/etc/hosts")
        self.write_hosts()
        certs = os.path.join(self.dir, "certs")
        run([os.path.join(ROOT, "tools", "gen-test-certs.sh"), certs] + CERT_NAMES)
        self.ca = os.path.join(certs, "ca.pem")
        self.cert = os.path.join(certs, "server-chain.pem")
        self.key = os.path.join(certs, "server.key")
        with open(SYSTEM_BUNDLE) as f:
            system = f.read()
        with open(self.ca) as f:
            ca = f.read()
        self.bundle = os.path.join(self.dir, "ca-certificates.crt")
        with open(self.bundle, "w") as f:
            f.write(system + "\n" + ca)

    def _bind(self, name, text, target):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        run(["mount", "--bind", path, target])

    def write_hosts(self):
        """Writes the namespace's /etc/hosts in place (the bind mount keeps the inode)."""
        lines = ["127.0.0.1 localhost", "::1 localhost ip6-localhost"]
        lines += [f"{addr} {name}" for name, addr in sorted(self.hosts.items())]
        with open(os.path.join(self.dir, "hosts"), "w") as f:
            f.write("\n".join(lines) + "\n")

    def set_hosts(self, mapping):
        self.hosts.update(mapping)
        self.write_hosts()

    def trust_test_ca(self, on=True):
        """Puts the test CA into (or takes it out of) the system bundle OpenSSL reads."""
        if on and not self._trusted:
            run(["mount", "--bind", self.bundle, SYSTEM_BUNDLE])
        elif not on and self._trusted:
            run(["umount", SYSTEM_BUNDLE])
        self._trusted = on

    def tls_args(self, alpn=None):
        args = ["--tls-cert", self.cert, "--tls-key", self.key]
        return args + (["--alpn", alpn] if alpn else [])
