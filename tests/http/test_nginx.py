#!/usr/bin/env python3
"""nginx as a TLS HTTP/2 reverse proxy on loopback in front of a Python HTTP/1.1 backend: our
client (fetch_tool) must negotiate h2 with nginx and read every body byte-for-byte.

usage: test_nginx.py FETCH_TOOL GEN_TEST_CERTS
Exits 77 (skip) when nginx is not installed."""

import hashlib
import http.server
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

NGINX = "/usr/sbin/nginx"

# name -> size; sizes straddle buffer and frame boundaries.
FILES = {
    "empty.bin": 0,
    "small.bin": 1000,
    "medium.bin": 128 * 1024 + 7,
    "large.bin": 8 * 1024 * 1024 + 13,
    "huge.bin": 32 * 1024 * 1024 + 1,
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port, proc, seconds=10):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


class Handler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive towards nginx's upstream pool

    def log_message(self, *args):
        pass


def run_fetch(tool, args):
    p = subprocess.run([tool] + args, capture_output=True, text=True, timeout=120)
    lines = p.stdout.splitlines()
    return p.returncode, lines, p.stderr


def parse(line):
    return dict(kv.split("=", 1) for kv in line.split())


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    tool, gen_certs = sys.argv[1], sys.argv[2]
    if not os.access(NGINX, os.X_OK):
        print("SKIP: nginx is not installed", file=sys.stderr)
        return 77
    failures = []

    def check(cond, what):
        if not cond:
            failures.append(what)
            print("FAIL:", what, file=sys.stderr)

    work = tempfile.mkdtemp(prefix="ossuring-nginx-")
    nginx = None
    backend = None
    try:
        certs = os.path.join(work, "certs")
        subprocess.run([gen_certs, certs], check=True)
        root = os.path.join(work, "www")
        os.makedirs(root)
        digests = {}
        for name, size in FILES.items():
            data = os.urandom(size)
            with open(os.path.join(root, name), "wb") as f:
                f.write(data)
            digests[name] = hashlib.sha256(data).hexdigest()

        handler = lambda *a, **k: Handler(*a, directory=root, **k)  # noqa: E731
        # A deep accept queue: nginx opens many upstream connections at once, and SYNs dropped
        # by a short queue are retried only after seconds.
        http.server.ThreadingHTTPServer.request_queue_size = 512
        backend = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=backend.serve_forever, daemon=True).start()
        backend_port = backend.server_address[1]

        port = free_port()
        conf = os.path.join(work, "nginx.conf")
        with open(conf, "w") as f:
            f.write(f"""
daemon off;
master_process off;
worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/error.log warn;
events {{ worker_connections 512; }}
http {{
  access_log {work}/access.log;
  client_body_temp_path {work}/client_body;
  proxy_temp_path {work}/proxy;
  fastcgi_temp_path {work}/fastcgi;
  uwsgi_temp_path {work}/uwsgi;
  scgi_temp_path {work}/scgi;
  upstream backend {{
    server 127.0.0.1:{backend_port};
    keepalive 16;
  }}
  server {{
    listen 127.0.0.1:{port} ssl http2;
    ssl_certificate {certs}/server.pem;
    ssl_certificate_key {certs}/server.key;
    location / {{
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }}
  }}
}}
""")
        nginx = subprocess.Popen([NGINX, "-p", work, "-c", conf],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if not wait_listening(port, nginx):
            err = nginx.stderr.read().decode() if nginx.poll() is not None else ""
            print("nginx did not start:", err, file=sys.stderr)
            return 1

        origin = f"https://127.0.0.1:{port}"
        ca = f"--ca-file={certs}/ca.pem"

        # Every file once, concurrently over one client: h2 with nginx, bytes intact.
        urls = [f"{origin}/{name}" for name in FILES]
        rc, lines, err = run_fetch(tool, [ca] + urls)
        check(rc == 0 and len(lines) == len(FILES), f"fetch of all files exited {rc}: {err}")
        for name, line in zip(FILES, lines):
            got = parse(line)
            check(got.get("status") == "200", f"{name}: {line}")
            check(got.get("protocol") == "h2", f"{name}: not h2: {line}")
            check(got.get("length") == str(FILES[name]), f"{name}: length: {line}")
            check(got.get("sha256") == digests[name], f"{name}: sha256 differs: {line}")

        # 64 concurrent streams of the medium file on one client.
        rc, lines, err = run_fetch(tool, [ca] + [f"{origin}/medium.bin"] * 64)
        check(rc == 0 and len(lines) == 64, f"64 concurrent fetches: rc={rc} {err}")
        check(all(parse(l).get("sha256") == digests["medium.bin"] for l in lines),
              "64 concurrent fetches: a body differs")

        # --output writes the body itself.
        out = os.path.join(work, "large.out")
        rc, lines, err = run_fetch(tool, [ca, f"--output={out}", f"{origin}/large.bin"])
        check(rc == 0, f"--output fetch failed: {err}")
        with open(out, "rb") as f, open(os.path.join(root, "large.bin"), "rb") as g:
            check(f.read() == g.read(), "--output: file differs")

        # HTTP/1.1 through nginx when asked for, and a 404 passed through.
        rc, lines, err = run_fetch(tool, [ca, "--http=1.1", f"{origin}/small.bin",
                                          f"{origin}/missing"])
        check(rc == 0, f"--http=1.1 fetch failed: {err}")
        if len(lines) == 2:
            check(parse(lines[0]).get("protocol") == "http/1.1", f"not http/1.1: {lines[0]}")
            check(parse(lines[0]).get("sha256") == digests["small.bin"], "http/1.1 body differs")
            check(parse(lines[1]).get("status") == "404", f"missing: {lines[1]}")

        # The test CA is required: the system bundle does not trust nginx's certificate.
        rc, lines, err = run_fetch(tool, [f"{origin}/small.bin"])
        check(rc == 1 and lines and lines[0].startswith("error=13 "),
              f"unknown CA was not refused with EACCES: {lines} {err}")
        rc, lines, err = run_fetch(tool, ["--insecure", f"{origin}/small.bin"])
        check(rc == 0 and parse(lines[0]).get("sha256") == digests["small.bin"],
              f"--insecure fetch failed: {err}")
    finally:
        if nginx is not None and nginx.poll() is None:
            nginx.terminate()
            try:
                nginx.wait(timeout=10)
            except subprocess.TimeoutExpired:
                nginx.kill()
                nginx.wait()
        if backend is not None:
            backend.shutdown()
        if failures and os.path.exists(os.path.join(work, "error.log")):
            with open(os.path.join(work, "error.log")) as f:
                sys.stderr.write(f.read()[-4000:])
        shutil.rmtree(work, ignore_errors=True)
    if failures:
        print(f"{len(failures)} check(s) failed", file=sys.stderr)
        return 1
    print("nginx: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
