"""The supervisor's state machine, driven by hand: no process is forked.

System (spawn, kill, waitpid, now, the state writer) is a fake, so each test
states exactly which events happen when.
"""

import errno

import pytest

from openrc_sv import sd_args, supervisor
from openrc_sv.rcstate import RetryingWriter, ServiceState
from openrc_sv.supervisor import (BACKOFF, DONE, FAILED, RESTARTING, RUNNING, STOPPING,
                                  Supervisor, parse_control)

KILLED = 9                 # a wait status: killed by SIGKILL
EXIT0 = 0


class FakeSystem:
    def __init__(self):
        self.t = 1000.0
        self.pids = iter(range(5000, 6000))
        self.sent = []
        self.alive_groups = set()
        self.full = False          # the state writer fails with ENOSPC
        self.spawn_error = None
        self.spawned = 0

    def now(self):
        return self.t

    def kill(self, pid, sig):
        self.sent.append((pid, sig))
        if pid < 0 and sig in (9, 15):
            self.alive_groups.discard(-pid)

    def waitpid(self):
        return 0, 0

    def spawn(self, setup, argv, stdio, keep=(), extra_env=None):
        if self.spawn_error:
            raise supervisor.child.SpawnError(self.spawn_error)
        self.spawned += 1
        return next(self.pids)

    def identity(self, pid):
        return "%d:1" % pid

    def worker(self, job):
        # The start jobs run here, in-process: what a worker reports is
        # what they return.
        return supervisor.worker.inline(job)

    def group_alive(self, pgid):
        return pgid in self.alive_groups

    def write_state(self, state, values):
        if self.full:
            raise OSError(errno.ENOSPC, "No space left on device", state.path("options"))
        state.set_many(values)


@pytest.fixture
def make(tmp_path):
    def build(*opts):
        o = sd_args.parse(["svc", "--start", *opts, "/bin/true"], {"RC_SVCNAME": "svc"})
        st = ServiceState("svc", root=str(tmp_path))
        fake = FakeSystem()
        sup = Supervisor(o, st, str(tmp_path / "pid"), None, None, system=fake)
        sup.logged = []
        sup.log = lambda prio, msg: sup.logged.append(msg)
        sup.debug = True                # the phase transitions too, as with --verbose
        # The clock stands still unless a test moves it: every respawn
        # would be a crash loop's, whose state waits out the writer's gap
        # (tested on its own, with crash_loop below).
        sup.writer.GAP = 0
        sup.spawn()
        return sup, fake, st
    return build


@pytest.fixture
def crash_loop(make):
    def build(*opts):
        sup, clock, st = make(*opts)
        del sup.writer.GAP              # the real one
        return sup, clock, st
    return build


def crash(sup, status=KILLED):
    sup.dispatch(("DaemonExited", status))


def tick(sup):
    """The deadlines the loop would turn into events now."""
    for ev in sup.events([]):
        sup.dispatch(ev)


def test_a_crash_is_respawned_at_once_by_default(make):
    sup, clock, st = make()
    first = sup.pid
    crash(sup)
    assert sup.phase == BACKOFF and sup.respawn_at == clock.t
    tick(sup)
    assert sup.phase == RUNNING and sup.pid != first
    assert st.get("child_pid") == str(sup.pid)
    assert st.get("start_count") == "1"
    assert st.get("last_exit") == "signal KILL"
    assert "running --DaemonExited--> backoff" in sup.logged
    assert "backoff --RespawnDue--> running" in sup.logged


def test_respawn_delay_is_waited_out(make):
    sup, clock, _ = make("--respawn-delay", "2")
    crash(sup)
    clock.t += 1.9
    tick(sup)
    assert sup.phase == BACKOFF
    assert sup._timeout() == 101        # ms until the respawn, rounded up
    clock.t += 0.1
    tick(sup)
    assert sup.phase == RUNNING


def test_respawn_stops_after_respawn_max_within_period(make):
    # The seed's example: period 10, max 2: the third death within 10s gives up.
    sup, clock, _ = make("--respawn-max", "2", "--respawn-period", "10")
    for _ in range(2):
        crash(sup)
        tick(sup)
        clock.t += 1
    crash(sup)
    assert sup.phase == FAILED and sup.failing


def test_deaths_older_than_the_period_do_not_count(make):
    sup, clock, _ = make("--respawn-max", "2", "--respawn-period", "10")
    for _ in range(5):
        crash(sup)
        assert sup.phase == BACKOFF
        tick(sup)
        clock.t += 6                     # never three within 10s
    assert not sup.failing


def test_respawn_max_zero_is_unlimited(make):
    sup, clock, _ = make("--respawn-max", "0")
    for _ in range(50):
        crash(sup)
        tick(sup)
    assert sup.phase == RUNNING and sup.restarts == 50


def test_without_period_respawn_max_covers_the_whole_lifetime(make):
    sup, clock, _ = make("--respawn-max", "3")
    for _ in range(3):
        crash(sup)
        tick(sup)
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
        tick(sup)
    assert delays == [3.0, 4.0, 4.0, 4.0]


