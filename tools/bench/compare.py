#!/usr/bin/env python3
"""Side-by-side benchmark: ossuring (index, lazy), s3fs, rclone mount and local disk, same data.

Run as root from anywhere:  tools/bench/compare.py [--quick] [--runs N] [--rate 2gbit] ...
The emulator runs in a network namespace whose veth link is capped with `tc tbf`, adding its own
per-request and per-connection latency; every tool mounts the same synthetic buckets from it.
Results go into docs/benchmarks.md (between marker comments) and docs/img/*.png; see the
"Side by side" section there. Exit code 0 when the harness itself worked (a tool that fails or
times out in a scenario is a result, not an error), 77 when not root or /dev/fuse is missing.
"""
import argparse
import json
import os
import re
import shlex
import signal
import sys
import time
import types

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402
import mounts  # noqa: E402
import report  # noqa: E402

SIZES = {
    "full": dict(flat="flat:10000", imagenet="imagenet:4:1300", tree="deep:100000",
                 big="big:1GiB", fio_runtime=10, runs=3, step_timeout=900),
    "quick": dict(flat="flat:300", imagenet="imagenet:4:40", tree="deep:2000",
                  big="big:32MiB", fio_runtime=2, runs=1, step_timeout=180),
}
BUCKETS = {"flat": "stat-dir", "imagenet": "imagenet", "tree": "tree", "big": "bigfile"}


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes, one run, no doc update")
    p.add_argument("--runs", type=int, help="repetitions per tool and scenario (default 3)")
    p.add_argument("--rate", default="2gbit", help="tc tbf rate of the veth link (default 2gbit)")
    p.add_argument("--latency", type=float, default=2, help="ms added per request (default 2)")
    p.add_argument("--connect-delay", type=float, default=2,
                   help="ms added per new connection (default 2)")
    p.add_argument("--tools", default="ossuring-index,ossuring-lazy,s3fs,rclone,local",
                   help="comma-separated subset")
    p.add_argument("--scenarios", default="1,2,3,4", help="comma-separated subset of 1..4")
    p.add_argument("--build", default=os.environ.get("OSSURING_BUILD",
                                                     os.path.join(bl.ROOT, "build")))
    p.add_argument("--pin-caller", type=int, metavar="CPU",
                   help="run every timed command on this CPU (taskset), for every tool")
    p.add_argument("--ossuring-arg", action="append", default=[],
                   help="extra argument for `ossuring mount` (repeatable)")
    p.add_argument("--work", default="/var/tmp/ossbench", help="mounts, caches, logs, results")
    p.add_argument("--netns", default="ossbench")
    p.add_argument("--subnet", default="10.77.0",
                   help="/24 of the veth pair: host .1, emulator .2 (one per concurrent run)")
    p.add_argument("--check", action="store_true",
                   help="exit 1 when any tool failed or timed out in any scenario (smoke test)")
    p.add_argument("--render", nargs="+", metavar="RESULTS_JSON",
                   help="no run: merge these results files and write the doc/plots from them")
    p.add_argument("--step-timeout", type=float, help="seconds per timed step")
    p.add_argument("--doc", help="markdown file to update (default docs/benchmarks.md, "
                   "not updated with --quick unless given)")
    p.add_argument("--img", help="folder of the PNG plots (default docs/img)")
    p.add_argument("--no-doc", action="store_true")
    a = p.parse_args(argv)
    a.size = dict(SIZES["quick" if a.quick else "full"])
    a.runs = a.runs or a.size["runs"]
    a.step_timeout = a.step_timeout or a.size["step_timeout"]
    if a.no_doc or (a.quick and not a.doc):
        a.doc = None
    else:
        a.doc = a.doc or os.path.join(bl.ROOT, "docs", "benchmarks.md")
    a.img = a.img or (os.path.join(bl.ROOT, "docs", "img") if a.doc else
                      os.path.join(a.work, "img"))
    return a


# ---- the local-disk reference -------------------------------------------------------------

