"""The watchdog (--watchdog-timer, watchdog.py) in the supervisor's state
machine, driven by hand with the fake System of test_supervisor_states:
keepalives keep the daemon running and wake nothing else, a missed interval
runs `unhealthy` and then restarts through the stop schedule exactly as a
failed health check, the first interval of a new daemon is the notify
timeout, and a flood is read in bounded batches at most once per gap."""

import _socket
import collections
import os
import struct

import pytest

from openrc_sv import watchdog
from openrc_sv.backends.base import down_kind
from openrc_sv.health import HealthCheck
from openrc_sv.supervisor import BACKOFF, DONE, FAILED, RESTARTING, RUNNING, STOPPING

from test_supervisor_states import FakeSystem, make  # noqa: F401  (the fixture)

TERMINATED = 15            # a wait status: killed by SIGTERM
OPTS = ("--notify", "socket:ready", "--watchdog-timer", "3", "--notify-timeout", "10",
        "--retry", "TERM/5/KILL/5")


class Socket:
    """The notify socket: queued datagrams, EAGAIN when there are none."""

    def __init__(self):
        self.queue = collections.deque()
        self.reads = 0

    def setblocking(self, flag):
        assert flag is False

    def fileno(self):
        return 99

    sender = None             # who the kernel says sent each datagram (SCM_CREDENTIALS)

    def recv(self, n):
        if not self.queue:
            raise BlockingIOError()
        self.reads += 1
        return self.queue.popleft()[:n]

    def recvmsg(self, n, ancsize):
        data = self.recv(n)
        item = data if isinstance(data, tuple) else (data, self.sender())
        cred = struct.pack("=iII", item[1] or 0, 65534, 65534)
        return item[0], [(_socket.SOL_SOCKET, _socket.SCM_CREDENTIALS, cred)], 0, None


class UnhealthyOnly:
    """What daemonize builds for a watchdog alone (HealthCheck without
    checks), reduced to what the machine asks of it."""
    checks = False
    hidden = False

    def __init__(self):
        self.ran = []
        self.verdict = None
        self.state = None

    def schedule_first(self, now):
        pass

    def cancel(self):
        pass

    def run_unhealthy(self, now):
        self.ran.append(now)

    def tick(self, now):
        v, self.verdict = self.verdict, None
        return v

    def deadline(self):
        return None

    def output_fd(self):
        return None

    def owns(self, pid):
        return False


def events(sup):
    """What the loop would do now, with the socket readable if it is polled."""
    nfd = sup._notify_fd_polled()
    evs = sup.events([(nfd, 1)] if nfd is not None and sup.notify_sock.queue else [],
                     None, nfd)
    for ev in evs:
        sup.dispatch(ev)
    return [e[0] for e in evs]


@pytest.fixture
def wd(make):  # noqa: F811
    """A daemon that said READY=1 at the start (daemonize's readiness wait)."""
    def build(*extra):
        sup, clock, st = make(*(OPTS + extra))
        sup.health = UnhealthyOnly()
        sock = Socket()
        sock.sender = lambda: sup.pid           # the daemon itself, unless a test says otherwise
        sup.watch_notify(sock, clock.t)
        return sup, clock, st, sock
    return build


def test_keepalives_keep_the_daemon_and_wake_the_supervisor_for_nothing_else(wd):
    sup, clock, st, sock = wd()
    assert st.get("healthcheck") == "ok" and st.get("watchdog_misses") == "0"
    assert sup.watchdog.deadline == clock.t + 3
    for _ in range(10 * 3):                     # ten intervals, a keepalive every third
        assert sup._timeout() == 3001           # the deadline is the only wake-up
        clock.t += 1
        sock.queue.append(b"WATCHDOG=1")
        assert events(sup) == []
        assert sup.watchdog.deadline == clock.t + 3
    assert (sup.phase, clock.spawned, clock.sent, sup.watchdog.misses) == (RUNNING, 1, [], 0)
    assert sup.health.ran == []


