"""Every (phase, event) cell of the supervisor's table, without processes:
the supervisor is put in a phase by events, given one more, and the next
phase and what reached the world (signals, spawns, re-exec) are checked.
A cell that is not in EXPECT must be ignored: no phase change, no action."""

import pytest

from openrc_sv import supervisor
from openrc_sv.supervisor import (BACKOFF, DONE, EVENTS, FAILED, PHASES, RESTARTING, RUNNING,
                                  STOPPING, TABLE)

from test_supervisor_states import FakeSystem  # noqa: F401  (the fixture's fake)
from test_supervisor_states import make  # noqa: F401

SAMPLE = {
    "DaemonExited": ("DaemonExited", 9),
    "RespawnDue": ("RespawnDue",),
    "StopRequested": ("StopRequested", "test"),
    "StopDeadline": ("StopDeadline",),
    "HealthVerdict": ("HealthVerdict", "restart"),
    "WatchdogMissed": ("WatchdogMissed",),
    "LoggerExited": ("LoggerExited", 4242),
    "Control": ("Control", ("sig", 1)),
    "Reexec": ("Reexec",),
    "SpawnFailed": ("SpawnFailed", "cannot exec"),
}

# (phase, event) -> (next phase, what the world saw)
EXPECT = {
    (RUNNING, "DaemonExited"): (BACKOFF, []),
    (RUNNING, "HealthVerdict"): (RESTARTING, ["kill 15"]),
    (RUNNING, "WatchdogMissed"): (RUNNING, ["unhealthy"]),    # then a HealthVerdict
    (RUNNING, "StopRequested"): (STOPPING, ["kill 15"]),
    (RUNNING, "Reexec"): (RUNNING, ["reexec"]),
    (RUNNING, "SpawnFailed"): (FAILED, []),
    (RUNNING, "Control"): (RUNNING, ["kill 1"]),
    (RUNNING, "LoggerExited"): (RUNNING, []),
    (BACKOFF, "RespawnDue"): (RUNNING, ["spawn"]),
    (BACKOFF, "StopRequested"): (DONE, []),
    (BACKOFF, "Reexec"): (BACKOFF, []),                 # deferred
    (BACKOFF, "Control"): (BACKOFF, []),                # no daemon to signal
    (BACKOFF, "LoggerExited"): (BACKOFF, []),
    (RESTARTING, "DaemonExited"): (BACKOFF, []),
    (RESTARTING, "StopDeadline"): (RESTARTING, ["kill 9"]),
    (RESTARTING, "StopRequested"): (STOPPING, []),      # the same schedule goes on
    (RESTARTING, "Reexec"): (RESTARTING, []),           # deferred
    (RESTARTING, "Control"): (RESTARTING, ["kill 1"]),
    (RESTARTING, "LoggerExited"): (RESTARTING, []),
    (STOPPING, "DaemonExited"): (DONE, []),
    (STOPPING, "StopDeadline"): (STOPPING, ["kill 9"]),
    (STOPPING, "Control"): (STOPPING, ["kill 1"]),
    (STOPPING, "LoggerExited"): (STOPPING, []),
    (DONE, "Control"): (DONE, []),
    (DONE, "LoggerExited"): (DONE, []),
    (FAILED, "Control"): (FAILED, []),
    (FAILED, "LoggerExited"): (FAILED, []),
}

# With a watchdog, the one source of WatchdogMissed.
OPTS = ("--retry", "TERM/5/KILL/5", "--respawn-max", "1", "--notify", "socket:ready",
        "--watchdog-timer", "30")


class Health:
    """The health runner, as far as the cells reach it: `unhealthy` is seen."""
    checks = hidden = False

    def __init__(self, seen):
        self.seen = seen

    def schedule_first(self, now):
        pass

    def cancel(self):
        pass

    def run_unhealthy(self, now):
        self.seen.append("unhealthy")


def put_in(sup, phase):
    if phase == BACKOFF:
        sup.dispatch(SAMPLE["DaemonExited"])
    elif phase == RESTARTING:
        sup.dispatch(SAMPLE["HealthVerdict"])
    elif phase == STOPPING:
        sup.dispatch(SAMPLE["StopRequested"])
    elif phase == DONE:
        sup.dispatch(SAMPLE["DaemonExited"])
        sup.dispatch(SAMPLE["StopRequested"])
    elif phase == FAILED:                       # a respawn that cannot exec
        sup.dispatch(SAMPLE["DaemonExited"])
        sup.sys.spawn_error = "cannot exec"
        sup.dispatch(SAMPLE["RespawnDue"])
        sup.sys.spawn_error = None
    assert sup.phase == phase


def world(sup, fake, spawned_before):
    seen = ["kill %d" % sig for _, sig in fake.sent]
    seen += ["spawn"] * (fake.spawned - spawned_before)
    return seen + sup.reexecs + sup.unhealthy


@pytest.mark.parametrize("phase", PHASES)
@pytest.mark.parametrize("event", EVENTS)
def test_cell(make, monkeypatch, phase, event):
    sup, fake, _ = make(*OPTS)
    sup.reexecs = []
    sup.unhealthy = []
    sup.health = Health(sup.unhealthy)
    monkeypatch.setattr(sup, "_reexec", lambda: sup.reexecs.append("reexec"))
    monkeypatch.setattr(sup.out, "child_exited", lambda pid: None)
    put_in(sup, phase)
    if event == "StopDeadline":
        fake.t += 5                             # the schedule's TERM/5 is over
    fake.sent.clear()
    spawned = fake.spawned
    logged = len(sup.logged)
    sup.dispatch(SAMPLE[event])
    want_phase, want_world = EXPECT.get((phase, event), (phase, []))
    assert sup.phase == want_phase
    assert world(sup, fake, spawned) == want_world
    if (phase, event) not in EXPECT:
        assert len(sup.logged) == logged            # ignored: not even a log line
    else:
        assert "%s --%s--> %s" % (phase, event, want_phase) in sup.logged


def test_every_row_of_the_table_is_a_cell_here():
    handled = {(p, e) for p in PHASES for e in EVENTS
               if (p, e) in TABLE or ("*", e) in TABLE}
    assert handled == set(EXPECT)


def test_a_deferred_reexec_runs_once_the_daemon_is_back(make, monkeypatch):
    sup, fake, _ = make()
    done = []
    monkeypatch.setattr(sup, "_reexec", lambda: done.append(sup.pid))
    sup.dispatch(("DaemonExited", 9))
    sup.dispatch(("Reexec",))
    sup.dispatch(("Reexec",))
    assert done == []
    sup.dispatch(("RespawnDue",))
    assert done == [sup.pid]


def test_the_table_fits_one_screen():
    import inspect
    src = inspect.getsource(supervisor)
    start = src.index("TABLE = {")
    assert src[start:].index("\n}\n") < 40 * 100 and src[start:start + src[start:].index("\n}\n")].count("\n") < 25
