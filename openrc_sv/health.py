"""Health checks: `$RC_SERVICE healthcheck`, then `unhealthy` on failure.

The check runs as a child process in its own session (so a timeout kills
everything it started), with a deadline (--healthcheck-timeout, default the
timer): a check that hangs counts as failed and is killed, and the
supervisor keeps handling signals, the fifo and the daemon meanwhile.

When an init script's extra_commands leaves out `healthcheck` (openrc-run
then answers "unknown function"), OpenRC's supervisor kills the daemon on
every tick.  We recognise that answer, say so once in syslog and in the
service's `healthcheck` value, and stop checking.
"""

import os
import syslog

from . import sigs as signal

_HIDDEN_MARKERS = (b"unknown function", b"not a default nor extra command")
_MAX_OUTPUT = 4096


class HealthCheck:
    def __init__(self, script, timer_ms, delay_ms, timeout_ms, state, log, setup_env=None):
        self.script = script
        self.timer = timer_ms / 1000.0
        self.delay = (delay_ms or timer_ms) / 1000.0
        self.timeout = (timeout_ms or timer_ms) / 1000.0
        self.state = state
        self.log = log
        self.next_at = None
        self.proc = None          # (pid, phase "check"|"unhealthy", deadline, out_fd)
        self.output = b""
        self.hidden = False
        self.verdict = None
        self.failures = 0

    # scheduling --------------------------------------------------------
    def schedule_first(self, now):
        if not self.hidden:
            self.next_at = now + self.delay

    def cancel(self):
        if self.proc:
            self._kill()
        self.next_at = None

    def deadline(self):
        if self.proc:
            return self.proc[2]
        return self.next_at

    def owns(self, pid):
        return self.proc is not None and self.proc[0] == pid

    def output_fd(self):
        return self.proc[3] if self.proc else None

    # the loop's entry points ------------------------------------------------
    def tick(self, now):
        """Called after events; returns "restart" once unhealthy has run."""
        if self.verdict:
            v, self.verdict = self.verdict, None
            return v
        if self.proc and now >= self.proc[2]:
            what = self.proc[1]
            self.log(syslog.LOG_WARNING, "%s for %s timed out after %gs, killed"
                     % (what, self.script, self.timeout))
            self._kill()
            if what == "healthcheck":
                self._failed(now, "timeout")
            else:
                return "restart"
        elif not self.proc and self.next_at is not None and now >= self.next_at:
            self.next_at = None
            self._run("healthcheck", now)
        if self.verdict:
            v, self.verdict = self.verdict, None
            return v
        return None

    def read_output(self):
        fd = self.output_fd()
        try:
            data = os.read(fd, 4096)
        except (BlockingIOError, OSError):
            return
        if len(self.output) < _MAX_OUTPUT:
            self.output += data[:_MAX_OUTPUT - len(self.output)]
        if not data:
            self._close_output()

    def exited(self, pid, status, now):
        what = self.proc[1]
        self._drain()
        self._close_output()
        self.proc = None
        ok = os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
        if what == "healthcheck":
            if ok:
                self.failures = 0
                self.state.set("healthcheck", "ok")
                self.next_at = now + self.timer
            elif any(m in self.output for m in _HIDDEN_MARKERS):
                self.hidden = True
                self.state.set("healthcheck", "hidden")
                self.log(syslog.LOG_ERR, "%s has no healthcheck command: its extra_commands "
                         "replaces the one supervise-daemon.sh adds; write "
                         "extra_commands=\"${extra_commands} ...\" to keep it. Health checks "
                         "are off for this service." % self.script)
            else:
                self._failed(now, "exit %d" % os.WEXITSTATUS(status) if os.WIFEXITED(status)
                             else "signal %d" % os.WTERMSIG(status))
        else:
            self.verdict = "restart"

    # internals ----------------------------------------------------------------
    def _failed(self, now, why):
        self.failures += 1
        self.state.set("healthcheck", "failing")
        self.log(syslog.LOG_WARNING, "health check for %s failed (%s)" % (self.script, why))
        self._run("unhealthy", now)

    def _run(self, what, now):
        r, w = os.pipe2(os.O_CLOEXEC)
        os.set_blocking(r, False)
        self.output = b""
        pid = os.fork()
        if pid == 0:
            try:
                signal.set_wakeup_fd(-1)
                for s in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP,
                          signal.SIGUSR1, signal.SIGQUIT, signal.SIGPIPE):
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
        self.proc = (pid, what, now + self.timeout, r)

    def _kill(self):
        from .child import kill_and_reap
        kill_and_reap(self.proc[0])
        self._close_output()
        self.proc = None

    def _drain(self):
        fd = self.output_fd()
        while fd is not None:
            try:
                data = os.read(fd, 4096)
            except (BlockingIOError, OSError):
                return
            if not data:
                return
            if len(self.output) < _MAX_OUTPUT:
                self.output += data[:_MAX_OUTPUT - len(self.output)]

    def _close_output(self):
        if self.proc and self.proc[3] is not None:
            try:
                os.close(self.proc[3])
            except OSError:
                pass
            self.proc = self.proc[:3] + (None,)
