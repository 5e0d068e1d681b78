"""N services: start them in a row, measure the supervision's memory,
kill every daemon at once and time until all are back, stop them in a row.

Memory is Pss and Private_Dirty from /proc/PID/smaps_rollup summed over
every process in the sandbox except the daemons and the sandbox's PID 1:
the supervisors, and any helper the column needs (fork server,
runsvdir + runsv, monit).  Pss shares each shared page among the processes
that map it, so the sum is what the supervision costs the machine;
Private_Dirty is what no other process could share.
"""

import os
import time

from bench import procs, scripts, targets
from bench.metrics import Figure, names, per_column


def figures(cfg):
    out = []
    for n in cfg.services:
        big = n >= 50
        mem_target = targets.RatioAtMost(3) if big else None
        out.append(Figure("mem.pss.%d" % n, "memory Pss, %d svc" % n, "MB", 1 / 1024.0,
                          mem_target, kinds=("rc", "runit")))
        out.append(Figure("mem.dirty.%d" % n, "memory Private_Dirty, %d svc" % n, "MB", 1 / 1024.0,
                          mem_target, kinds=("rc", "runit")))
    for n in cfg.services:
        if n > 1:
            out.append(Figure("start.%d" % n, "start %d in a row" % n, "s", 1, targets.RatioAtMost(1.2)))
            out.append(Figure("stop.%d" % n, "stop %d in a row" % n, "s", 1, targets.RatioAtMost(1.2)))
    for n in cfg.services:
        if n > 1:
            out.append(Figure("recover.%d" % n, "%d killed at once, all back" % n, "ms", 1000,
                              targets.RatioAtMost(1.0), kinds=("rc", "runit")))
    return out


def measure(columns, cfg):
    out = {}
    for n in cfg.services:
        fit = [c for c in columns if n <= c.max_services]
        res = per_column(fit, lambda w: one(w, n), kinds=("rc", "runit"))
        for key, figs in res.items():
            merged = out.setdefault(key, {})
            if "error" in figs and "error" in merged:
                continue            # the first error says it
            merged.update(figs)
    return out


def one(w, n):
    svcs = names("s", n)
    figs = {}
    if w.column.kind == "runit":
        w.runit_services(svcs)
    else:
        for s in svcs:
            w.install(s, scripts.init_script(s, w.column))
        figs["start.%d" % n] = w.rc_each("start", svcs)
    w.wait_up(svcs, timeout=30 + n * 0.2)
    w.settle()
    w.check_supervisor()
    figs["mem.pss.%d" % n], figs["mem.dirty.%d" % n] = memory(w)
    figs["procs.%d" % n] = len(w.supervision())
    if n > 1:
        figs["recover.%d" % n] = kill_all(w, svcs)
    if w.column.kind != "runit":
        w.settle()
        figs["stop.%d" % n] = w.rc_each("stop", svcs)
    return figs


def memory(w):
    pss = dirty = 0
    for p in w.supervision():
        m = procs.memory_kb(p)
        pss += m["Pss"]
        dirty += m["Private_Dirty"]
    return pss, dirty


def kill_all(w, svcs):
    """Seconds from SIGKILL to every daemon to the last replacement's start."""
    daemons = w.daemons()
    if len(daemons) != len(svcs):
        raise RuntimeError("%s: %d daemons for %d services" % (w.column.key, len(daemons), len(svcs)))
    ready_at = max(p.start for p in daemons) / procs.CLK_TCK + w.column.min_uptime
    while _uptime() < ready_at:
        time.sleep(0.05)
    w.drain()
    t0 = time.monotonic()
    for p in daemons:
        os.kill(p.pid, 9)
    got = w.wait_up(svcs, timeout=30 + len(svcs) * 0.2)
    return max(stamp for stamp, _ in got.values()) - t0


def _uptime():
    """Seconds since boot, the clock of /proc start times."""
    return time.clock_gettime(time.CLOCK_BOOTTIME)
