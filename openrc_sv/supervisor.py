"""The supervisor: one process per service, keeping one daemon alive.

One event loop, no polling: signals arrive through a wakeup fd
(signal.set_wakeup_fd), the control fifo and the output pipes are polled
for input, and every timer (respawn delay, next health check, health-check
timeout, stop-schedule step) is a monotonic deadline that sets the poll
timeout.  With nothing due the loop sleeps in poll() with no timeout: an
idle supervisor never wakes up.

The daemon's life is a small state machine (Phase); each transition names
the event that caused it in the log.  Nothing here blocks: a health check,
the `unhealthy` hook and a stop schedule all run while signals, fifo
commands and the daemon's exit are still handled.
"""

import errno
import os
import select
import syslog
import time

from . import sigs as signal
from . import child, convert, procinfo
from .logpipes import OutputPipes
from .stopper import StopSchedule


class Phase:
    """The daemon's phases (plain strings: the enum module costs every
    supervisor start-up time and memory)."""
    RUNNING = "running"        # the daemon is up
    BACKOFF = "backoff"        # waiting out the respawn delay
    RESTARTING = "restarting"  # stopping the daemon to respawn it (failed health check)
    STOPPING = "stopping"      # stopping the daemon for good
    DONE = "done"


def now():
    return time.monotonic()


