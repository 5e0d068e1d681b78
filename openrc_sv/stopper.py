"""The stop schedule (--retry), as a policy object driven by the event loop.

Steps are ("signal", N), ("timeout", ms) and ("forever", None), from
openrc_sv.convert.retry_schedule.  begin() sends signals up to the first
timeout and sets ``deadline``; the loop calls advance() when the deadline
passes.  The daemon's exit is noticed by the loop (waitpid), not by polling
kill(pid, 0): OpenRC's C supervisor polls, and since the daemon is its own
unreaped child, a zombie, it always waits out the whole timeout.

When the schedule runs out with the daemon still alive, we send SIGKILL:
a stop must stop (OpenRC would leave the daemon running, orphaned).
"""

import os
import syslog
import time

from . import sigs as signal


class StopSchedule:
    def __init__(self, steps, pid, group=False, send=None):
        self.steps = list(steps)
        self.pid = pid
        self.group = group
        # How a signal reaches the daemon: kill(2) by default; a backend
        # whose tool must know of a stop (runit: `sv down`) passes its own.
        self.send = send
        self.i = 0
        self.deadline = None
        try:
            self.repeat_from = next(i for i, (k, _) in enumerate(self.steps) if k == "forever") + 1
        except StopIteration:
            self.repeat_from = None

    def _send(self, sig, log):
        target = -self.pid if self.group else self.pid
        try:
            if self.send is not None:
                self.send(sig)
            else:
                os.kill(target, sig)
            log(syslog.LOG_INFO, "sent signal %d to %s %d" % (sig, "group" if self.group else "pid", self.pid))
        except ProcessLookupError:
            pass
        except OSError as e:
            log(syslog.LOG_ERR, "unable to send signal %d to %d: %s" % (sig, self.pid, e.strerror))

    def begin(self, now, log):
        self.i = 0
        self._run(now, log)

    def advance(self, now, log):
        self.deadline = None
        self._run(now, log)

    def _run(self, now, log):
        while True:
            if self.i >= len(self.steps):
                if self.repeat_from is not None and self.repeat_from < len(self.steps):
                    self.i = self.repeat_from
                    continue
                if self.repeat_from is not None:
                    return              # "forever" last: wait for the exit however long
                log(syslog.LOG_WARNING, "pid %d survived the stop schedule, sending KILL" % self.pid)
                self._send(signal.SIGKILL, log)
                return
            kind, value = self.steps[self.i]
            self.i += 1
            if kind == "signal":
                self._send(value, log)
            elif kind == "timeout":
                self.deadline = now + value / 1000.0
                return


def _quiet(*_):
    pass


def _pidfd(pid):
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None         # kernel before 5.3, or already gone


def _pause(fd, seconds):
    """Wait up to `seconds`, returning early when the pidfd says it exited."""
    if fd is None:
        time.sleep(seconds)
        return
    import select
    p = select.poll()
    p.register(fd, select.POLLIN)
    try:
        p.poll(max(1, int(seconds * 1000)))
    except InterruptedError:
        pass


def run_blocking(steps, pid, alive, group=False, send=None, log=_quiet, poll=0.1,
                 after_kill=5.0):
    """Drive a stop schedule without an event loop, for a daemon that is
    not our child (runit's, monit's, an orphan).  alive() says whether it
    still runs; it must check the process's identity (pid and start time,
    procinfo.same_process), never the pid alone.  Returns True once it is
    gone, False if it outlived the schedule's end (SIGKILL, or a trailing
    `forever`) by after_kill seconds.

    Its exit is seen through a pidfd (poll wakes the moment it exits),
    with `poll` seconds as the longest wait between two looks."""
    fd = _pidfd(pid)
    # Checked after the pidfd is open: the fd then names the very process
    # alive() vouched for, and a signal through it cannot reach a process
    # that took the pid over since.
    if not alive():
        if fd is not None:
            os.close(fd)
        return True
    if send is None and not group and fd is not None:
        send = lambda sig: signal.pidfd_send_signal(fd, sig)  # noqa: E731
    try:
        sched = StopSchedule(steps, pid, group, send)
        sched.begin(time.monotonic(), log)
        waiting_since = None        # the schedule has nothing left but waiting
        while alive():
            now = time.monotonic()
            if sched.deadline is not None and now >= sched.deadline:
                sched.advance(now, log)
            if sched.deadline is None:
                waiting_since = waiting_since or now
                if now - waiting_since > after_kill:
                    return False
                left = poll
            else:
                left = min(poll, max(0.0, sched.deadline - now))
            _pause(fd, left)
        return True
    finally:
        if fd is not None:
            os.close(fd)
