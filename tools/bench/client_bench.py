#!/usr/bin/env python3
"""The OSS client next to h2load against the emulator, in one run (a benchmark, not a test).

For GETs of 4 KiB, 128 KiB and 8 MiB objects and for ListObjectsV2 pages of 1,000 keys (of a
1M-object bucket), at each concurrency level: `client_bench` over the HTTP/1.1 pool and over
HTTP/2 (h2c), http_bench (the HTTP client alone, h2c, same URL: no signing, XML or CRC), then
h2load over h2c with the same number of connections and streams, and h2load --h1 with one
connection per caller. For GETs h2load sends the client's own signed headers (one request
signed at the start, valid for the emulator's 15-minute skew window), so the emulator checks a
V4 signature for every request of either program; listing pages go unsigned (a signature per
URL is not possible with h2load; a check is small next to rendering a page). ossemu is
pinned to one CPU, the load to another. Prints
requests/s, p50/p99 latency and the emulator's CPU use per case, then a markdown table for
docs/benchmarks.md ("OSS client").

Usage: tools/bench/client_bench.py [--build DIR] [--seconds N] [--concurrency 1,16,128]
                                   [--ops get4k,get128k,get8m,list] [--runs N]
"""
import argparse
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
AK, SK = "bench-ak", "bench-sk"
LIST_FORMAT = "file-%07d.bin"
LIST_PAGES = 1000
# The query of the client's own ListObjectsV2 requests (oss_client always asks for URL-encoded
# keys), so that the emulator renders the same page, and does the same work, for every program.
LIST_QUERY = "list-type=2&max-keys=1000&encoding-type=url&start-after="

# op name -> (bucket, key or None for listings, emulator bucket spec)
OPS = {
    "get4k": ("s4k", "file-00.bin", "flat:16:4096"),
    "get128k": ("s128k", "file-00.bin", "flat:16:131072"),
    "get8m": ("s8m", "big.bin", "big:8MiB:big.bin"),
    "list": ("million", None, "flat:1000000:1024"),
}
H2_CONNECTIONS = 2  # the client's default (client_options::h2_connections)


class Emulator:
    def __init__(self, build, cpu):
        args = ["taskset", "-c", str(cpu), os.path.join(build, "tools", "ossemu"), "--listen",
                "127.0.0.1:0", "--anonymous", "--access-key-id", AK, "--access-key-secret", SK]
        for bucket, _, spec in OPS.values():
            args += ["--bucket", f"{bucket}={spec}"]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True)
        for line in self.proc.stdout:
            if line.startswith("ready "):
                self.endpoint = line.split()[1].split("=", 1)[1]
                return
        raise RuntimeError("ossemu did not start")

    def cpu_seconds(self):
        # taskset execs ossemu, so the pid is the emulator's.
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=10)


def percentile(values, p):
    if not values:
        return 0.0
    values = sorted(values)
    return values[min(len(values) - 1, int(p * len(values)))]


def run_client(args, build, emu, op, http, level, cpu):
    bucket, key, _ = OPS[op]
    cmd = ["taskset", "-c", str(cpu), os.path.join(build, "tools", "bench", "client_bench"),
           f"--endpoint={emu.endpoint}", f"--bucket={bucket}", f"--http={http}",
           f"--concurrency={level}", f"--seconds={args.seconds}", f"--access-key-id={AK}",
           f"--access-key-secret={SK}", f"--sign={args.sign}"]
    cmd.append(f"--key={key}" if key else f"--list={LIST_FORMAT},{LIST_PAGES}")
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=args.seconds * 10 + 60)
    fields = dict(f.split("=", 1) for f in out.stdout.split() if "=" in f)
    if out.returncode != 0 or "req_per_s" not in fields:
        return {"error": (out.stderr or out.stdout).strip().splitlines()[-1:]}
    return {"rps": float(fields["req_per_s"]), "p50": float(fields["p50_ms"]),
            "p99": float(fields["p99_ms"]), "errors": int(fields["errors"]),
            "protocol": fields["protocol"], "connections": int(fields["connections"])}


def run_http_bench(args, build, emu, op, level, cpu):
    """http::client alone (no OSS layer: no signing, no XML, no CRC) over h2c, same URL(s)."""
    bucket, key, _ = OPS[op]
    path = f"/{bucket}/{key}" if key else (
        f"/{bucket}/?{LIST_QUERY}" + (LIST_FORMAT % 500000))
    cmd = ["taskset", "-c", str(cpu), os.path.join(build, "tools", "bench", "http_bench"),
           "--http=2", f"--concurrency={level}", f"--seconds={args.seconds}",
           emu.endpoint + path]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=args.seconds * 10 + 60)
    fields = dict(f.split("=", 1) for f in out.stdout.split() if "=" in f)
    if out.returncode != 0 or "req_per_s" not in fields:
        return {"error": (out.stderr or out.stdout).strip().splitlines()[-1:]}
    return {"rps": float(fields["req_per_s"]), "p50": float(fields["p50_ms"]),
            "p99": float(fields["p99_ms"]), "errors": int(fields["errors"]), "protocol": "h2"}