def test_stop_during_respawn_delay_cuts_it_short(make):
    sup, clock, _ = make("--respawn-delay", "60")
    crash(sup)
    sup.dispatch(("StopRequested", "test"))
    assert sup.phase == DONE and sup.respawn_at is None


def test_stop_runs_the_schedule_and_ends_on_exit(make):
    sup, clock, _ = make("--retry", "TERM/2/KILL/2")
    pid = sup.pid
    sup.dispatch(("StopRequested", "test"))
    assert sup.phase == STOPPING and clock.sent == [(pid, 15)]
    clock.t += 2
    tick(sup)
    assert clock.sent == [(pid, 15), (pid, 9)]
    crash(sup)
    assert sup.phase == DONE and not sup.failing


def test_idle_supervisor_has_no_timeout(make):
    sup, _, _ = make()
    assert sup._timeout() is None


def test_a_respawn_that_cannot_exec_fails(make):
    sup, clock, _ = make()
    crash(sup)
    clock.spawn_error = "unable to exec '/bin/true': No such file or directory"
    tick(sup)
    assert sup.phase == FAILED
    assert "running --SpawnFailed--> failed" in sup.logged


# A full /run (issue 8, item 2) ---------------------------------------------------

def test_a_full_run_never_ends_supervision_and_the_state_arrives_later(make):
    sup, clock, st = make()
    first = sup.pid
    clock.full = True
    crash(sup)
    tick(sup)                                     # the respawn's write fails
    assert sup.phase == RUNNING and sup.pid != first
    assert st.get("child_pid") == str(first)
    assert sup.writer.retry_at == clock.t + 1.0
    assert sum("cannot write the service state" in m for m in sup.logged) == 1
    clock.t += 1
    tick(sup)                                     # still full: retried, said once
    assert sup.writer.retry_at == clock.t + 2.0
    assert sum("cannot write the service state" in m for m in sup.logged) == 1
    clock.full = False
    clock.t += 2
    tick(sup)
    assert st.get("child_pid") == str(sup.pid) and st.get("last_exit") == "signal KILL"
    assert sup.writer.retry_at is None and sup._timeout() is None


# A crash loop's state: at most one write per RetryingWriter.GAP ---------------------

def test_a_crash_loop_writes_its_state_at_the_end_of_the_gap(crash_loop):
    sup, clock, st = crash_loop()
    first = sup.pid
    assert st.get("child_pid") == str(first)       # the start: written at once
    for _ in range(3):                             # three respawns within the gap
        crash(sup)
        tick(sup)
    assert sup.phase == RUNNING and sup.pid == first + 3
    assert st.get("child_pid") == str(first) and st.get("start_count") == "0"
    gap = RetryingWriter.GAP
    assert sup.writer.retry_at == clock.t + gap and 0 < sup._timeout() <= gap * 1000 + 1
    assert sup.writer.get("child_pid") == str(sup.pid)     # the supervisor's own view
    clock.t += gap
    tick(sup)
    assert {k: st.get(k) for k in ("child_pid", "child_ident", "start_count", "restarts",
                                   "last_exit")} == {
        "child_pid": str(sup.pid), "child_ident": "%d:1" % sup.pid, "start_count": "3",
        "restarts": "3", "last_exit": "signal KILL"}
    assert sup.writer.retry_at is None and sup._timeout() is None   # idle again


def test_a_crash_loop_reads_the_identity_only_of_the_daemon_alive_at_the_gaps_end(crash_loop):
    sup, clock, st = crash_loop()
    read = []
    ident = clock.identity
    clock.identity = lambda pid: read.append(pid) or ident(pid)
    for _ in range(3):
        crash(sup)
        tick(sup)
    assert read == []
    clock.t += RetryingWriter.GAP
    tick(sup)
    assert read == [sup.pid] and st.get("child_ident") == "%d:1" % sup.pid


def test_a_held_daemon_reaped_before_the_gaps_end_leaves_the_pair_before(crash_loop, monkeypatch):
    sup, clock, st = crash_loop()
    first = sup.pid
    crash(sup)
    tick(sup)                                   # respawned, held
    second = sup.pid
    exits = iter([(second, KILLED)])
    monkeypatch.setattr(clock, "waitpid", lambda: next(exits, (0, 0)))
    clock.t += RetryingWriter.GAP
    tick(sup)                                   # reaped, then the gap's write
    assert sup.pid != second
    # The pid reaped may be anyone's now: not written, and child_ident
    # still names the first daemon (as dead as the second).
    assert (st.get("child_pid"), st.get("child_ident")) == (str(first), "%d:1" % first)
    assert st.get("start_count") == "1" and st.get("last_exit") == "signal KILL"
    clock.t += RetryingWriter.GAP
    tick(sup)                                   # the third daemon's: a gap after the last write
    assert (st.get("child_pid"), st.get("child_ident")) == (str(sup.pid), "%d:1" % sup.pid)


