"""Respawn latency: from SIGKILL to the daemon to its replacement's start.

The bench looks up the daemon's host pid, takes time.monotonic() and
kills it; the replacement writes "up SVC PID" on the event fifo the bench
is blocked reading (see world.py), and the read's return is the second
stamp.  The daemon is left alone for a moment between kills, so each
respawn is a fresh one (no supervisor throttles that, with
respawn_delay unset and respawn_max=0), but for runsv, which holds back a
service that ran less than a second (Column.min_uptime).  A column gets
--kills kills or BUDGET seconds, whichever ends first (at least
MIN_KILLS).

The tail is a p99 only over at least P99_SAMPLES kills in a run (a p99 of
50 samples is the largest but one); with fewer, the row is the max and
says so."""

import os
import time

from bench import procs, scripts, stats, targets
from bench.metrics import Figure, per_column

PAUSE = 0.05
BUDGET = 30.0       # seconds per column: monit and runit take a second or more per respawn
MIN_KILLS = 3
P99_SAMPLES = 200


def figures(cfg):
    tail = (Figure("respawn.p99", "respawn latency, p99", "ms", 1000) if cfg.kills >= P99_SAMPLES else
            Figure("respawn.max", "respawn latency, max (p99 needs %d kills)" % P99_SAMPLES, "ms", 1000))
    return [Figure("respawn.median", "respawn latency, median", "ms", 1000, targets.RatioAtMost(1.0)),
            tail]


def measure(columns, cfg):
    return per_column(columns, lambda w: one(w, cfg.kills), metric='respawn')


def one(w, kills):
    pause = max(PAUSE, w.column.min_uptime)
    w.install("one", scripts.init_script("one", w.column))
    w.rc_each("start", ["one"])
    pid = int(w.wait_up(["one"])["one"][1][2])
    w.settle(quiet=0.2)
    w.check_supervisor()
    samples = []
    deadline = time.monotonic() + BUDGET
    while len(samples) < kills and (len(samples) < MIN_KILLS or time.monotonic() < deadline):
        time.sleep(pause)
        w.drain()
        host = procs.host_pid(w.init_pid, pid)
        if host is None:
            raise RuntimeError("%s: the daemon (pid %d) is gone" % (w.column.key, pid))
        t0 = time.monotonic()
        os.kill(host, 9)
        stamp, words = w.wait_up(["one"])["one"]
        samples.append(stamp - t0)
        pid = int(words[2])
    w.rc_each("stop", ["one"])
    out = {"respawn.median": stats.median(samples), "respawn.max": max(samples),
           "respawn.samples": samples, "respawn.kills": len(samples)}
    if len(samples) >= P99_SAMPLES:
        out["respawn.p99"] = stats.percentile(samples, 99)
    elif kills >= P99_SAMPLES:
        # The row asked for a p99 and the budget ran out first: the cell
        # says why instead of a p99 of too few samples.
        out["error"] = "%d kills in %gs: too few for a p99 (%d)" % (len(samples), BUDGET, P99_SAMPLES)
    return out