def materialise(ctx, bucket, spec):
    """Copies the bucket to local disk once (cached across invocations), outside any timing."""
    name = f"{bucket}-{re.sub(r'[^A-Za-z0-9]+', '_', spec)}"
    path = os.path.join(ctx.local_base, name)
    done = path + ".complete"
    if not os.path.exists(done):
        bl.log(f"materialising {bucket}={spec} into {path}")
        bl.rmtree(path)
        os.makedirs(path)
        ctx.emu.set_latency(0, 0)
        try:
            rc = mounts.Rclone(ctx)
            bl.run(["rclone", "copy", f"emu:{bucket}", path, "--config", "/dev/null",
                    "--transfers", "16", "--checkers", "16", "--s3-no-head-object",
                    "--ignore-checksum"],
                   timeout=1800, env=rc.env())
        finally:
            ctx.emu.set_latency(ctx.args.latency, ctx.args.connect_delay)
        verify_sample(path)
        open(done, "w").close()
    ctx.local_dirs[bucket] = path
    return path


def verify_sample(path):
    """Checks a few copied files byte for byte against the emulator's content function."""
    files = []
    for d, _, names in os.walk(path):
        files += [os.path.join(d, n) for n in sorted(names)[:1]]
    for f in files[:3] + files[-2:]:
        key = os.path.relpath(f, path)
        size = os.path.getsize(f)
        n = min(size, 1 << 16)
        with open(f, "rb") as fh:
            got = fh.read(n)
        if got != bl.harness.synthetic_content(key, size, 0, n):
            raise bl.StepFailed(f"local copy of {key} differs from the emulator's content")


def walk_count(path):
    n = 0
    for _, dirs, files in os.walk(path):
        n += len(dirs) + len(files)
    return n


# ---- scenarios ----------------------------------------------------------------------------
# A measurement mounts one bucket fresh and runs one or more timed phases on it; each phase
# yields one metric value (see report.METRICS). Caches are dropped after the mount.

def m_stat(ctx, ls_first):
    def body(rec, mnt):
        local = ctx.local_dirs[BUCKETS["flat"]]
        names = sorted(os.listdir(local))
        listing = os.path.join(ctx.args.work, "stat-list")
        with open(listing, "w") as f:
            f.write("\0".join(names))
        expect = sum(os.path.getsize(os.path.join(local, n)) for n in names)
        pre = "ls > /dev/null && " if ls_first else ""
        cmd = f"set -o pipefail; cd {mnt} && {pre}xargs -0 -a {listing} stat --format=%s"

        def check(out):
            got = sum(int(x) for x in out.split())
            if got != expect:
                raise bl.StepFailed(f"stat sizes sum to {got}, expected {expect}")
        rec.timed("s1_ls_stat" if ls_first else "s1_stat", cmd, check=check)
    return BUCKETS["flat"], body


def m_shards(ctx):
    def body(rec, mnt):
        shards = sorted(os.listdir(os.path.join(ctx.local_dirs[BUCKETS["imagenet"]], "train")))
        for epoch in ("s2_cold", "s2_warm"):
            cmds = [f"set -o pipefail; cd {mnt}/train && find {s} -name '*.JPEG' -print0 | "
                    f"parallel --will-cite -0 -j4 'cp {{}} /dev/null'" for s in shards]
            rec.timed(epoch, cmds)
    return BUCKETS["imagenet"], body


def m_tree(ctx, what):
    def body(rec, mnt):
        expect = walk_count(ctx.local_dirs[BUCKETS["tree"]])
        if what == "find":
            cmd, metric = f"find {mnt} | wc -l", "s3_find"

            def check(out):
                if int(out) != expect + 1:
                    raise bl.StepFailed(f"find saw {int(out) - 1} entries, expected {expect}")
        else:
            cmd, metric = f"ls -lR {mnt} | wc -l", "s3_lsr"
            check = None
        rec.timed(metric, "set -o pipefail; " + cmd, check=check)
    return BUCKETS["tree"], body


