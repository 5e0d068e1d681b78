"""Health checks: `$RC_SERVICE healthcheck`, then `unhealthy` on failure.

The check runs as a child process in its own session (so a timeout kills
everything it started), with a deadline (--healthcheck-timeout, default the
timer): a check that hangs counts as failed and is killed, and the
supervisor keeps handling signals, the fifo and the daemon meanwhile.

A watchdog miss (--watchdog-timer) is handled as a failed check:
run_unhealthy() runs `unhealthy` and hands over the same verdict.  With a
watchdog and no timer nor delay, this object only does that (checks is
False: nothing is scheduled, nothing counted).

When an init script's extra_commands leaves out `healthcheck` (openrc-run
then answers "unknown function"), OpenRC's supervisor kills the daemon on
every tick.  We recognise that answer, say so once in syslog and in the
service's `healthcheck` value, and stop checking.
"""

import os
import syslog

from . import sigs as signal
from . import child, statekeys

_HIDDEN_MARKERS = (b"unknown function", b"not a default nor extra command")
_MAX_OUTPUT = 4096


# The check's phases (plain strings).  A verdict ("restart") is handed to
# the supervisor once `unhealthy` has run, as OpenRC's supervise-daemon
# does after its healthcheck/unhealthy pair.
IDLE = "idle"              # no check scheduled (daemon down, or cancelled)
WAITING = "waiting"        # until next_at (healthcheck_delay, then the timer)
CHECKING = "checking"      # `$RC_SERVICE healthcheck` runs, until its deadline
UNHEALTHY = "unhealthy"    # `$RC_SERVICE unhealthy` runs, until its deadline
HIDDEN = "hidden"          # the script has no healthcheck command: off for good


