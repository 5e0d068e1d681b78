"""A lean supervisor's first event is its daemon's death: it reaps it,
decides and respawns before it builds the full Supervisor
(leanstart.respawn_first), and the Supervisor it then builds takes that
exit, decision and pid as given (Supervisor.take_exit): one decision, one
spawn, whatever the full machine would have said.

respawn_first is driven with real processes (/bin/sleep, /bin/cat: no
root needed); take_exit with the state machine's fake System."""

import marshal
import os
import time

import pytest

from openrc_sv import child, leanstart, respawnpolicy, sigs
from openrc_sv.supervisor import BACKOFF, FAILED, RUNNING, Early
from test_supervisor_states import KILLED, make  # noqa: F401  (the fixture)

ENV = {"PATH": "/usr/bin:/bin"}


def settings(**kw):
    s = respawnpolicy.Settings(**kw)
    return tuple(getattr(s, k) for k in respawnpolicy.Settings.__slots__)


class Lean:
    """What a lean supervisor holds when its first event comes: the
    hand-off's state and fds, its signal pipe, a control fifo (a pipe
    here), and its daemon, a child of this process."""

    def __init__(self, argv=("/bin/sleep", "600"), stdio=(None, None, None), rewind=False,
                 extra_fds=(), **policy):
        self.ctl_r, self.ctl_w = os.pipe2(os.O_CLOEXEC)
        self.wake = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.fds = [self.ctl_r, self.ctl_w] + list(extra_fds)
        null = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
        first = child.spawn(child.Prepared(None, ENV, True), ["/bin/sleep", "600"], (null,) * 3)
        os.close(null)
        self.spawned = [first]
        # handoff._lean_respawn's shape.
        self.state = {
            "pid": first, "started_at": time.monotonic(), "history": (0, 0, 0, 0),
            "env": {os.fsencode(k): os.fsencode(v) for k, v in ENV.items()},
            "settings": settings(**policy), "argv": list(argv),
            "stdio": list(stdio), "rewind": rewind,
        }
        self.respawn = marshal.dumps(self.state)

    def kill_daemon(self):
        os.kill(self.state["pid"], sigs.SIGKILL)
        # Exited (not reaped: that is respawn_first's to do).
        deadline = time.monotonic() + 30
        while os.waitid(os.P_PID, self.state["pid"], os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
            assert time.monotonic() < deadline, "the daemon did not die"
            time.sleep(0.01)
        os.write(self.wake[1], bytes([sigs.SIGCHLD]))

    def first(self):
        early = leanstart.respawn_first(self.respawn, self.fds, self.wake)
        if early is not None and early.pid is not None:
            self.spawned.append(early.pid)
        return early

    def close(self):
        for pid in self.spawned:
            child.kill_and_reap(pid)
        for fd in self.fds + list(self.wake):
            try:
                os.close(fd)
            except OSError:
                pass


@pytest.fixture
def lean():
    made = []

    def build(**kw):
        made.append(Lean(**kw))
        return made[-1]
    yield build
    for one in made:
        one.close()


def _cmdline(pid, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            words = f.read().split(b"\0")
        if words != [b""] or time.monotonic() > deadline:
            return words
        time.sleep(0.01)


def exited(pid):
    """Has our child pid exited (not reaped)?"""
    return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None


def test_a_killed_daemon_is_reaped_decided_and_respawned_at_once(lean):
    ln = lean()
    first = ln.state["pid"]
    ln.kill_daemon()
    early = ln.first()
    assert os.WIFSIGNALED(early.status) and os.WTERMSIG(early.status) == sigs.SIGKILL
    assert early.decision.action == respawnpolicy.RESPAWN and early.decision.delay_ms == 0
    assert early.history == respawnpolicy.History(early.history.first_ms, 1, 1, 1)
    assert early.pid not in (None, first) and early.error is None
    # posix_spawn returns once the child execs: its new command line may
    # be set a moment later.
    assert _cmdline(early.pid)[:2] == [b"/bin/sleep", b"600"]
    assert not exited(early.pid)
    with pytest.raises(ChildProcessError):
        os.waitpid(first, os.WNOHANG)           # reaped: its pid is free
    with pytest.raises(BlockingIOError):
        os.read(ln.wake[0], 16)                 # its SIGCHLD taken (the full one sends its own)


def test_the_decision_is_the_policys(lean):
    """A delay: reaped and decided, not respawned (the full one waits it
    out); respawn_on=failure and exit 0: over."""
    ln = lean(delay_ms=1500)
    ln.kill_daemon()
    early = ln.first()
    assert early.decision.action == respawnpolicy.RESPAWN and early.decision.delay_ms == 1500
    assert early.pid is None and early.error is None and not early.spawned


def test_any_other_signal_leaves_it_all_to_the_full_supervisor(lean):
    ln = lean()
    ln.kill_daemon()
    os.write(ln.wake[1], bytes([sigs.SIGTERM]))
    assert ln.first() is None
    # The stop is put back for the full supervisor's loop, the daemon not reaped.
    assert sigs.SIGTERM in os.read(ln.wake[0], 16)
    assert exited(ln.state["pid"])


def test_a_word_on_the_control_fifo_leaves_it_all_to_the_full_supervisor(lean):
    ln = lean()
    ln.kill_daemon()
    os.write(ln.ctl_w, b"stop\n")
    assert ln.first() is None
    assert exited(ln.state["pid"])


def test_no_lean_respawn_where_the_worker_said_so(lean):
    ln = lean()
    ln.respawn = None                       # (a watchdog, --notify, a user ...)
    ln.kill_daemon()
    assert ln.first() is None
    assert exited(ln.state["pid"])


def test_a_logger_that_died_is_no_exit_of_the_daemon(lean):
    ln = lean()
    os.write(ln.wake[1], bytes([sigs.SIGCHLD]))     # the daemon lives
    assert ln.first() is None
    assert not exited(ln.state["pid"])


def test_a_respawn_that_cannot_exec_says_why(lean):
    ln = lean(argv=["/nonexistent/daemon"])
    ln.kill_daemon()
    early = ln.first()
    assert early.pid is None and early.spawned
    assert "unable to exec '/nonexistent/daemon'" in early.error


def test_stdio_by_place_and_stdin_rewound(lean, tmp_path):
    src, dst = tmp_path / "in", tmp_path / "out"
    src.write_bytes(b"line one\nline two\n")
    stdin = os.open(src, os.O_RDONLY | os.O_CLOEXEC)
    os.lseek(stdin, 0, os.SEEK_END)         # as the first daemon left it
    out = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
    # Places 2 and 3 of the hand-off's fds; stderr /dev/null.
    ln = lean(argv=["/bin/cat"], stdio=[2, 3, None], rewind=True, extra_fds=[stdin, out])
    ln.kill_daemon()
    early = ln.first()
    assert early.pid is not None
    assert os.waitpid(early.pid, 0)[1] == 0
    ln.spawned.remove(early.pid)
    assert dst.read_bytes() == b"line one\nline two\n"


# -- the full Supervisor takes it as given ----------------------------------------------

def _early(sup, clock, decision, pid=None, error=None):
    e = Early(KILLED, clock.t)
    e.decision = decision
    # Not what the machine would count from its own (empty) history.
    e.history = respawnpolicy.History(int(clock.t * 1000) - 500, 7, 9, 7)
    e.pid, e.error = pid, error
    e.started = clock.t if pid else None
    return e


def test_the_supervisor_takes_the_respawn_as_given(make):  # noqa: F811
    # Its own policy would wait 5 s: the decision given is what counts.
    sup, clock, st = make("--respawn-delay", "5")
    spawned = clock.spawned
    sup.take_exit(_early(sup, clock, respawnpolicy.Decision(respawnpolicy.RESPAWN, 0), pid=4242))
    assert sup.phase == RUNNING and sup.pid == 4242
    assert clock.spawned == spawned                     # spawned once: by the lean one
    assert st.get("child_pid") == "4242"
    assert st.get("restarts") == "1" and st.get("start_count") == "7"
    assert st.get("last_exit") == "signal KILL"
    assert sup.history.astuple() == (int(clock.t * 1000) - 500, 7, 9, 7)


def test_a_delay_given_is_waited_out_by_the_supervisor(make):  # noqa: F811
    sup, clock, st = make()
    sup.take_exit(_early(sup, clock, respawnpolicy.Decision(respawnpolicy.RESPAWN, 2000)))
    assert sup.phase == BACKOFF and sup.respawn_at == clock.t + 2
    spawned = clock.spawned
    clock.t += 2
    for ev in sup.events([]):
        sup.dispatch(ev)
    assert sup.phase == RUNNING and clock.spawned == spawned + 1


def test_a_respawn_that_failed_fails_the_service(make):  # noqa: F811
    sup, clock, st = make()
    sup.take_exit(_early(sup, clock, respawnpolicy.Decision(respawnpolicy.RESPAWN, 0),
                         error="unable to exec '/x': No such file or directory"))
    assert sup.phase == FAILED
    assert any("cannot respawn: unable to exec '/x'" in line for line in sup.logged)


def test_an_over_given_is_over(make):  # noqa: F811
    sup, clock, st = make()
    sup.take_exit(_early(sup, clock, respawnpolicy.Decision(respawnpolicy.GIVE_UP, 0, "too many")))
    assert sup.phase == FAILED and sup.down_reason == "too many"


# -- the bookkeeping waits for the machine to settle ------------------------------------

@pytest.fixture
def settling(monkeypatch):
    """leanstart._settle with short periods and _busy counted."""
    monkeypatch.setattr(leanstart, "SETTLE", 0.01)
    monkeypatch.setattr(leanstart, "SETTLE_MAX", 0.2)
    asked = []
    answers = {"busy": False}

    def busy():
        asked.append(1)
        return answers["busy"]
    monkeypatch.setattr(leanstart, "_busy", busy)
    r, w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    ctl_r, ctl_w = os.pipe2(os.O_CLOEXEC)
    header = {"deadline": None, "copy": [], "poll": []}
    yield (lambda: leanstart._settle(r, [ctl_r], header)), asked, answers, w, header
    for fd in (r, w, ctl_r, ctl_w):
        os.close(fd)


def test_an_idle_machine_settles_after_one_period(settling):
    settle, asked, answers, _, _ = settling
    settle()
    assert len(asked) == 1


def test_a_busy_machine_is_waited_out_up_to_the_longest(settling):
    settle, asked, answers, _, _ = settling
    answers["busy"] = True
    t = time.monotonic()
    settle()
    assert time.monotonic() - t >= leanstart.SETTLE_MAX
    assert len(asked) >= 2


def test_any_event_ends_the_wait_at_once(settling):
    settle, asked, answers, wake_w, _ = settling
    answers["busy"] = True
    os.write(wake_w, bytes([sigs.SIGTERM]))
    settle()
    assert asked == []


def test_a_health_check_due_ends_the_wait(settling):
    settle, asked, answers, _, header = settling
    answers["busy"] = True
    header["deadline"] = time.monotonic() + 0.02
    settle()
    assert time.monotonic() >= header["deadline"]
    assert len(asked) < 10              # (not held to SETTLE_MAX: 20 periods)


@pytest.mark.parametrize("line, busy", [(b"0.50 0.40 0.30 9/300 4242\n", True),
                                        (b"0.50 0.40 0.30 3/300 4242\n", False),
                                        (b"garbage", False)])
def test_busy_is_more_runnable_tasks_than_cpus(tmp_path, monkeypatch, line, busy):
    monkeypatch.setattr(leanstart, "CPUS", 2)
    f = tmp_path / "loadavg"
    f.write_bytes(line)
    assert leanstart._busy(str(f)) is busy