def m_big(ctx, what):
    def body(rec, mnt):
        local = ctx.local_dirs[BUCKETS["big"]]
        name = os.listdir(local)[0]
        size = os.path.getsize(os.path.join(local, name))
        f = os.path.join(mnt, name)
        if what == "seq":
            def value(seconds, out):
                got = int(re.search(r"(\d+) bytes", out).group(1))
                if got != size:
                    raise bl.StepFailed(f"dd read {got} bytes, expected {size}")
                return size / seconds / 2**20
            rec.timed("s4_seq", f"dd if={f} of=/dev/null bs=1M 2>&1", value=value)
            return
        depth = 1 if what == "rand1" else 32
        rt = ctx.args.size["fio_runtime"]
        cmd = ["fio", "--name=rand", f"--filename={f}", "--readonly", "--rw=randread",
               "--bs=4k", "--ioengine=io_uring", f"--iodepth={depth}", "--direct=0",
               f"--runtime={rt}", "--time_based", "--randrepeat=1", "--randseed=42",
               "--invalidate=1", "--output-format=json"]

        def iops(seconds, out):
            job = json.loads(out[out.index("{"):])["jobs"][0]
            if job.get("error"):
                raise bl.StepFailed(f"fio error {job['error']}")
            return job["read"]["iops"]
        rec.timed(f"s4_{what}", shlex.join(cmd), value=iops, timeout=rt + 120)
    return BUCKETS["big"], body


def measurements(ctx):
    sc = set(ctx.args.scenarios.split(","))
    out = []
    if "1" in sc:
        out += [m_stat(ctx, False), m_stat(ctx, True)]
    if "2" in sc:
        out += [m_shards(ctx)]
    if "3" in sc:
        out += [m_tree(ctx, "find"), m_tree(ctx, "lsr")]
    if "4" in sc:
        out += [m_big(ctx, "seq"), m_big(ctx, "rand1"), m_big(ctx, "rand32")]
    return out


class Recorder:
    """Times phases on one mount; accounts requests, daemon CPU and peak RSS per phase."""

    def __init__(self, ctx, tool, m, results, mount_requests):
        self.ctx, self.tool, self.m, self.results = ctx, tool, m, results
        self.mount_requests = mount_requests
        self.broken = None  # once a phase fails, the later phases of this mount are not run

    def timed(self, metric, cmds, check=None, value=None, timeout=None):
        runs = self.results.setdefault(metric, {}).setdefault(self.tool.name, [])
        if self.broken:
            runs.append({"status": self.broken, "error": "an earlier phase failed"})
            return
        cmds = cmds if isinstance(cmds, list) else [cmds]
        emu = self.ctx.emu
        before = emu.requests()
        cpu0 = bl.proc_cpu_seconds(self.m.pid)
        parts = []
        try:
            for cmd in cmds:
                if self.ctx.args.pin_caller is not None:
                    cmd = f"taskset -c {self.ctx.args.pin_caller} bash -c {shlex.quote(cmd)}"
                seconds, out = bl.run(cmd, timeout=timeout or self.ctx.args.step_timeout,
                                      guard=None if self.tool.is_local else self.m.path,
                                      out="capture")
                if check:
                    check(out)
                parts.append(value(seconds, out) if value else seconds)
        except (bl.StepTimeout, bl.StepFailed, ValueError, KeyError, AttributeError) as e:
            status = "timeout" if isinstance(e, bl.StepTimeout) else "failed"
            bl.log(f"  {self.tool.name} {metric}: {status}: {e}")
            runs.append({"status": status, "error": str(e)[:300]})
            self.broken = status
            return
        cpu1 = bl.proc_cpu_seconds(self.m.pid)
        rec = {"value": sum(parts) if not value else parts[0], "parts": parts,
               "requests": bl.diff_requests(emu.requests(), before),
               "mount_requests": self.mount_requests, "mount_s": self.m.mount_s,
               "cpu_s": None if cpu0 is None or cpu1 is None else cpu1 - cpu0,
               "rss_mib": bl.proc_peak_rss_mib(self.m.pid)}
        runs.append(rec)
        n = sum(v for k, v in rec["requests"].items() if k != "bytes")
        bl.log(f"  {self.tool.name} {metric}: {rec['value']:.3f} req={n} cpu={rec['cpu_s']}")