def test_a_missed_interval_runs_unhealthy_then_restarts_through_the_stop_schedule(wd):
    sup, clock, st, sock = wd()
    first, deadline = sup.pid, sup.watchdog.deadline
    clock.t = deadline - 0.001
    assert events(sup) == []
    clock.t = deadline
    assert events(sup) == ["WatchdogMissed"]
    # unhealthy first, nothing signalled yet; the health state says why.
    assert sup.phase == RUNNING and sup.health.ran == [deadline] and clock.sent == []
    assert (st.get("watchdog_misses"), st.get("healthcheck")) == ("1", "watchdog")
    assert "watchdog: no WATCHDOG=1 from pid %d within 3sec (miss 1); running unhealthy, " \
           "then restarting it" % first in sup.logged
    assert sup._timeout() is None               # nothing to wait for but unhealthy
    sock.queue.append(b"WATCHDOG=1")            # too late: the restart goes on
    assert events(sup) == []
    sup.health.verdict = "restart"              # unhealthy is over
    assert events(sup) == ["HealthVerdict"]
    assert sup.phase == RESTARTING and clock.sent == [(first, 15)]
    assert "watchdog expired, restarting pid %d" % first in sup.logged
    clock.t += 5                                # the stop schedule: TERM/5, then KILL
    assert events(sup) == ["StopDeadline"] and clock.sent[-1] == (first, 9)
    sup.dispatch(("DaemonExited", TERMINATED))
    assert sup.phase == BACKOFF and sup._timeout() == 0  # the respawn (due now), nothing of ours
    events(sup)
    assert sup.phase == RUNNING and sup.pid != first and sup.restarts == 1
    assert (st.get("watchdog_misses"), st.get("healthcheck")) == ("1", "pending")
    assert sup.restart_why is None


def test_a_new_daemon_has_the_notify_timeout_for_its_first_keepalive(wd):
    sup, clock, st, sock = wd()
    sup.dispatch(("DaemonExited", TERMINATED))          # a crash: respawned at once
    events(sup)
    assert sup.phase == RUNNING
    start = clock.t
    assert sup.watchdog.deadline == start + 10
    clock.t = start + 9.9
    assert events(sup) == []
    sock.queue.append(b"READY=1\nSTATUS=up")            # ready: from now one interval
    assert events(sup) == []
    assert sup.watchdog.deadline == clock.t + 3 and st.get("healthcheck") == "ok"
    clock.t += 3
    assert events(sup) == ["WatchdogMissed"]
    assert sup.watchdog.misses == 1


def test_watchdog_trigger_is_a_miss_at_once(wd):
    sup, clock, st, sock = wd()
    clock.t += 1
    sock.queue.extend([b"WATCHDOG=1", b"WATCHDOG=trigger", b"WATCHDOG=1"])
    assert events(sup) == ["WatchdogMissed"]
    assert st.get("watchdog_misses") == "1"


def test_other_messages_are_read_and_do_not_count(wd):
    sup, clock, st, sock = wd()
    deadline = sup.watchdog.deadline
    clock.t += 1
    sock.queue.extend([b"STATUS=WATCHDOG=1", b"MAINPID=1", b"WATCHDOG=0", b""])
    assert events(sup) == [] and not sock.queue
    assert sup.watchdog.deadline == deadline


def test_the_watchdog_sleeps_outside_running(wd):
    sup, clock, st, sock = wd("--respawn-delay", "7")
    sup.dispatch(("DaemonExited", TERMINATED))
    assert sup.phase == BACKOFF and sup.watchdog.deadline is None
    assert sup._timeout() == 7001               # the respawn delay alone
    clock.t += 1
    sock.queue.append(b"WATCHDOG=1")            # read and dropped: nobody is watched
    assert events(sup) == [] and not sock.queue and sup.watchdog.deadline is None
    clock.t += 6
    events(sup)
    assert sup.phase == RUNNING and sup.watchdog.deadline == clock.t + 10
    sup.dispatch(("StopRequested", "test"))
    assert sup.phase == STOPPING and sup._timeout() == 5001   # the stop schedule alone
    sup.dispatch(("DaemonExited", TERMINATED))
    assert sup.phase == DONE and sup._timeout() is None


