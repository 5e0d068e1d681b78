"""The supervisor's state machine, driven by hand: no process is forked.

child.spawn is replaced by a stub and the clock by a variable, so each test
states exactly which events happen when.
"""

import pytest

from openrc_sv import sd_args, supervisor
from openrc_sv.rcstate import ServiceState
from openrc_sv.supervisor import Phase, Supervisor, parse_control


class FakeClock:
    t = 1000.0


@pytest.fixture
def make(tmp_path, monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(supervisor, "now", lambda: clock.t)
    pids = iter(range(5000, 6000))
    monkeypatch.setattr(supervisor.child, "spawn", lambda *a, **k: next(pids))
    monkeypatch.setattr(supervisor.procinfo, "identity", lambda pid: "%d:1" % pid)

    def build(*opts):
        o = sd_args.parse(["svc", "--start", *opts, "/bin/true"], {"RC_SVCNAME": "svc"})
        st = ServiceState("svc", root=str(tmp_path))
        sup = Supervisor(o, st, str(tmp_path / "pid"), None, None)
        sup.log = lambda prio, msg: None
        sup.spawn()
        return sup, clock, st
    return build


def crash(sup):
    sup._daemon_exited(9)          # killed by SIGKILL


def test_a_crash_is_respawned_at_once_by_default(make):
    sup, clock, st = make()
    first = sup.pid
    crash(sup)
    assert sup.phase is Phase.BACKOFF and sup.respawn_at == clock.t
    sup._timers()
    assert sup.phase is Phase.RUNNING and sup.pid != first
    assert st.get("child_pid") == str(sup.pid)
    assert st.get("start_count") == "1"
    assert st.get("last_exit") == "signal KILL"


def test_respawn_delay_is_waited_out(make):
    sup, clock, _ = make("--respawn-delay", "2")
    crash(sup)
    clock.t += 1.9
    sup._timers()
    assert sup.phase is Phase.BACKOFF
    assert sup._timeout() == 101        # ms until the respawn, rounded up
    clock.t += 0.1
    sup._timers()
    assert sup.phase is Phase.RUNNING


def test_respawn_stops_after_respawn_max_within_period(make):
    # The seed's example: period 10, max 2: the third death within 10s gives up.
    sup, clock, _ = make("--respawn-max", "2", "--respawn-period", "10")
    for _ in range(2):
        crash(sup)
        sup._timers()
        clock.t += 1
    crash(sup)
    assert sup.phase is Phase.DONE and sup.failing


def test_deaths_older_than_the_period_do_not_count(make):
    sup, clock, _ = make("--respawn-max", "2", "--respawn-period", "10")
    for _ in range(5):
        crash(sup)
        assert sup.phase is Phase.BACKOFF
        sup._timers()
        clock.t += 6                     # never three within 10s
    assert not sup.failing


def test_respawn_max_zero_is_unlimited(make):
    sup, clock, _ = make("--respawn-max", "0")
    for _ in range(50):
        crash(sup)
        sup._timers()
    assert sup.phase is Phase.RUNNING and sup.restarts == 50


def test_without_period_respawn_max_covers_the_whole_lifetime(make):
    sup, clock, _ = make("--respawn-max", "3")
    for _ in range(3):
        crash(sup)
        sup._timers()
        clock.t += 3600
    crash(sup)
    assert sup.failing


def test_linear_backoff_is_capped(make):
    sup, clock, _ = make("--respawn-delay", "1", "--respawn-delay-step", "2sec",
                         "--respawn-delay-cap", "4sec", "--respawn-max", "0")
    delays = []
    for _ in range(4):
        crash(sup)
        delays.append(round(sup.respawn_at - clock.t, 3))
        clock.t = sup.respawn_at
        sup._timers()
    assert delays == [3.0, 4.0, 4.0, 4.0]


def test_stop_during_respawn_delay_cuts_it_short(make):
    sup, clock, _ = make("--respawn-delay", "60")
    crash(sup)
    sup.request_stop("test")
    assert sup.phase is Phase.DONE and sup.respawn_at is None


def test_stop_runs_the_schedule_and_ends_on_exit(make, monkeypatch):
    import openrc_sv.stopper as stopper
    sent = []
    monkeypatch.setattr(stopper.os, "kill", lambda pid, sig: sent.append((pid, sig)))
    sup, clock, _ = make("--retry", "TERM/2/KILL/2")
    pid = sup.pid
    sup.request_stop("test")
    assert sup.phase is Phase.STOPPING and sent == [(pid, 15)]
    clock.t += 2
    sup._timers()
    assert sent == [(pid, 15), (pid, 9)]
    sup._daemon_exited(9)
    assert sup.phase is Phase.DONE and not sup.failing


def test_idle_supervisor_has_no_timeout(make):
    sup, _, _ = make()
    assert sup._timeout() is None


def test_control_protocol():
    assert parse_control("sig 15") == [("sig", 15)]
    assert parse_control("sig 1sig 15") == [("sig", 1), ("sig", 15)]   # two writers, one read
    assert parse_control("SIG 10\nreopen") == [("sig", 10), ("reopen",)]
    assert parse_control("sig 999 sig x") == []