def run_measurement(ctx, tool, bucket, body, results):
    emu = ctx.emu
    before = emu.requests()
    rec = None
    try:
        with tool.mounted(bucket) as m:
            mount_requests = bl.diff_requests(emu.requests(), before)
            bl.drop_caches()
            rec = Recorder(ctx, tool, m, results, mount_requests)
            body(rec, m.path)
    except (bl.StepTimeout, bl.StepFailed, OSError) as e:
        status = "timeout" if isinstance(e, bl.StepTimeout) else "failed"
        bl.log(f"  {tool.name} on {bucket}: {status}: {e}")
        if rec is None:  # the mount itself failed: record every phase it would have run
            rec = Recorder(ctx, tool, types.SimpleNamespace(pid=None, mount_s=0, path=""),
                           results, {})
            rec.broken = status
            body(rec, "/nonexistent")


def render_saved(args):
    metas, results = [], {}
    for path in args.render:
        with open(path) as f:
            saved = json.load(f)
        metas.append(saved["meta"])
        for mid, per_tool in saved["results"].items():
            for tool, runs in per_tool.items():
                results.setdefault(mid, {}).setdefault(tool, []).extend(runs)
    meta = dict(metas[0])
    if len(metas) > 1:
        meta["runs_note"] = "; ".join(
            f"{m['runs']} run(s) for scenario(s) {m['scenarios']} (step timeout "
            f"{m['step_timeout']:g} s, {m['date']}, load {m['load']})" for m in metas)
        meta["duration_min"] = round(sum(m["duration_min"] for m in metas), 1)
    tools = list(meta["versions"])
    return meta, results, tools


def failures(results):
    return [f"{tool} {mid}: {r['status']}" for mid, per_tool in results.items()
            for tool, runs in per_tool.items() for r in runs if "status" in r]


def main(argv):
    args = parse_args(argv)
    if args.render:
        meta, results, tools = render_saved(args)
        md = report.render(meta, results, tools, args.img, args.doc)
        print(md)
        if args.doc:
            report.update_doc(args.doc, md)
        return 0
    if os.geteuid() != 0 or not os.path.exists("/dev/fuse"):
        print("SKIP: compare.py needs root and /dev/fuse", file=sys.stderr)
        return 77
    ossemu = os.path.join(args.build, "tools", "ossemu")
    if not os.access(ossemu, os.X_OK):
        print(f"compare.py: {ossemu} not built", file=sys.stderr)
        return 1
    os.makedirs(args.work, exist_ok=True)
    # SIGTERM (meson's timeout, kill) unwinds like Ctrl-C, so mounts and the namespace go away.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    ctx = types.SimpleNamespace(args=args, work=args.work, local_dirs={},
                                local_base=os.path.join(args.work, "local"),
                                ossuring=os.path.join(args.build, "tools", "ossuring"),
                                ossuring_args=args.ossuring_arg, emu=None)
    wanted = {t.strip() for t in args.tools.split(",")}
    tools = [t for t in mounts.all_tools(ctx) if t.key in wanted]
    skipped = [t.name for t in tools if not t.available()]
    tools = [t for t in tools if t.available()]
    for name in skipped:
        bl.log(f"{name}: not installed or not built, left out")
    buckets = {BUCKETS[k]: args.size[k] for k in BUCKETS}
    results = {}
    started = time.time()
    with bl.Netns(args.netns, args.rate, args.subnet), \
            bl.NsEmulator(ossemu, args.netns, args.subnet, buckets, args.latency,
                          args.connect_delay, os.path.join(args.work, "ossemu.log")) as emu:
        ctx.emu = emu
        for bucket, spec in buckets.items():
            materialise(ctx, bucket, spec)
        ms = measurements(ctx)
        for run in range(args.runs):
            bl.log(f"run {run + 1}/{args.runs}")
            for bucket, body in ms:
                for tool in tools:
                    run_measurement(ctx, tool, bucket, body, results)
        meta = report.environment(ctx, tools, skipped, buckets, started)
    out = os.path.join(args.work, f"results-{time.strftime('%Y%m%d-%H%M%S')}.json")
    with open(out, "w") as f:
        json.dump({"meta": meta, "results": results}, f, indent=1)
    bl.log(f"raw results: {out}")
    md = report.render(meta, results, [t.name for t in tools], args.img, args.doc)
    print(md)
    if args.doc:
        report.update_doc(args.doc, md)
        bl.log(f"updated {args.doc} and plots in {args.img}")
    if args.check and failures(results):
        bl.log("harness check failed: " + "; ".join(failures(results)))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
