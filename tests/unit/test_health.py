"""HealthCheck's own phases: waiting -> checking -> (ok: waiting) or
(failed: unhealthy -> verdict "restart"), a timeout, and a script without
a healthcheck command (hidden: off for good).  The check runs a real,
tiny script (no root needed); the clock is a number."""

import os

import pytest

from openrc_sv import health
from openrc_sv.health import CHECKING, HIDDEN, IDLE, UNHEALTHY, WAITING, HealthCheck


class State(dict):
    def set(self, k, v):
        self[k] = v

    def set_many(self, values):
        self.update(values)


@pytest.fixture
def make(tmp_path):
    def build(body, timer=10000, delay=1000, timeout=None):
        script = tmp_path / "svc"
        script.write_text("#!/bin/sh\n%s\n" % body)
        script.chmod(0o755)
        logged = []
        h = HealthCheck(str(script), timer, delay, timeout, State(),
                        lambda prio, msg: logged.append(msg))
        return h, logged
    return build


def finish(h, now):
    """Wait for the running child, read its output, report its exit."""
    pid = h.pid
    _, status = os.waitpid(pid, 0)
    h.read_output()
    h.exited(pid, status, now)


def test_a_passing_check_waits_for_the_timer(make):
    h, _ = make('exit 0')
    h.schedule_first(100.0)
    assert h.phase == WAITING and h.deadline() == 101.0
    assert h.tick(100.5) is None and h.phase == WAITING
    assert h.tick(101.0) is None and h.phase == CHECKING and h.owns(h.pid)
    finish(h, 101.2)
    assert h.phase == WAITING and h.deadline() == 111.2 and h.state["healthcheck"] == "ok"


def test_a_failing_check_runs_unhealthy_then_asks_for_a_restart(make):
    h, _ = make('[ "$1" = unhealthy ] && exit 0; exit 1')
    h.schedule_first(0.0)
    h.tick(1.0)
    finish(h, 1.1)
    assert h.phase == UNHEALTHY and h.state["healthcheck"] == "failing"
    finish(h, 1.2)
    assert h.phase == IDLE and h.tick(1.2) == "restart" and h.tick(1.3) is None


def test_a_check_that_hangs_is_killed_at_its_timeout(make):
    h, logged = make('[ "$1" = unhealthy ] && exit 0; exec sleep 100', timeout=2000)
    h.schedule_first(0.0)
    h.tick(1.0)
    assert h.deadline() == 3.0
    h.tick(3.0)
    assert h.phase == UNHEALTHY and any("timed out" in m for m in logged)
    finish(h, 3.1)
    assert h.tick(3.1) == "restart"


def test_a_script_without_healthcheck_turns_checks_off(make):
    h, logged = make('echo "openrc-run: unknown function healthcheck" >&2; exit 1')
    h.schedule_first(0.0)
    h.tick(1.0)
    finish(h, 1.1)
    assert h.phase == HIDDEN and h.hidden and h.state["healthcheck"] == "hidden"
    h.schedule_first(2.0)
    h.cancel()
    assert h.phase == HIDDEN and h.deadline() is None and len(logged) == 1


def test_cancel_kills_a_running_check(make):
    h, _ = make('exec sleep 100')
    h.schedule_first(0.0)
    h.tick(1.0)
    pid = h.pid
    h.cancel()
    assert h.phase == IDLE and h.pid is None and h.output_fd() is None
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)         # killed and reaped


def test_phases_are_plain_strings():
    assert (health.IDLE, health.WAITING, health.CHECKING, health.UNHEALTHY, health.HIDDEN) == (
        "idle", "waiting", "checking", "unhealthy", "hidden")


def test_results_are_counted_and_a_new_daemon_is_pending(make):
    """health_runs / health_failures since the start, and `pending` until
    the first check of each daemon (status and metrics read them)."""
    h, _ = make("exit 0")
    h.schedule_first(100.0)
    assert h.state["healthcheck"] == "pending"
    h.tick(101.0)
    finish(h, 101.5)
    assert h.state["healthcheck"] == "ok"
    assert (h.state["health_runs"], h.state["health_failures"]) == (1, 0)
    h.schedule_first(200.0)                  # a new daemon
    assert h.state["healthcheck"] == "pending" and h.state["health_runs"] == 1


def test_delay_alone_checks_each_daemon_once(make):
    h, _ = make("exit 0", timer=0, delay=1000)
    h.schedule_first(100.0)
    h.tick(101.0)
    finish(h, 101.5)
    assert h.phase == IDLE and h.deadline() is None
    h.schedule_first(200.0)
    assert h.phase == WAITING and h.deadline() == 201.0