class Supervisor:
    def __init__(self, opts, state, pidfile, setup, ctl):
        self.o = opts
        self.state = state
        self.pidfile = pidfile
        self.setup = setup
        self.ctl = ctl                      # ControlFifo
        self.phase = Phase.RUNNING
        self.pid = None                     # the daemon
        self.deaths = []                    # monotonic times of respawns, for respawn_max
        self.restarts = 0                   # respawns over the whole lifetime
        self.respawn_at = None
        self.last_exit = None
        self.failing = False
        self.stopper = None
        self.health = None
        self.out = OutputPipes(opts, setup)
        self.notify_fd = None
        self.reexec_requested = False
        self.wake_r, self.wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)

    # -- logging -------------------------------------------------------
    def log(self, prio, msg):
        syslog.syslog(prio, "%s: %s" % (self.o.svcname, msg))

    # -- set up ----------------------------------------------------------
    def install_signals(self):
        signal.set_wakeup_fd(self.wake_w, warn_on_full_buffer=False)
        for s in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP,
                  signal.SIGUSR1, signal.SIGQUIT):
            signal.signal(s, _noop)
        # A logger that went away must not kill the supervisor.
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)

    def spawn(self):
        """Start the daemon once; raises child.SpawnError."""
        stdio = self.out.daemon_stdio()
        keep = {}
        extra_env = None
        if self.notify_fd is not None:
            keep[self.o.notify[1]] = self.notify_fd
        if self.o.notify and self.o.notify[0] == "socket":
            extra_env = {"NOTIFY_SOCKET": self.state.notify_socket_path()}
        self.pid = child.spawn(self.setup, self.o.argv, stdio, keep, extra_env)
        count = self._window_count()
        values = {
            "child_pid": self.pid,
            "start_time": time.strftime("%Y-%m-%d %H:%M:%S"),
            "start_count": count,
            "child_ident": procinfo.identity(self.pid) or "",
            "restarts": self.restarts,
        }
        if self.last_exit:
            # Written now, not at the exit: nothing delays the respawn.
            values["last_exit"] = self.last_exit
        self.state.set_many(values)
        self.log(syslog.LOG_INFO, "started %s, pid %d" % (" ".join(self.o.argv), self.pid))
        self.phase = Phase.RUNNING
        if self.health:
            self.health.schedule_first(now())

    def _window_count(self):
        period = self.o.respawn_period_ms / 1000.0
        if period:
            cut = now() - period
            self.deaths = [t for t in self.deaths if t >= cut]
        return len(self.deaths)

    # -- the loop ----------------------------------------------------------
    def run(self):
        poller = select.poll()
        poller.register(self.wake_r, select.POLLIN)
        poller.register(self.ctl.fd, select.POLLIN)
        out_fds = set()
        health_fd = None
        while self.phase is not Phase.DONE:
            # The pipes we drain change as loggers die and come back.
            want = set(self.out.poll_fds())
            for fd in out_fds - want:
                poller.unregister(fd)
            for fd in want - out_fds:
                poller.register(fd, select.POLLIN)
            out_fds = want
            timeout = self._timeout()
            try:
                events = poller.poll(timeout)
            except InterruptedError:
                events = []
            for fd, ev in events:
                if fd == self.wake_r:
                    self._drain_signals()
                elif fd == self.ctl.fd:
                    for cmd in self.ctl.read():
                        self._control(cmd)
                elif fd == health_fd:
                    self.health.read_output()
                else:
                    self.out.pump(fd)
            self._reap()
            self._timers()
            # The health check's output pipe comes and goes with each check.
            hfd = self.health.output_fd() if self.health else None
            if hfd != health_fd:
                if health_fd is not None:
                    try:
                        poller.unregister(health_fd)
                    except KeyError:
                        pass
                if hfd is not None:
                    poller.register(hfd, select.POLLIN)
                health_fd = hfd
            if self.reexec_requested and self.phase is Phase.RUNNING:
                self._reexec()
        return 1 if self.failing else 0

    def _timeout(self):
        due = [t for t in (self.respawn_at,
                           self.stopper.deadline if self.stopper else None,
                           self.health.deadline() if self.health else None,
                           self.out.deadline()) if t is not None]
        if not due:
            return None                      # idle: sleep until something happens
        return max(0, int((min(due) - now()) * 1000) + 1)

    def _drain_signals(self):
        try:
            data = os.read(self.wake_r, 512)
        except BlockingIOError:
            return
        for sig in data:
            if sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
                self.request_stop("signal %s" % convert.signal_name(sig))
            elif sig == signal.SIGHUP:
                self.reexec_requested = True
            elif sig == signal.SIGUSR1:
                self.out.reopen()

    def _control(self, cmd):
        if cmd[0] == "sig":
            if self.pid:
                self.log(syslog.LOG_INFO, "sending signal %d to %d" % (cmd[1], self.pid))
                try:
                    os.kill(self.pid, cmd[1])
                except OSError as e:
                    self.log(syslog.LOG_ERR, "unable to send signal %d to %d: %s"
                             % (cmd[1], self.pid, e.strerror))
        elif cmd[0] == "reopen":
            self.out.reopen()
        elif cmd[0] == "stop":
            self.request_stop("control fifo")

    # -- events ------------------------------------------------------------
    def request_stop(self, why):
        if self.phase in (Phase.STOPPING, Phase.DONE):
            return
        self.log(syslog.LOG_INFO, "stopping (%s)" % why)
        if self.health:
            self.health.cancel()
        self.respawn_at = None
        if self.pid:
            self.phase = Phase.STOPPING
            if not self.stopper:
                self._start_stopper()
        else:
            self.phase = Phase.DONE

    def _start_stopper(self):
        self.stopper = StopSchedule(self.o.stop_schedule(), self.pid, self.o.stop_group)
        self.stopper.begin(now(), self.log)

    def _reap(self):
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            except InterruptedError:
                continue
            if pid == 0:
                return
            if pid == self.pid:
                self._daemon_exited(status)
            elif self.health and self.health.owns(pid):
                self.health.exited(pid, status, now())
            else:
                self.out.child_exited(pid)

    def _daemon_exited(self, status):
        how = describe_status(status)
        self.log(syslog.LOG_WARNING, "%s, pid %d, %s" % (self.o.exec, self.pid, how))
        self.last_exit = how
        self.pid = None
        self.stopper = None
        if self.health:
            self.health.cancel()
        if self.phase is Phase.STOPPING:
            self.phase = Phase.DONE
            return
        # An unexpected exit or a health-check restart: both count as a
        # respawn, as in OpenRC.
        t = now()
        self.deaths.append(t)
        self.restarts += 1
        n = self._window_count()
        if self.o.respawn_max and n > self.o.respawn_max:
            self.log(syslog.LOG_WARNING, "respawned \"%s\" too many times (%d in %s), giving up"
                     % (self.o.exec, n, convert.format_ms(self.o.respawn_period_ms)
                        if self.o.respawn_period_ms else "its lifetime"))
            self.failing = True
            self.phase = Phase.DONE
            self.state.set("last_exit", how)
            return
        delay = self.o.respawn_delay_ms + self.o.respawn_delay_step_ms * n
        if self.o.respawn_delay_step_ms and delay > self.o.respawn_delay_cap_ms:
            delay = self.o.respawn_delay_cap_ms
        self.phase = Phase.BACKOFF
        self.respawn_at = t + delay / 1000.0

    def _timers(self):
        t = now()
        self.out.tick(t)
        if self.phase is Phase.BACKOFF and self.respawn_at is not None and t >= self.respawn_at:
            self.respawn_at = None
            try:
                self.spawn()
            except child.SpawnError as e:
                # The command ran before; if it cannot run now (removed,
                # made non-executable) that is a failure, not a spin.
                self.log(syslog.LOG_ERR, "cannot respawn: %s" % e)
                self.failing = True
                self.phase = Phase.DONE
        if self.stopper and self.stopper.deadline is not None and t >= self.stopper.deadline:
            self.stopper.advance(t, self.log)
        if self.health and self.phase is Phase.RUNNING:
            verdict = self.health.tick(t)
            if verdict == "restart" and self.pid:
                self.log(syslog.LOG_WARNING, "health check failed, restarting pid %d" % self.pid)
                self.phase = Phase.RESTARTING
                self._start_stopper()

    def _reexec(self):
        """SIGHUP / --reexec: replace this process with a fresh supervisor,
        keeping the daemon (our child: its pid survives exec)."""
        self.reexec_requested = False
        self.log(syslog.LOG_WARNING, "re-executing the supervisor, daemon pid %d kept" % self.pid)
        for fd in self.out.inheritable_fds() + [self.ctl.fd, self.ctl.keep_fd]:
            os.set_inheritable(fd, True)
        os.environ["OPENRC_SV_REEXEC"] = "%d|%d,%d|%s|%d" % (
            self.pid, self.ctl.fd, self.ctl.keep_fd, self.out.export(), self.restarts)
        os.environ["RC_SVCNAME"] = self.o.svcname
        signal.set_wakeup_fd(-1)
        from .launcher import argv as launcher_argv
        argv = launcher_argv() + reexec_args(list(self.o.raw_argv))
        try:
            os.execv(argv[0], argv)
        except OSError as e:
            self.log(syslog.LOG_ERR, "unable to re-execute: %s; carrying on" % e.strerror)
            self.install_signals()