def test_a_flood_is_read_in_bounded_batches_at_most_once_per_gap(wd):
    sup, clock, st, sock = wd()
    gap = sup.watchdog.gap
    assert gap == 3 / 16.0
    sock.queue.extend([b"STATUS=busy\nWATCHDOG=1"] * 10000)
    clock.t += 1
    events(sup)
    assert sock.reads == watchdog.MAX_BATCH             # one bounded batch
    assert sup.watchdog.deadline == clock.t + 3
    clock.t += gap / 2                                  # readable again, too soon:
    paused = clock.t
    events(sup)                                         # not read, not polled
    assert sock.reads == watchdog.MAX_BATCH
    assert sup._notify_fd_polled() is None
    assert sup._timeout() == int(gap / 2 * 1000) + 1    # until the pause is over
    clock.t += gap / 2
    assert sup._notify_fd_polled() == 99
    events(sup)
    assert sock.reads == 2 * watchdog.MAX_BATCH
    # A keepalive read after a pause counts from when the pause began.
    assert sup.watchdog.deadline == paused + 3
    # However long it floods: a read per gap, never more, and nothing kept.
    reads = sock.reads
    for _ in range(100):
        clock.t += gap / 4
        events(sup)
    assert sock.reads - reads <= (100 / 4 + 1) * watchdog.MAX_BATCH
    assert not any(isinstance(v, (bytes, list)) for v in vars(sup.watchdog).values())
    assert sup.phase == RUNNING and sup.watchdog.misses == 0


def test_a_flood_cannot_hide_a_daemon_that_stopped(wd):
    sup, clock, st, sock = wd()
    gap = sup.watchdog.gap
    clock.t += 1
    sock.queue.append(b"WATCHDOG=1")
    events(sup)
    last = clock.t
    clock.t += gap / 2
    sock.queue.append(b"WATCHDOG=1")                    # the last one, during a pause
    events(sup)
    clock.t = last + gap
    events(sup)
    # It counts from the pause's start, so the miss comes no later than one
    # interval after the last keepalive.
    assert sup.watchdog.deadline <= last + gap / 2 + 3
    clock.t = sup.watchdog.deadline
    assert events(sup) == ["WatchdogMissed"]


def test_giving_up_after_watchdog_restarts_says_it_was_the_watchdog(wd):
    sup, clock, st, sock = wd("--respawn-max", "1")
    for n in (1, 2):
        clock.t = sup.watchdog.deadline
        assert events(sup) == ["WatchdogMissed"]
        sup.health.verdict = "restart"
        events(sup)
        sup.dispatch(("DaemonExited", TERMINATED))
        events(sup)
    assert sup.phase == FAILED
    assert "respawned more than 1 times" in sup.down_reason
    assert "the last restart was the watchdog's (no WATCHDOG=1 within 3sec)" in sup.down_reason
    assert down_kind(sup.down_reason) == "watchdog"


def test_the_daemon_gets_systemds_variables_with_its_own_pid(make, monkeypatch):  # noqa: F811
    seen = []
    sup, clock, st = make(*OPTS)
    monkeypatch.setattr(clock, "spawn", lambda setup, argv, stdio, keep=(), extra_env=None:
                        seen.append(extra_env) or 7000)
    sup.dispatch(("DaemonExited", TERMINATED))
    events(sup)
    env = seen[-1]
    assert dict({}, **env) == {"NOTIFY_SOCKET": st.notify_socket_path(),
                               "WATCHDOG_USEC": "3000000", "WATCHDOG_PID": str(os.getpid())}
    # child.spawn merges it in the forked child, before the exec: there it
    # is the daemon's pid.
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(w, dict({"PATH": "/bin"}, **env)["WATCHDOG_PID"].encode())
        os._exit(0)
    os.close(w)
    assert os.read(r, 64).decode() == str(pid)
    os.waitpid(pid, 0)
    os.close(r)
    # ... which posix_spawn could not do: a watchdog always forks.
    sup.fast = True
    assert sup.fast is False
    sup.watchdog = None
    assert sup.fast is True


def test_the_textfile_counts_misses_and_shows_the_watchdogs_health(wd):
    sup, clock, st, sock = wd()
    published = []

    class Prom:
        complaint = None

        def publish(self, values):
            published.append(dict(values))
    sup.prom = Prom()
    clock.t = sup.watchdog.deadline
    events(sup)
    assert published[-1]["watchdog_misses"] == 1 and published[-1]["health"] == "watchdog"
    # No health check: no health-check counts (only `unhealthy` is there).
    assert published[-1]["health_runs"] is None


