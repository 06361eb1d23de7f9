#!/usr/bin/env python3
"""Poll mode (--poll-us) against sleeping reactors: fresh-mount stats and warm small-file opens.

One synthetic bucket of N files of 16 KiB in one directory (`flat:N:16384`). The caller always
runs on CPU 0 (a child process pinned with sched_setaffinity). Mount configurations:

- `--cpus 1`: the daemon's one reactor pinned to CPU 1, sleeping when idle (today's default);
- `--cpus 1 --poll-us P`: the same reactor spinning up to P µs before it sleeps;
- `--cpus 0` (and `--cpus 0 --poll-us P` with --shared-poll): the daemon on the caller's CPU,
  for reference;
- `--cpus 1,0` with --two-reactors: home on CPU 1 and a second reactor on the caller's CPU,
  which reads its requests (/dev/fuse clone) or holds its CPU's ring entries (io_uring) and
  relays each to home.

Each configuration is measured reading /dev/fuse and, where the kernel has FUSE over io_uring,
with `--fuse-uring` (the fuse module's enable_uring is set for the run and restored).

Per pass and configuration: a fresh mount (index mode: the listing is taken at mount, so every
stat is one FUSE LOOKUP answered from memory, no request to OSS) on which the caller stats every
file once; and, on mounts kept for the whole run and warmed twice (every object in the daemon's
memory, dentries and pages cached), one open + read + close of every file, in the default open
mode (noopen) and with `--open-mode read` (an OPEN and a RELEASE round trip per file). The order
of the configurations alternates between passes so load drift hits each the same way; figures
are medians over the passes. The daemon's CPU time per stat pass is read from /proc.

--halt-poll-ns sets the guest kernel's cpuidle haltpoll window (/sys/module/haltpoll) for the
run and restores it: with 0 an idle vCPU halts at once and waking it costs a VM exit, which is
what remains of a cross-CPU round trip once the daemon no longer sleeps.

A benchmark, not a test (docs/benchmarks.md "Poll mode"). Needs root, /dev/fuse and 2+ CPUs.
Usage: tools/bench/poll_mode.py [--build DIR] [--files N] [--passes N] [--poll-us P]
                                [--two-reactors] [--shared-poll] [--nice N] [--halt-poll-ns N]
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HALT_POLL = "/sys/module/haltpoll/parameters/guest_halt_poll_ns"
ENABLE_URING = "/sys/module/fuse/parameters/enable_uring"
SIZE = 16384


def worker(what, listing):
    """Child process: stat or open+read+close every path in `listing`; prints seconds."""
    with open(listing) as f:
        paths = f.read().split("\n")
    start = time.perf_counter()
    if what == "stat":
        st = os.stat
        for p in paths:
            st(p)
    else:
        o, r, c, flags = os.open, os.read, os.close, os.O_RDONLY
        for p in paths:
            fd = o(p, flags)
            n = len(r(fd, SIZE + 1))
            c(fd)
            if n != SIZE:
                raise RuntimeError(f"read {n} bytes of {p}")
    print(time.perf_counter() - start)
    return 0


NICE = 0  # --nice: the caller's and the daemon's nice value


def set_nice(pid, tids):
    """Nice value for the threads `tids` of `pid` and for its autogroup (with autogrouping, nice
    only orders threads of one session; sessions share a CPU evenly whatever their nice)."""
    for tid in tids:
        os.setpriority(os.PRIO_PROCESS, tid, NICE)
    try:
        with open(f"/proc/{pid}/autogroup", "w") as f:
            f.write(str(NICE))
    except OSError:
        pass  # no CONFIG_SCHED_AUTOGROUP


def pin_and_nice(cpu):
    os.sched_setaffinity(0, {cpu})
    if NICE:
        os.setsid()  # an autogroup of its own, so that its nice does not touch ours
        set_nice(os.getpid(), [0])


def run_pinned(cpu, what, paths, tmp):
    """Runs the worker on `cpu`, returns its seconds."""
    listing = os.path.join(tmp, "paths.txt")
    with open(listing, "w") as f:
        f.write("\n".join(paths))
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", what, listing],
                         check=True, capture_output=True, text=True, timeout=600,
                         preexec_fn=lambda: pin_and_nice(cpu))
    return float(out.stdout.strip())


def renice_daemon(mount_dir):
    """Gives every thread of the daemon serving `mount_dir` the --nice value; returns its pid."""
    from faultlib import daemon_pid  # on the path once main() has set OSSURING_BUILD
    pid = daemon_pid(mount_dir)
    if pid and NICE:
        set_nice(pid, [int(tid) for tid in os.listdir(f"/proc/{pid}/task")])
    return pid


def cpu_seconds(pid):
    """Time the daemon's threads have spent on a CPU (schedstat: nanoseconds, not ticks)."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except OSError:
            pass
    return total / 1e9


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--worker":
        return worker(sys.argv[2], sys.argv[3])
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.environ.get("OSSURING_BUILD",
                                                      os.path.join(ROOT, "build")))
    ap.add_argument("--files", type=int, default=10000)
    ap.add_argument("--passes", type=int, default=5)
    ap.add_argument("--poll-us", type=int, default=200)
    ap.add_argument("--two-reactors", action="store_true",
                    help="also measure --cpus 1,0 (a reactor on each CPU, home on CPU 1)")
    ap.add_argument("--shared-poll", action="store_true",
                    help="also measure poll mode with the daemon on the caller's CPU")
    ap.add_argument("--nice", type=int, default=0,
                    help="nice value of the caller and the daemon (e.g. -20: on a machine "
                         "shared with other work, comes closer to CPUs dedicated to them)")
    ap.add_argument("--halt-poll-ns", type=int, default=None,
                    help="set the guest's haltpoll window for the run (restored after)")
    args = ap.parse_args()
    global NICE
    NICE = args.nice
    if (os.cpu_count() or 1) < 2:
        print("needs 2 CPUs")
        return 77
    os.environ["OSSURING_BUILD"] = os.path.abspath(args.build)
    sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
    import harness  # noqa: E402 - reads OSSURING_BUILD at import
    harness.require_mount_privileges()
    sys.path.insert(0, os.path.join(ROOT, "tests", "faults"))

    poll = ["--poll-us", str(args.poll_us)]
    transports = {"/dev/fuse": []}
    if os.path.exists(ENABLE_URING):
        transports["io_uring"] = ["--fuse-uring"]
    configs = {}
    for t, ring in transports.items():
        configs[f"{t}, cross CPU, sleeping (`--cpus 1`)"] = ["--cpus", "1"] + ring
        configs[f"{t}, cross CPU, poll mode (`--cpus 1 --poll-us {args.poll_us}`)"] = (
            ["--cpus", "1"] + poll + ring)
        configs[f"{t}, same CPU, sleeping (`--cpus 0`)"] = ["--cpus", "0"] + ring
        if args.two_reactors:
            # Home on CPU 1, a second reactor on the caller's CPU: with /dev/fuse it reads the
            # caller's requests on its clone; with io_uring it holds CPU 0's queue entries.
            # Either way it relays each request to home and back.
            configs[f"{t}, two reactors, home on the other CPU (`--cpus 1,0`)"] = (
                ["--cpus", "1,0"] + ring)
        if args.shared_poll:
            configs[f"{t}, same CPU, poll mode (`--cpus 0 --poll-us {args.poll_us}`)"] = (
                ["--cpus", "0"] + poll + ring)
    width = len(str(args.files - 1))
    names = [f"file-{i:0{width}d}.bin" for i in range(args.files)]
    halt_before = None
    uring_before = None
    if "io_uring" in transports:
        with open(ENABLE_URING) as f:
            uring_before = f.read().strip()
        with open(ENABLE_URING, "w") as f:
            f.write("Y")
    if args.halt_poll_ns is not None:
        with open(HALT_POLL) as f:
            halt_before = f.read().strip()
        with open(HALT_POLL, "w") as f:
            f.write(str(args.halt_poll_ns))
    try:
        tmp = tempfile.mkdtemp(prefix="poll-mode-")
        spec = f"flat:{args.files}:{SIZE}"
        times = {}
        with harness.Emulator({"bench": spec}) as emu:
            kept = {}
            try:
                for label, extra in configs.items():
                    for mode in ("noopen", "read"):
                        m = harness.Mount(emu, "bench", args=extra + ["--open-mode", mode])
                        kept[(label, mode)] = m.__enter__()
                        renice_daemon(m.dir)
                for m in kept.values():
                    paths = [m.path(n) for n in names]
                    for _ in range(2):  # fetch every object, then cache dentries and pages
                        run_pinned(0, "read", paths, tmp)
                order = list(configs)
                for _ in range(args.passes):
                    for label in order:
                        with harness.Mount(emu, "bench", args=configs[label]) as m:
                            pid = renice_daemon(m.dir)
                            cpu0 = cpu_seconds(pid) if pid else 0.0
                            t = run_pinned(0, "stat", [m.path(n) for n in names], tmp)
                            times.setdefault((label, "stat"), []).append(t)
                            if pid:
                                times.setdefault((label, "cpu"), []).append(
                                    cpu_seconds(pid) - cpu0)
                        for mode in ("noopen", "read"):
                            m = kept[(label, mode)]
                            t = run_pinned(0, "read", [m.path(n) for n in names], tmp)
                            times.setdefault((label, mode), []).append(t)
                    order.reverse()
                requests = {k: m.stats().get("fuse", {}).get("requests", 0)
                            for k, m in kept.items()}
            finally:
                for m in kept.values():
                    m.__exit__(None, None, None)
    finally:
        if uring_before is not None:
            with open(ENABLE_URING, "w") as f:
                f.write(uring_before)
        if halt_before is not None:
            with open(HALT_POLL, "w") as f:
                f.write(halt_before)
    halt = "-"
    if os.path.exists(HALT_POLL):
        with open(HALT_POLL) as f:
            halt = f.read().strip()
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f}, guest_halt_poll_ns "
          f"{args.halt_poll_ns if args.halt_poll_ns is not None else halt + ' (unchanged)'} "
          f"during the run, {halt} after it, "
          f"nice {NICE}; {args.files} files of {SIZE} B, medians of {args.passes} passes, "
          "caller on CPU 0")
    print("| daemon | fresh-mount stats, s | µs per stat | daemon CPU s per stat pass | "
          "warm open+read+close noopen, µs | warm open+read+close `--open-mode read`, µs | "
          "FUSE requests (noopen / read mounts) |")
    print("|---|---|---|---|---|---|---|")
    for label in configs:
        s = statistics.median(times[(label, "stat")])
        spread = f"{min(times[(label, 'stat')]):.3f}–{max(times[(label, 'stat')]):.3f}"
        cpu = times.get((label, "cpu"))
        cpu_text = f"{statistics.median(cpu):.2f}" if cpu else "-"
        no = statistics.median(times[(label, "noopen")]) / args.files * 1e6
        rd = statistics.median(times[(label, "read")]) / args.files * 1e6
        print(f"| {label} | {s:.3f} ({spread}) | {s / args.files * 1e6:.1f} | {cpu_text} | "
              f"{no:.1f} | {rd:.1f} | {requests[(label, 'noopen')]:,} / "
              f"{requests[(label, 'read')]:,} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
