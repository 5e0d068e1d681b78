"""`rc-service SVC start` and `stop` for one service: the wall time of the
command, timed inside the sandbox, over a few start/stop cycles (the
median per run; a single command is too short to trust once).  Each
start is followed by waiting for the daemon, so every stop stops a
running daemon."""

import statistics

from bench import scripts, targets
from bench.metrics import Figure, per_column


def figures(cfg):
    # The targets: the drop-in at most 1.2x C, the plugin at most 2x.
    target = {"*": targets.RatioAtMost(1.2), "plugin": targets.RatioAtMost(2)}
    return [Figure("start.1", "start 1 service", "ms", 1000, target),
            Figure("stop.1", "stop 1 service", "ms", 1000, target)]


def measure(columns, cfg):
    return per_column(columns, lambda w: one(w, cfg.cycles), metric='startstop')


def one(w, cycles):
    w.install("one", scripts.init_script("one", w.column))
    starts, stops = [], []
    for _ in range(cycles):
        w.drain()
        starts.append(w.rc_each("start", ["one"]))
        w.wait_up(["one"])
        w.settle(quiet=0.2)
        stops.append(w.rc_each("stop", ["one"]))
    return {"start.1": statistics.median(starts), "stop.1": statistics.median(stops),
            "start.1.samples": starts, "stop.1.samples": stops}