class HealthCheck:
    def __init__(self, script, timer_ms, delay_ms, timeout_ms, state, log, setup_env=None):
        """timer_ms 0 (healthcheck_delay alone): one check, delay_ms after
        each start of a daemon, as OpenRC's supervise-daemon does.  Both 0
        (a watchdog alone): no checks, `unhealthy` only (run_unhealthy),
        with timeout_ms as its deadline."""
        self.script = script
        self.timer = timer_ms / 1000.0
        self.delay = (delay_ms or timer_ms) / 1000.0
        self.timeout = (timeout_ms or timer_ms or delay_ms) / 1000.0
        self.checks = bool(timer_ms or delay_ms)
        self.state = state
        self.log = log
        self.phase = IDLE
        self.next_at = None       # WAITING: when the next check starts
        self.pid = None           # CHECKING/UNHEALTHY: the child,
        self.until = None         # its deadline,
        self.fd = None            # and its output pipe
        self.output = b""
        self.verdict = None
        self.failures = 0
        self.runs = 0             # checks run to a result, since the start,
        self.failed_total = 0     # and of those, failed or timed out
        self.on_result = None     # called after each result (the textfile)
        self.after = IDLE         # the phase once `unhealthy` is over (HIDDEN stays)

    @property
    def hidden(self):
        return self.phase == HIDDEN

    # scheduling --------------------------------------------------------
    def schedule_first(self, now):
        """A new daemon: pending until its first check."""
        if self.checks and self.phase != HIDDEN:
            self.state.set("healthcheck", "pending")
            self._wait(now + self.delay)

    def run_unhealthy(self, now):
        """A watchdog miss: `unhealthy` now, then the verdict "restart", as
        after a failed check (a check under way is killed, uncounted; an
        `unhealthy` already running will do)."""
        if self.phase == UNHEALTHY:
            return
        if self.pid is not None:
            self._kill()
        self.after = HIDDEN if self.phase == HIDDEN else IDLE
        self._run(UNHEALTHY, now)

    def cancel(self):
        if self.pid is not None:
            self._kill()
        if self.phase != HIDDEN:
            self.phase, self.next_at = (self.after if self.phase == UNHEALTHY else IDLE), None
        self.after = IDLE

    def deadline(self):
        if self.pid is not None:
            return self.until
        return self.next_at

    def owns(self, pid):
        return self.pid is not None and self.pid == pid

    def output_fd(self):
        return self.fd

    # the loop's entry points ------------------------------------------------
    def tick(self, now):
        """Called after events; returns "restart" once unhealthy has run."""
        if self.verdict:
            v, self.verdict = self.verdict, None
            return v
        if self.pid is not None and now >= self.until:
            what = self.phase
            self.log(syslog.LOG_WARNING, "%s for %s timed out after %gs, killed"
                     % ("healthcheck" if what == CHECKING else "unhealthy", self.script, self.timeout))
            self._kill()
            if what == CHECKING:
                self._failed(now, "timeout")
            else:
                self.phase, self.after = self.after, IDLE
                return "restart"
        elif self.phase == WAITING and now >= self.next_at:
            self.next_at = None
            self._run(CHECKING, now)
        if self.verdict:
            v, self.verdict = self.verdict, None
            return v
        return None

    def read_output(self):
        try:
            data = os.read(self.fd, 4096)
        except (BlockingIOError, OSError, TypeError):
            return
        if len(self.output) < _MAX_OUTPUT:
            self.output += data[:_MAX_OUTPUT - len(self.output)]
        if not data:
            self._close_output()

    def exited(self, pid, status, now):
        what = self.phase
        self._drain()
        self._close_output()
        self.pid = self.until = None
        ok = os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
        if what == CHECKING:
            if ok:
                self.failures = 0
                self._count("ok")
                if self.timer:
                    self._wait(now + self.timer)
                else:
                    self.phase = IDLE       # until the next daemon (schedule_first)
            elif any(m in self.output for m in _HIDDEN_MARKERS):
                self.phase = HIDDEN
                self.state.set("healthcheck", "hidden")
                self.log(syslog.LOG_ERR, "%s has no healthcheck command: its extra_commands "
                         "replaces the one supervise-daemon.sh adds; write "
                         "extra_commands=\"${extra_commands} ...\" to keep it. Health checks "
                         "are off for this service." % self.script)
            else:
                self._failed(now, "exit %d" % os.WEXITSTATUS(status) if os.WIFEXITED(status)
                             else "signal %d" % os.WTERMSIG(status))
        else:
            self.phase, self.after = self.after, IDLE
            self.verdict = "restart"

    # internals ----------------------------------------------------------------
    def _wait(self, at):
        self.phase, self.next_at = WAITING, at

    def _count(self, result):
        """Record one result: healthcheck, health_runs, health_failures."""
        self.runs += 1
        if result != "ok":
            self.failed_total += 1
        self.state.set_many({"healthcheck": result, statekeys.HEALTH_RUNS: self.runs,
                             statekeys.HEALTH_FAILURES: self.failed_total})
        if self.on_result:
            self.on_result()

    def _failed(self, now, why):
        self.failures += 1
        self._count("failing")
        self.log(syslog.LOG_WARNING, "health check for %s failed (%s)" % (self.script, why))
        self._run(UNHEALTHY, now)

    def _run(self, phase, now):
        what = "healthcheck" if phase == CHECKING else "unhealthy"
        r, w = os.pipe2(os.O_CLOEXEC)
        os.set_blocking(r, False)
        self.output = b""
        pid = self._fork()
        if pid == 0:
            try:
                signal.set_wakeup_fd(-1)
                # The daemon's defaults (child._SIGDEF): the interpreter's
                # ignored SIGXFSZ must not reach the check either.
                for s in child._SIGDEF:
                    signal.signal(s, signal.SIG_DFL)
                os.setsid()
                null = os.open("/dev/null", os.O_RDONLY)
                os.dup2(null, 0)
                os.dup2(w, 1)
                os.dup2(w, 2)
                os.execv(self.script, [self.script, what])
            except BaseException:
                os._exit(127)
        os.close(w)
        self.phase, self.pid, self.until, self.fd = phase, pid, now + self.timeout, r

    _fork = staticmethod(os.fork)

    def _kill(self):
        from .child import kill_and_reap
        kill_and_reap(self.pid)
        self._close_output()
        self.pid = self.until = None

    def _drain(self):
        while self.fd is not None:
            try:
                data = os.read(self.fd, 4096)
            except (BlockingIOError, OSError):
                return
            if not data:
                return
            if len(self.output) < _MAX_OUTPUT:
                self.output += data[:_MAX_OUTPUT - len(self.output)]

    def _close_output(self):
        if self.fd is not None:
            try:
                os.close(self.fd)
            except OSError:
                pass
            self.fd = None
