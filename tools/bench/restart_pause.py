#!/usr/bin/env python3
"""How long readers of a --supervise mount wait when its daemon is killed (a benchmark, not a
test).

Mounts a flat synthetic bucket of --files objects in index mode with --supervise, then --runs
times: kills the daemon (SIGKILL) and at once reads a file not read before; the pause is the
time from the kill to the read's return (the supervisor's fork, the new daemon's index restore
and the resent requests). Prints the pauses, their median, the mount's own index build time (the
least a remount costs without a supervisor, whose readers fail meanwhile), the restarted
daemon's RSS and the size of the index image the supervisor holds. Results belong in docs/benchmarks.md
"Supervised restarts".

Usage (root): tools/bench/restart_pause.py [--build DIR] [--files 1000000] [--runs 5]
"""
import argparse
import os
import signal
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--files", type=int, default=1000000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    os.environ["OSSURING_BUILD"] = os.path.abspath(args.build)
    import harness  # reads OSSURING_BUILD
    from test_mount_supervise import processes, wait_for_new_worker

    with harness.Emulator({"flat": f"flat:{args.files}:1024"}) as emu, \
            harness.Mount(emu, "flat", args=["--supervise"]) as m:
        names = sorted(os.listdir(m.dir))
        pauses = []
        for run in range(args.runs):
            _, worker = processes(m)
            started = time.monotonic()
            os.kill(worker, signal.SIGKILL)
            with open(m.path(names[10 + run]), "rb") as f:
                assert len(f.read()) == 1024
            pauses.append((time.monotonic() - started) * 1000)
            wait_for_new_worker(m, worker)
        supervisor, worker = processes(m)
        with open(f"/proc/{worker}/status") as f:
            rss_kib = int(f.read().split("VmRSS:")[1].split()[0])
        image = [os.stat(f"/proc/{supervisor}/fd/{fd}").st_size
                 for fd in os.listdir(f"/proc/{supervisor}/fd")
                 if "ossuring-index" in os.readlink(f"/proc/{supervisor}/fd/{fd}")]
        # Without a supervisor, readers fail and recovery is a new mount: at least this.
        built = [line for line in m.log_text().splitlines()
                 if "event=index_ready" in line and "seconds=" in line]
        index_s = float(built[0].split("seconds=")[1].split()[0]) if built else float("nan")
        print(f"files {args.files}: pauses ms {[round(p, 1) for p in pauses]}, "
              f"median {statistics.median(pauses):.1f}; the mount's own index build "
              f"{index_s * 1000:.0f} ms; restarted daemon RSS {rss_kib / 1024:.0f} MiB; index "
              f"image held by the supervisor {sum(image) / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