def test_without_a_watchdog_nothing_changes(make):  # noqa: F811
    sup, clock, st = make("--notify", "socket:ready")
    assert sup.watchdog is None and sup._notify_fd_polled() is None
    assert st.get("watchdog_misses") is None and sup._timeout() is None


# `unhealthy` without health checks (a watchdog alone) ------------------------------

class State(dict):
    def set(self, key, value):
        self[key] = value

    def set_many(self, values):
        self.update(values)


def _script(tmp_path, out):
    p = tmp_path / "svc"
    p.write_text("#!/bin/sh\necho \"$1\" >> %s\n[ \"$1\" = healthcheck ] && "
                 "{ echo 'unknown function healthcheck'; exit 1; }\nexit 0\n" % out)
    p.chmod(0o755)
    return str(p)


def _finish(h):
    _, status = os.waitpid(h.pid, 0)
    h.exited(h.pid, status, 0.0)


def test_a_health_runner_without_checks_only_runs_unhealthy(tmp_path):
    out = tmp_path / "ran"
    state = State()
    h = HealthCheck(_script(tmp_path, out), 0, 0, 3000, state, lambda *a: None)
    assert not h.checks
    h.schedule_first(0.0)
    assert state == {} and h.deadline() is None     # nothing scheduled, nothing written
    h.run_unhealthy(1.0)
    assert h.deadline() == 4.0                       # its timeout
    _finish(h)
    assert h.tick(2.0) == "restart"
    assert out.read_text() == "unhealthy\n" and h.runs == 0


def test_unhealthy_for_the_watchdog_keeps_a_hidden_healthcheck_hidden(tmp_path):
    out = tmp_path / "ran"
    state = State()
    h = HealthCheck(_script(tmp_path, out), 5000, 0, 3000, state, lambda *a: None)
    h.schedule_first(0.0)
    assert state["healthcheck"] == "pending"
    h.tick(5.0)                                      # the check: "unknown function"
    _finish(h)
    assert h.hidden
    h.run_unhealthy(6.0)
    _finish(h)
    assert h.tick(6.5) == "restart" and h.hidden
    h.run_unhealthy(7.0)
    h.cancel()                                       # a stop while it runs
    assert h.hidden and h.pid is None
    assert out.read_text().startswith("healthcheck\nunhealthy\n")


LEAN = """
import sys, types
from openrc_sv import daemonize, sd_args, supervisor, watchdog
o = sd_args.parse(["x", "--start", "--notify", "socket:ready", "--watchdog-timer", "5",
                   "/bin/true"], {"RC_SVCNAME": "x"})
sock = daemonize._bind_notify(sys.argv[1], o)
w = watchdog.Watchdog(o.watchdog_timer_ms, o.notify_timeout_ms)
print(" ".join(sorted(sys.modules)))
"""


def test_the_watchdog_and_its_socket_import_nothing_heavy(tmp_path):
    import subprocess
    import sys
    from test_lean_supervisor import HEAVY
    out = subprocess.run([sys.executable, "-S", "-c", LEAN, str(tmp_path / "sock")],
                         capture_output=True, text=True, check=True).stdout.split()
    assert "openrc_sv.watchdog" in out
    assert [m for m in HEAVY if m in out] == []
    assert oct(os.stat(tmp_path / "sock").st_mode & 0o777) == "0o600"


def test_only_the_daemons_own_datagrams_count(wd):
    """NotifyAccess=main: another process of the daemon's user can neither
    keep a hung daemon alive nor trigger a restart."""
    sup, clock, st, sock = wd()
    deadline = sup.watchdog.deadline
    clock.t += 1
    sock.queue.append(b"WATCHDOG=1")
    sock.sender = lambda: sup.pid + 1           # a stranger
    assert events(sup) == [] and sup.watchdog.deadline == deadline
    sock.queue.append(b"WATCHDOG=trigger")
    assert events(sup) == [] and st.get("watchdog_misses") == "0"
