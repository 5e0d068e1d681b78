"""Crash storm: a daemon that exits at once, respawned without limit
(respawn_max=0, no respawn_delay).  Over a window: respawns per second
(each start appends one byte to a file) and the CPU the supervision
itself used (utime+stime from /proc/PID/stat of the supervisor processes
alive over the whole window, so the short-lived children are not
counted), as a share of one CPU."""

import time

from bench import procs, scripts, targets
from bench.metrics import Figure, per_column

WARMUP = 0.5


def figures(cfg):
    return [Figure("storm.rate", "crash storm, respawns/s", "/s", 1, targets.RatioAtLeast(1.0)),
            Figure("storm.cpu", "crash storm, supervisor CPU", "%", 100, targets.RatioAtMost(2.0)),
            Figure("storm.cpu_per", "crash storm, CPU per respawn", "ms", 1000)]


def measure(columns, cfg):
    return per_column(columns, lambda w: one(w, cfg.storm_seconds), metric='storm')


def one(w, seconds):
    w.install("storm", scripts.init_script("storm", w.column, crash=True))
    w.rc_each("start", ["storm"])
    time.sleep(WARMUP)
    sup = w.supervision()
    n0, before = w.file_size("/run/bench/crashes"), procs.snapshot(sup, time.monotonic())
    time.sleep(seconds)
    n1, after = w.file_size("/run/bench/crashes"), procs.snapshot(sup, time.monotonic())
    secs, cpu, _ = procs.window(before, after)
    if n1 == n0:
        # Seen once with OpenRC's C supervisor on a loaded machine: no
        # respawn over a whole window.  A failed run, not a rate of 0.
        st = w.sb.run("rc-service", "storm", "status")
        raise RuntimeError("%s: no respawn within %gs (%d before it); rc-service status: %s; "
                           "supervision: %s" % (w.column.key, seconds, n0, st.stdout.strip(),
                                                [p.cmdline for p in w.supervision()]))
    w.rc_each("stop", ["storm"])
    return {"storm.rate": (n1 - n0) / secs, "storm.cpu": cpu / secs,
            "storm.cpu_per": cpu / (n1 - n0) if n1 > n0 else None}
