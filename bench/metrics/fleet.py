"""N services: start them in a row, measure the supervision's memory,
kill every daemon at once and time until all are back, stop them in a row.

Memory is Pss and Private_Dirty from /proc/PID/smaps_rollup summed over
every process in the sandbox except the daemons and the sandbox's PID 1:
the supervisors, and any helper the column needs (fork server,
runsvdir + runsv, monit).  Pss shares each shared page among the processes
that map it, so the sum is what the supervision costs the machine;
Private_Dirty is what no other process could share.  The fork server is
one of those processes, so its own Pss is in the total once, however
many supervisors it forked (and is shown on its own as well).

Memory is also measured on every other interpreter found (cfg.pythons:
pyenv builds and the like), for the columns that can run on one: our
drop-in's launcher and the fork server then use that interpreter, and
the row says which one it was.  Those rows are ratios to C's figure of
the same run.
"""

import os
import time

from bench import procs, scripts, targets
from bench.metrics import Figure, names, per_column

# The targets: a default install (one interpreter per service, the
# fork server, lean) at most 5x C's memory, with page merging at most 3x;
# 50 starts in a row at most 1.2x C, the plugin's at most 2x.
MEMORY = {"*": targets.RatioAtMost(5), "merge": targets.RatioAtMost(3)}
IN_A_ROW = {"*": targets.RatioAtMost(1.2), "plugin": targets.RatioAtMost(2)}
OTHER_PYTHONS_FROM = 50         # other interpreters: only the fleets the targets are for


def figures(cfg):
    out = []
    here = cfg.python_version
    for n in cfg.services:
        mem_target = MEMORY if n >= 50 else None
        out.append(Figure("mem.pss.%d" % n, "memory Pss, %d svc, py%s" % (n, here), "MB", 1 / 1024.0,
                          mem_target, kinds=("rc", "runit")))
        for path, ver in cfg.pythons if n >= OTHER_PYTHONS_FROM else ():
            out.append(Figure("mem.pss.%d@%s" % (n, ver), "memory Pss, %d svc, py%s" % (n, ver),
                              "MB", 1 / 1024.0, mem_target, kinds=("rc",), ref="mem.pss.%d" % n,
                              only=tuple(c.key for c in cfg.all_columns if c.other_pythons)))
        out.append(Figure("mem.dirty.%d" % n, "memory Private_Dirty, %d svc, py%s" % (n, here), "MB",
                          1 / 1024.0, kinds=("rc", "runit")))
        out.append(Figure("mem.server.%d" % n, "of which the fork server, %d svc" % n, "MB",
                          1 / 1024.0, absolute=True,
                          only=tuple(c.key for c in cfg.all_columns if "forkserver" in c.prepare_name)))
    for n in cfg.services:
        if n > 1:
            out.append(Figure("start.%d" % n, "start %d in a row" % n, "s", 1, IN_A_ROW))
            out.append(Figure("stop.%d" % n, "stop %d in a row" % n, "s", 1, IN_A_ROW))
    for n in cfg.services:
        if n > 1:
            out.append(Figure("recover.%d" % n, "%d killed at once, all back" % n, "ms", 1000,
                              targets.RatioAtMost(1.0), kinds=("rc", "runit")))
    return out


def measure(columns, cfg):
    out = {}

    def merge(res, suffix=""):
        for key, figs in res.items():
            merged = out.setdefault(key, {})
            if "error" in figs:
                figs = {"error": figs["error"] + suffix, "trace": figs.get("trace", "")}
                if "error" in merged:
                    continue            # the first error says it
            merged.update(figs)

    for n in cfg.services:
        fit = [c for c in columns if n <= c.max_services]
        merge(per_column(fit, lambda w: one(w, n), kinds=("rc", "runit"), metric="fleet"))
        if n < OTHER_PYTHONS_FROM:
            continue
        for python, ver in cfg.pythons:
            others = [c for c in fit if c.other_pythons]
            merge(per_column(others, lambda w: memory_only(w, n, ver), metric="fleet", python=python),
                  " (python %s, %d services)" % (ver, n))
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
    _wait_for_merging(w)
    figs["mem.pss.%d" % n], figs["mem.dirty.%d" % n], server = memory(w)
    if server is not None:
        figs["mem.server.%d" % n] = server
    figs["procs.%d" % n] = len(w.supervision())
    if n > 1:
        figs["recover.%d" % n] = kill_all(w, svcs)
    if w.column.kind != "runit":
        w.settle()
        figs["stop.%d" % n] = w.rc_each("stop", svcs)
    return figs


def memory_only(w, n, ver):
    """Start n services and read the memory: the rows for another
    interpreter.  Nothing is stopped: the sandbox goes, and all with it."""
    svcs = names("s", n)
    for s in svcs:
        w.install(s, scripts.init_script(s, w.column))
    w.rc_each("start", svcs)
    w.wait_up(svcs, timeout=30 + n * 0.2)
    w.settle()
    w.check_supervisor()
    _wait_for_merging(w)
    pss, dirty, server = memory(w)
    return {"mem.pss.%d@%s" % (n, ver): pss, "mem.dirty.%d@%s" % (n, ver): dirty,
            "mem.server.%d@%s" % (n, ver): server}


def memory(w):
    """(Pss, Private_Dirty, the fork server's own Pss or None), kB."""
    pss = dirty = 0
    server = None
    found = w.supervision()
    for p in found:
        m = procs.memory_kb(p)
        pss += m["Pss"]
        dirty += m["Private_Dirty"]
    # Supervisors forked from the server keep its command line; the server
    # is the first of them, started before any service.
    servers = sorted((p for p in found if "forkserver" in p.cmdline), key=lambda p: p.start)
    if servers:
        server = procs.memory_kb(servers[0])["Pss"]
    return pss, dirty, server


KSM = "/sys/kernel/mm/ksm/"


def _wait_for_merging(w, quiet=3.0, timeout=240.0):
    """With page merging, the memory is read once ksmd has gone over the
    supervisors: two full scans after they all started (a page is merged
    at the earliest in the scan after the one that first saw it; at 500
    services one scan takes about half a minute at ksmd's default rate),
    then until pages_sharing has not grown for `quiet` seconds."""
    if not w.column.merge:
        return
    def counter(name):
        try:
            with open(KSM + name) as f:
                return int(f.read())
        except (OSError, ValueError):
            return 0
    deadline = time.monotonic() + timeout
    scans = counter("full_scans") + 2
    while time.monotonic() < deadline and counter("full_scans") < scans:
        time.sleep(0.5)
    last, since = counter("pages_sharing"), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = counter("pages_sharing")
        if now > last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return


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