def reexec_args(args):
    """The original command line plus --reexec, as an option (before any
    `--`), leaving the daemon's own arguments untouched."""
    return args[:1] + ["--reexec"] + args[1:]


def describe_status(status):
    if os.WIFSIGNALED(status):
        return "signal %s" % convert.signal_name(os.WTERMSIG(status))
    return "exit %d" % os.WEXITSTATUS(status)


def _noop(*_):
    pass


class ControlFifo:
    """The control fifo, $RC_SVCDIR/supervise-SVC.ctl.

    OpenRC's protocol: a writer opens it, writes "sig N" (no newline) and
    closes.  We keep our own write end open so that poll() does not report
    hang-up after every writer, and parse every "sig N" in what we read
    (two quick writers may arrive in one read).  Ours also understands
    "reopen" (reopen --stdout/--stderr files) and "stop".
    """

    def __init__(self, path, fds=None):
        self.path = path
        if fds:
            self.fd, self.keep_fd = fds
            return
        self.fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        self.keep_fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)

    def read(self):
        buf = b""
        while True:
            try:
                data = os.read(self.fd, 4096)
            except BlockingIOError:
                break
            except OSError as e:
                if e.errno == errno.EINTR:
                    continue
                break
            if not data:
                break
            buf += data
        return parse_control(buf.decode(errors="replace"))


def parse_control(text):
    """'sig 15', 'sig 1sig 15' (two writers in one read), 'reopen' -> commands.

    OpenRC's writers send "sig N" with no delimiter, so every "sig" starts a
    new word; our own words ("reopen", "stop") must stand alone.
    """
    cmds = []
    words = text.lower().replace("sig", " sig ").split()
    for i, w in enumerate(words):
        if w == "sig" and i + 1 < len(words) and words[i + 1].isdigit():
            n = int(words[i + 1])
            if n < signal.NSIG:
                cmds.append(("sig", n))
        elif w in ("reopen", "stop"):
            cmds.append((w,))
    return cmds