def signed_headers(build, emu, op, sign):
    """h2load -H options carrying the client's own signed headers for the GET of `op` (none for
    listings: every page is a different URL), so the emulator verifies a signature for h2load
    as it does for the client."""
    bucket, key, _ = OPS[op]
    if not key:
        return []
    out = subprocess.run([os.path.join(build, "tools", "bench", "client_bench"),
                          f"--endpoint={emu.endpoint}", f"--bucket={bucket}", f"--key={key}",
                          f"--access-key-id={AK}", f"--access-key-secret={SK}", f"--sign={sign}",
                          "--print-signed-headers"], capture_output=True, text=True, check=True)
    opts = []
    for line in out.stdout.splitlines():
        opts += ["-H", line]
    return opts


def run_h2load(args, emu, op, h1, level, cpu, work):
    bucket, key, _ = OPS[op]
    if key:
        uris = [f"{emu.endpoint}/{bucket}/{key}"]
    else:
        uris = [f"{emu.endpoint}/{bucket}/?{LIST_QUERY}"
                + (LIST_FORMAT % (i * 1000)) for i in range(LIST_PAGES)]
    uri_file = os.path.join(work, "uris")
    with open(uri_file, "w") as f:
        f.write("\n".join(uris) + "\n")
    log = os.path.join(work, "h2load.log")
    if h1:
        shape = ["--h1", "-c", str(level), "-m", "1"]
    else:
        conns = min(level, H2_CONNECTIONS)
        # Flow-control windows of 16 MiB per stream and 1 GiB per connection (h2load's default
        # 64 KiB would throttle large bodies; the client sizes its windows for throughput).
        shape = ["-c", str(conns), "-m", str(max(1, level // conns)), "-w", "24", "-W", "30"]
    cmd = ["taskset", "-c", str(cpu), "h2load", "-D", str(args.seconds), "--warm-up-time=1",
           "--log-file", log, "-i", uri_file, *shape,
           *signed_headers(args.build, emu, op, args.sign)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=args.seconds * 10 + 60)
    m = re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out.stdout)
    req = re.search(r"requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed",
                    out.stdout)
    codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out.stdout)
    if not m or not req or not codes:
        return {"error": (out.stdout + out.stderr).strip().splitlines()[-3:]}
    if int(codes.group(3)) or int(codes.group(4)):  # e.g. a signature the emulator refused
        return {"error": [codes.group(0)]}
    lat = []
    with open(log) as f:
        for line in f:
            parts = line.split("\t")
            if len(parts) >= 3 and parts[1].startswith("2"):
                lat.append(int(parts[2]) / 1000.0)
    os.unlink(log)
    return {"rps": float(m.group(1)), "p50": percentile(lat, 0.5), "p99": percentile(lat, 0.99),
            "errors": int(req.group(2)), "protocol": "h1" if h1 else "h2c"}


def load_programs(args, emu, op, level, work):
    """The five load programs of one cell, as (name, function returning its result)."""
    cpu = args.load_cpu
    return [("ossuring HTTP/1.1", lambda: run_client(args, args.build, emu, op, "1.1", level, cpu)),
            ("ossuring HTTP/2", lambda: run_client(args, args.build, emu, op, "2", level, cpu)),
            ("http::client HTTP/2", lambda: run_http_bench(args, args.build, emu, op, level, cpu)),
            ("h2load h2c", lambda: run_h2load(args, emu, op, False, level, cpu, work)),
            ("h2load --h1", lambda: run_h2load(args, emu, op, True, level, cpu, work))]


def print_run_table(by, ops, levels):
    print("\n| op | conc. | ossuring HTTP/1.1 req/s (p50/p99 ms) | ossuring HTTP/2 req/s "
          "(p50/p99 ms) | http::client h2 req/s | h2load h2c req/s (p50/p99 ms) | h2load --h1 req/s "
          "| HTTP/2 ÷ h2load | client CPU µs/req h1 / h2 / h2load |")
    print("|---|---|---|---|---|---|---|---|---|")
    for op in ops:
        for level in levels:
            def cell(name):
                r = by.get((op, level, name), {})
                if "rps" not in r:
                    return "error"
                if not r["p99"]:  # no request finished inside h2load's window
                    return f"{r['rps']:,.0f} (-)"
                return f"{r['rps']:,.0f} ({r['p50']:.2f}/{r['p99']:.2f})"
            h2 = by.get((op, level, "ossuring HTTP/2"), {})
            ref = by.get((op, level, "h2load h2c"), {})
            ratio = f"{h2['rps'] / ref['rps']:.2f}" if "rps" in h2 and ref.get("rps") else "-"
            h1ref = by.get((op, level, "h2load --h1"), {})
            raw = by.get((op, level, "http::client HTTP/2"), {})
            cpu = " / ".join(f"{by.get((op, level, n), {}).get('load_us', 0):.0f}" for n in (
                "ossuring HTTP/1.1", "ossuring HTTP/2", "h2load h2c"))
            print(f"| {op} | {level} | {cell('ossuring HTTP/1.1')} | {cell('ossuring HTTP/2')} | "
                  f"{raw.get('rps', 0):,.0f} | {cell('h2load h2c')} | {h1ref.get('rps', 0):,.0f} | "
                  f"{ratio} | {cpu} |")


def print_median_table(rows, ops, levels, runs):
    print(f"\nMedians of {runs} runs (ratio columns: median of the per-run ratios, min-max):\n")
    print("| op | conc. | ossuring HTTP/2 req/s | h2load h2c req/s | HTTP/2 ÷ h2load | ossuring "
          "HTTP/1.1 req/s | HTTP/2 ÷ HTTP/1.1 | client CPU µs/req HTTP/2 / h2load |")
    print("|---|---|---|---|---|---|---|---|")

    def median(values):
        values = sorted(values)
        n = len(values)
        return values[n // 2] if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2

    for op in ops:
        for level in levels:
            per_run = {}
            for rn, o, lv, name, r in rows:
                if o == op and lv == level and "rps" in r:
                    per_run.setdefault(rn, {})[name] = r

            def values(name, key="rps"):
                return [c[name][key] for c in per_run.values() if name in c and key in c[name]]

            def ratios(a, b):
                return [c[a]["rps"] / c[b]["rps"] for c in per_run.values()
                        if a in c and b in c and c[b]["rps"]]

            def fmt_ratio(v):
                return f"{median(v):.2f} ({min(v):.2f}-{max(v):.2f})" if v else "-"

            def fmt(v, digits=0):
                return f"{median(v):,.{digits}f}" if v else "-"

            print(f"| {op} | {level} | {fmt(values('ossuring HTTP/2'))} | "
                  f"{fmt(values('h2load h2c'))} | "
                  f"{fmt_ratio(ratios('ossuring HTTP/2', 'h2load h2c'))} | "
                  f"{fmt(values('ossuring HTTP/1.1'))} | "
                  f"{fmt_ratio(ratios('ossuring HTTP/2', 'ossuring HTTP/1.1'))} | "
                  f"{fmt(values('ossuring HTTP/2', 'load_us'))} / "
                  f"{fmt(values('h2load h2c', 'load_us'))} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.environ.get("OSSURING_BUILD",
                                                      os.path.join(ROOT, "build")))
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--concurrency", default="1,16,128")
    ap.add_argument("--ops", default=",".join(OPS))
    ap.add_argument("--sign", type=int, default=4, help="signature version of client_bench")
    ap.add_argument("--emu-cpu", type=int, default=0)
    ap.add_argument("--load-cpu", type=int, default=1)
    ap.add_argument("--runs", type=int, default=1,
                    help="repeat the whole matrix; with more than one, a table of per-cell "
                         "medians follows (ratios: median of the per-run ratios, and their range)")
    args = ap.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    ops = args.ops.split(",")
    emu = Emulator(args.build, args.emu_cpu)
    rows = []
    work = tempfile.mkdtemp(prefix="client-bench-")
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f}; ossemu on CPU {args.emu_cpu}, load on CPU "
          f"{args.load_cpu}; {args.seconds} s per case; client signs V{args.sign}")
    try:
        for run in range(args.runs):
            for op in ops:
                for level in levels:
                    for name, fn in load_programs(args, emu, op, level, work):
                        before, t0 = emu.cpu_seconds(), time.time()
                        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
                        r = fn()
                        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
                        r["emu_cpu"] = 100 * (emu.cpu_seconds() - before) / (time.time() - t0)
                        # CPU time of the load program (warm-up and start-up included) per request
                        # of the measured window: an upper bound of its cost per request.
                        load_cpu = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
                        if r.get("rps"):
                            r["load_us"] = 1e6 * load_cpu / (r["rps"] * args.seconds)
                        rows.append((run, op, level, name, r))
                        if "error" in r:
                            print(f"{op:8} c={level:<4} {name:18} ERROR {r['error']}", flush=True)
                        else:
                            print(f"{op:8} c={level:<4} {name:18} {r['rps']:9.0f} req/s  p50 "
                                  f"{r['p50']:8.3f} ms  p99 {r['p99']:8.3f} ms  errors "
                                  f"{r['errors']}  emulator CPU {r['emu_cpu']:3.0f}%  load CPU/request "
                                  f"{r.get('load_us', 0):6.1f} us", flush=True)
    finally:
        emu.stop()
        shutil.rmtree(work)

    for run in range(args.runs):
        print_run_table({(op, level, name): r for rn, op, level, name, r in rows if rn == run},
                        ops, levels)
    if args.runs > 1:
        print_median_table(rows, ops, levels, args.runs)
    failed = any("error" in r for _, _, _, _, r in rows)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
