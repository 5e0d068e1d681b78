"""Idle cost: what a supervisor does while nothing happens.

Wakeups are context switches (voluntary + involuntary, summed over the
process's threads from /proc/PID/task/*/status) of the supervision
processes over a window: a process that sleeps in poll() without a
timeout adds none.  CPU is utime+stime over the same window.  With a
health check (healthcheck_timer=1) the check itself counts its runs, so
the report also shows how many checks ran per period.

Every column's sandboxes sit through the same window side by side (their
counters are their own, and idle processes do not compete), which keeps
a long window affordable.
"""

import time

from bench import procs, scripts, targets
from bench.metrics import Figure, takes
from bench.world import World

SETTLE = 2.0
TIMER = 1


def figures(cfg):
    return [
        Figure("idle.wakeups", "idle wakeups/s, no check", "/s", 1, targets.Exactly(0),
               kinds=("rc", "runit"), absolute=True),
        Figure("idle.cpu", "idle CPU, no check", "%", 100, kinds=("rc", "runit"), absolute=True),
        Figure("idle_hc.checks", "health checks per %ds period" % TIMER, "", 1,
               targets.Exactly(1, 0.2), absolute=True),
        Figure("idle_hc.wakeups", "wakeups per health check", "", 1),
        Figure("idle_hc.cpu", "CPU with a health check", "%", 100, absolute=True),
    ]


def measure(columns, cfg):
    out, worlds = {}, []
    try:
        for col in columns:
            if col.kind not in ("rc", "runit") or not takes(col, "idle"):
                continue
            try:
                worlds.append((col, "idle", _start(col, health=False)))
                if col.kind == "rc":
                    worlds.append((col, "idle_hc", _start(col, health=True)))
            except Exception as e:
                out[col.key] = {"error": "%s: %s" % (type(e).__name__, e)}
        worlds = [x for x in worlds if x[0].key not in out]
        time.sleep(SETTLE)
        before = [_counters(w) for _, _, w in worlds]
        time.sleep(cfg.idle_seconds)
        for (col, what, w), (snap0, checks0) in zip(worlds, before):
            snap1, checks1 = _counters(w)
            secs, cpu, ctx = procs.window(snap0, snap1)
            figs = out.setdefault(col.key, {})
            figs[what + ".cpu"] = cpu / secs
            if what == "idle":
                figs["idle.wakeups"] = ctx / secs
            else:
                checks = checks1 - checks0
                figs["idle_hc.checks"] = checks / (secs / TIMER)
                figs["idle_hc.wakeups"] = ctx / checks if checks else None
                figs["idle_hc.wakeups_per_s"] = ctx / secs
    finally:
        for _, _, w in worlds:
            w.__exit__()
    return out


def _start(col, health):
    w = World(col).__enter__()
    try:
        svc = "checked" if health else "quiet"
        if col.kind == "runit":
            w.runit_services([svc])
        else:
            extra = {"healthcheck_timer": TIMER} if health else {}
            w.install(svc, scripts.init_script(svc, col, health=health, **extra))
            w.rc_each("start", [svc])
        w.wait_up([svc])
        w.settle(quiet=0.3)
        w.check_supervisor()
        w.idle_svc = svc
        # The processes are fixed now: a health check's own children come
        # and go, and are not the supervisor.
        w.idle_procs = w.supervision()
        return w
    except BaseException:
        w.__exit__()
        raise


def _counters(w):
    return (procs.snapshot(w.idle_procs, time.monotonic()),
            w.file_size("/run/bench/checks.%s" % w.idle_svc))
