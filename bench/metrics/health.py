"""Health check to replacement: how long a failing daemon keeps running.

healthcheck_timer=1; the bench creates /run/bench/sick.SVC, and the next
healthcheck() removes it, writes "sick SVC" on the event fifo and fails.
The supervisor then runs `unhealthy` (which writes "unhealthy SVC"),
stops the daemon with its stop schedule and starts a new one ("up SVC
PID").  Figures: from the failing check to the new daemon, and from the
unhealthy hook to it (the supervisor's own part, without the
`openrc-run unhealthy` start-up both supervisors pay).

retry=TERM/1: the daemon dies at its first SIGTERM, so it needs no time
from its stop schedule; the target is then < 100 ms.  OpenRC's C
supervisor polls kill(pid, 0) on its unreaped child, a zombie, and so
always waits out the timeout: its figure is about a second.
"""

import time

from bench import scripts, stats, targets
from bench.metrics import Figure, per_column

RETRY = "TERM/1"
TIMER = 1


def figures(cfg):
    return [Figure("health.fail", "failing check -> new daemon", "ms", 1000,
                   targets.Below(100, "ms"), absolute=True),
            Figure("health.unhealthy", "unhealthy hook -> new daemon", "ms", 1000, absolute=True)]


def measure(columns, cfg):
    return per_column(columns, lambda w: one(w, cfg.health_rounds), metric='health')


def one(w, rounds):
    w.install("hc", scripts.init_script("hc", w.column, health=True,
                                        healthcheck_timer=TIMER, retry=RETRY))
    w.rc_each("start", ["hc"])
    w.wait_up(["hc"])
    fail, unhealthy = [], []
    for _ in range(rounds):
        w.drain()
        w.touch("/run/bench/sick.hc")
        t_sick = w.wait_event("sick", ["hc"], timeout=5 * TIMER + 5)["hc"][0]
        t_unh = w.wait_event("unhealthy", ["hc"], timeout=10)["hc"][0]
        t_up = w.wait_up(["hc"], timeout=15)["hc"][0]
        fail.append(t_up - t_sick)
        unhealthy.append(t_up - t_unh)
        time.sleep(0.05)
    w.rc_each("stop", ["hc"])
    return {"health.fail": stats.median(fail), "health.unhealthy": stats.median(unhealthy),
            "health.fail.samples": fail, "health.unhealthy.samples": unhealthy}