def test_a_respawned_daemon_with_a_pid_reaped_before_is_written(crash_loop, monkeypatch):
    sup, clock, st = crash_loop()
    first = sup.pid
    sup._reaped = first + 1                     # an earlier daemon had the pid the next gets
    crash(sup)
    tick(sup)
    assert sup.pid == first + 1
    clock.t += RetryingWriter.GAP
    tick(sup)
    assert (st.get("child_pid"), st.get("child_ident")) == (str(sup.pid), "%d:1" % sup.pid)


def test_a_respawn_after_the_gap_is_written_at_once(crash_loop):
    sup, clock, st = crash_loop()
    clock.t += RetryingWriter.GAP                  # the daemon ran that long
    crash(sup)
    tick(sup)
    assert st.get("child_pid") == str(sup.pid) and st.get("start_count") == "1"
    assert sup.writer.retry_at is None


def test_a_write_that_is_not_a_respawn_takes_the_held_values_with_it(crash_loop):
    sup, clock, st = crash_loop()
    crash(sup)
    tick(sup)
    assert st.get("child_pid") != str(sup.pid)
    sup.writer.set("healthcheck", "ok")           # a health result, a keepalive
    assert st.get("child_pid") == str(sup.pid) and st.get("healthcheck") == "ok"
    assert sup.writer.retry_at is None


def test_a_reexec_writes_the_held_values_first(crash_loop, monkeypatch):
    sup, clock, st = crash_loop()
    crash(sup)
    tick(sup)
    assert st.get("child_pid") != str(sup.pid)
    seen = []

    def execv(path, argv):
        seen.append(st.get("child_pid"))
        raise OSError(errno.ENOEXEC, "Exec format error")
    monkeypatch.setattr(supervisor.os, "execv", execv)
    monkeypatch.setattr(sup, "ctl", type("Ctl", (), {"fd": sup.wake_r, "keep_fd": sup.wake_w})())
    monkeypatch.setattr(supervisor.signal, "set_wakeup_fd", lambda *a, **k: -1)
    monkeypatch.setattr(sup, "install_signals", lambda: None)
    monkeypatch.setattr(supervisor.os, "environ", {})
    sup._reexec()
    assert seen == [str(sup.pid)]


def test_a_full_run_when_giving_up_still_ends_as_failed(make):
    sup, clock, _ = make("--respawn-max", "1")
    clock.full = True
    crash(sup)
    tick(sup)
    crash(sup)
    assert sup.phase == FAILED


# A daemon that forks away (issue 8, item 9) --------------------------------------

def test_a_daemon_that_forks_away_is_named_once_and_its_groups_stopped(make):
    sup, clock, st = make("--respawn-max", "0", "--retry", "TERM/1")
    groups = []
    for _ in range(3):
        groups.append(sup.pid)
        clock.alive_groups.add(sup.pid)           # its background copy lives on
        crash(sup, EXIT0)
        tick(sup)
    assert sup.leftovers == groups
    assert sum("command_args_foreground" in m for m in sup.logged) == 1
    assert "forked into the background" in st.get("last_exit")
    pid = sup.pid
    sup.dispatch(("StopRequested", "test"))
    assert (pid, 15) in clock.sent and all((-g, 15) in clock.sent for g in groups)
    crash(sup)
    assert sup.phase == DONE and not clock.alive_groups and sup.leftovers == []


def test_leftovers_are_stopped_when_a_stop_comes_during_backoff(make):
    sup, clock, _ = make("--respawn-delay", "60", "--retry", "TERM/1")
    g = sup.pid
    clock.alive_groups.add(g)
    crash(sup, EXIT0)
    sup.dispatch(("StopRequested", "test"))
    assert sup.phase == DONE and (-g, 15) in clock.sent and not clock.alive_groups


def test_an_exit_0_with_no_group_left_is_an_ordinary_exit(make):
    sup, clock, st = make()
    crash(sup, EXIT0)
    tick(sup)
    assert sup.leftovers == [] and st.get("last_exit") == "exit 0"


def test_control_protocol():
    assert parse_control("sig 15") == [("sig", 15)]
    assert parse_control("sig 1sig 15") == [("sig", 1), ("sig", 15)]   # two writers, one read
    assert parse_control("SIG 10\nreopen") == [("sig", 10), ("reopen",)]
    assert parse_control("sig 999 sig x") == []


@pytest.mark.parametrize("verbose", [False, True])
def test_the_phase_transitions_are_sent_only_with_verbose(tmp_path, monkeypatch, verbose):
    sent = []
    monkeypatch.setattr(supervisor.syslog, "syslog", lambda prio, msg: sent.append(msg))
    o = sd_args.parse(["svc", "--start"] + (["--verbose"] if verbose else []) + ["/bin/true"],
                      {"RC_SVCNAME": "svc"})
    sup = Supervisor(o, ServiceState("svc", root=str(tmp_path)), str(tmp_path / "pid"), None,
                     None, system=FakeSystem())
    sup.spawn()
    crash(sup)
    tick(sup)
    assert ("svc: running --DaemonExited--> backoff" in sent) == verbose
    assert "svc: started /bin/true, pid 5001" in sent and "svc: /bin/true, pid 5000, signal KILL" in sent
