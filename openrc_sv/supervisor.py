"""The supervisor: one process per service, keeping one daemon alive.

One event loop, no polling: signals arrive through a wakeup fd
(signal.set_wakeup_fd), the control fifo and the output pipes are polled
for input, and every timer (respawn delay, next health check, health-check
timeout, stop-schedule step, logger restart, state-write retry, the
watchdog's deadline) is a monotonic deadline that sets the poll timeout.
With nothing due the loop sleeps in poll() with no timeout: an idle
supervisor never wakes up.  (A watchdog's notify socket is polled like the
pipes; a daemon sending keepalives wakes it, nothing else does.)

The loop turns what it sees into named events, plain tuples:

  ("DaemonExited", status)   waitpid() reaped the daemon
  ("RespawnDue",)            the respawn delay is over
  ("StopRequested", why)     SIGTERM/SIGINT/SIGQUIT, or "stop" on the fifo
  ("StopDeadline",)          a timeout of the stop schedule (--retry) passed
  ("HealthVerdict", "restart")  healthcheck failed and unhealthy ran
  ("WatchdogMissed",)        no WATCHDOG=1 within the interval (--watchdog-timer)
  ("LoggerExited", pid)      an output logger died
  ("Control", cmd)           ("sig", N) / ("reopen",): the fifo, SIGUSR1
  ("Reexec",)                SIGHUP / --reexec
  ("SpawnFailed", why)       a respawn could not exec the command

and TABLE says, for the daemon's phase, which handler an event runs.  A
handler returns the next phase and a list of actions (the only things that
touch the world); the log says `phase --event--> phase`.  Every system call
goes through one object, System, which tests replace.  Nothing here blocks:
a health check, the `unhealthy` hook and a stop schedule all run while
signals, fifo commands and the daemon's exit are still handled.
"""

import errno
import marshal
import os
import select
import syslog
import time

from . import sigs as signal
from . import child, convert, procinfo, promfile, promvalues, respawnpolicy, worker
from .logpipes import OutputPipes
from .rcstate import RetryingWriter
from .statekeys import WATCHDOG_MISSES
from .stopper import StopSchedule, run_blocking

# The daemon's phases (plain strings: the enum module costs every
# supervisor start-up time and memory).
RUNNING = "running"        # the daemon is up
BACKOFF = "backoff"        # waiting out the respawn delay
RESTARTING = "restarting"  # stopping the daemon to respawn it (failed health check)
STOPPING = "stopping"      # stopping the daemon for good
DONE = "done"              # over: stopped as asked
FAILED = "failed"          # over: gave up (respawn_max, cannot respawn)

# (phase, event) -> handler (Supervisor.on_<name>), and where it can lead.
# "*" is any phase.  An event with no row means nothing in that phase
# (a second stop request, a respawn that a stop cancelled ...).
TABLE = {
    (RUNNING,    "DaemonExited"):  "exited",         # -> backoff | failed
    (RUNNING,    "HealthVerdict"): "health_failed",  # -> restarting
    (RUNNING,    "WatchdogMissed"): "watchdog_missed",  # unhealthy runs, then a HealthVerdict
    (RUNNING,    "StopRequested"): "stop",           # -> stopping
    (RUNNING,    "Reexec"):        "reexec",         # -> running, in a new process image
    (RUNNING,    "SpawnFailed"):   "spawn_failed",   # -> failed
    (BACKOFF,    "RespawnDue"):    "respawn",        # -> running
    (BACKOFF,    "StopRequested"): "stop_idle",      # -> done
    (BACKOFF,    "Reexec"):        "defer",          # replayed once running
    (RESTARTING, "DaemonExited"):  "exited",         # -> backoff | failed
    (RESTARTING, "StopDeadline"):  "stop_step",
    (RESTARTING, "StopRequested"): "stop",           # -> stopping (same schedule)
    (RESTARTING, "Reexec"):        "defer",
    (STOPPING,   "DaemonExited"):  "stopped",        # -> done
    (STOPPING,   "StopDeadline"):  "stop_step",
    ("*",        "Control"):       "control",        # sig N / reopen, in any phase
    ("*",        "LoggerExited"):  "logger_exited",
}
PHASES = (RUNNING, BACKOFF, RESTARTING, STOPPING, DONE, FAILED)
EVENTS = ("DaemonExited", "RespawnDue", "StopRequested", "StopDeadline", "HealthVerdict",
          "WatchdogMissed", "LoggerExited", "Control", "Reexec", "SpawnFailed")

FORKED = "the daemon forked into the background; set command_args_foreground"


def group_alive(pgid):
    """Does process group pgid have a member (one we may not signal counts)?"""
    try:
        os.kill(-pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


class Early:
    """What a lean supervisor did at its daemon's exit before it built its
    Supervisor (leanstart.respawn_first; Supervisor.take_exit takes it):
    the wait status and when it was reaped (monotonic), the Decision and
    History (None: not decided), and the respawn: its pid and when
    (monotonic), or the SpawnError's line; group: whether its process
    group lived on when it was reaped (None: not asked)."""

    __slots__ = ("status", "t", "decision", "history", "pid", "started", "error", "group")

    def __init__(self, status, t):
        self.status, self.t = status, t
        self.decision = self.history = self.pid = self.started = self.error = None
        self.group = None

    @property
    def spawned(self):
        return self.pid is not None or self.error is not None

    def take(self):
        """The respawned pid, once (SpawnError if it failed)."""
        pid, error, self.pid, self.error = self.pid, self.error, None, None
        if error is not None:
            raise child.SpawnError(error)
        return pid


class System:
    """The system calls the state machine makes, on one object that tests
    replace.  spawn is child.spawn: posix_spawn(3) whenever it can; for the
    start the supervisor calls it inside a worker (worker.run), so that the
    pages the start path writes are the worker's, not the long-lived
    supervisor's.
    workers=False runs those jobs in-process (see worker.py: a supervisor
    forked by `--start` itself)."""

    def __init__(self, workers=True):
        self.workers = workers

    def now(self):
        return time.monotonic()

    def kill(self, pid, sig):
        os.kill(pid, sig)

    def waitpid(self):
        """(pid, status) of one exited child, (0, 0) if none."""
        return os.waitpid(-1, os.WNOHANG)

    def spawn(self, setup, argv, stdio, keep=(), extra_env=None):
        return child.spawn(setup, argv, stdio, keep, extra_env)

    def worker(self, job):
        return worker.run(job) if self.workers else worker.inline(job)

    def identity(self, pid):
        return procinfo.identity(pid)

    def group_alive(self, pgid):
        return group_alive(pgid)

    def write_state(self, state, values):
        state.set_many(values)


class Supervisor:
    def __init__(self, opts, state, pidfile, setup, ctl, system=None, wake=None, quiet=False,
                 files=None, textfile=False):
        """wake: the signal wakeup pipe (read end, write end) to use, one a
        lean supervisor already had (leanstart), else a new one.  quiet:
        the worker that started the daemon has said which rules apply.
        files: the daemon's files that worker opened (OutputPipes).
        textfile: the Publisher's (directory, service, backend) as that
        worker found them, or None for none (False: look them up, which
        reads rc.conf)."""
        self.o = opts
        self.state = state
        self.pidfile = pidfile
        self._setup = setup
        self._fast = False                  # posix_spawn will do (child.prepare_supervisor)
        self.ctl = ctl                      # ControlFifo
        self.sys = system or System()
        self.phase = RUNNING
        self.pid = None                     # the daemon
        self._reaped = None                 # the last daemon pid reaped
        self.started_at = None              # when it was spawned (monotonic)
        # The restart policy (respawnpolicy: the same for every backend) and
        # what it keeps between exits; why the service is down, once it is.
        # The node_exporter textfile, when the administrator asked for one.
        if textfile is False:
            self.prom = promfile.Publisher.configured(
                opts.svcname, state.get("sv_backend") or "supervise-daemon")
        else:
            self.prom = promfile.Publisher(*textfile) if textfile else None
        self.spawned_at = None              # wall clock, for the textfile
        self.policy = respawnpolicy.Settings.of(opts)
        self.history = respawnpolicy.History()
        self.down_reason = None
        self.restarts = 0                   # respawns over the whole lifetime
        self.respawn_at = None
        self.last_exit = None
        self.leftovers = []                 # process groups a forking daemon left behind
        self.later = []                     # events deferred until the daemon runs
        self._early = None                  # an exit handled before we were built (take_exit)
        self.stopper = None
        self._health = None
        self.writer = RetryingWriter(state, self.sys.now, lambda prio, msg: self.log(prio, msg),
                                     lambda values: self.sys.write_state(state, values))
        self.out = OutputPipes(opts, None, spawn=self._spawn_logger, now=self.sys.now, files=files)
        self.notify_fd = None
        # --watchdog-timer: the deadline (watchdog.py), and the notify
        # socket it is fed through, kept after READY=1 (watch_notify).
        self.watchdog = None
        self.notify_sock = None
        self.restart_why = None             # "watchdog": the restart under way is its
        if getattr(opts, "watchdog_timer_ms", 0):
            from .watchdog import Watchdog
            self.watchdog = Watchdog(opts.watchdog_timer_ms, opts.notify_timeout_ms)
        self.wake_r, self.wake_w = wake or os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.debug = getattr(opts, "verbose", False)    # --verbose: the phase transitions too
        self._started = "started %s, pid " % " ".join(opts.argv)
        rules = getattr(opts, "rules", None)
        if rules is not None and not quiet:
            # Which OpenRC's respawn defaults apply, and why (man
            # supervise-daemon, DIFFERENCES): where an admin looks first.
            self.log(syslog.LOG_INFO, "respawn rules of OpenRC %s%s (%s)" % (
                rules.name, "+" if rules.raw_strings else " to 0.61", rules.why))

    @property
    def fast(self):
        """Whether posix_spawn starts the daemon.  Not with a watchdog:
        WATCHDOG_PID must be the daemon's own pid, known only in a forked
        child before its exec (see _WatchdogEnv)."""
        return self._fast and self.watchdog is None

    @fast.setter
    def fast(self, value):
        self._fast = value

    @property
    def setup(self):
        """The daemon's child.Setup.  daemonize passes a function that
        builds it: the start's worker builds it, in its own memory, and
        reports the daemon's environment; from then on this process keeps
        only that (child.Prepared): a respawn by posix_spawn needs no more,
        and a forked one builds the Setup in the child.  (Building it here
        would write pages that stay ours: reading the environment, the
        password file.)"""
        s = self._setup
        if callable(s):
            s = self._setup = s()
        if s is not None and not isinstance(s, child.Prepared):
            s.fast = self.fast
        return s

    @property
    def health(self):
        return self._health

    @health.setter
    def health(self, check):
        # Its state writes ("healthcheck") retry like ours.
        self._health = check
        if check is not None:
            check.state = self.writer

    @property
    def failing(self):
        return self.phase == FAILED

    @property
    def checks(self):
        """Whether health checks run (a HealthCheck may be there only to
        run `unhealthy` after a watchdog miss)."""
        return self._health is not None and self._health.checks

    # -- logging -------------------------------------------------------
    def log(self, prio, msg):
        # The phase transitions are debug lines, sent only with --verbose:
        # a crash storm would otherwise send four lines per respawn where
        # OpenRC's supervisor sends one.
        if prio == syslog.LOG_DEBUG and not self.debug:
            return
        syslog.syslog(prio, "%s: %s" % (self.o.svcname, msg))

    # -- set up ----------------------------------------------------------
    def install_signals(self):
        install_signals(self.wake_w)

    def spawn(self, before=None, after=None):
        """Start the daemon once; raises child.SpawnError.  A state write
        that fails (a full /run) does not: the writer retries it.
        before() and after() run in the same worker, around the daemon's
        start (daemonize's writes at --start); if either fails, so does
        this (after after(), with self.pid set: the caller stops it)."""
        stdio = self.out.daemon_stdio()
        keep = {}
        extra_env = None
        if self.notify_fd is not None:
            keep[self.o.notify[1]] = self.notify_fd
        if self.o.notify and self.o.notify[0] == "socket":
            extra_env = {"NOTIFY_SOCKET": self.state.notify_socket_path()}
            if self.watchdog:
                extra_env = _WatchdogEnv(extra_env, self.watchdog.interval_ms * 1000)
        respawn = self.started_at is not None and not (before or after)
        started = None
        if not respawn:
            lazy = self.started_at is None and callable(self._setup)
            (pid, ident, when, env), failed = self._in_worker(lambda report: self._start_daemon(
                report, stdio, keep, extra_env, before, after, lazy), strict=after is not None)
            if lazy:
                # What the worker's Setup said the daemon's environment is:
                # respawns need nothing more (see the setup property).
                self._setup = child.Prepared(self._setup, _decode_env(env) if env else None,
                                             self.fast)
            self.pid = pid
            if failed:
                raise child.SpawnError(failed)
        else:
            # A respawn: in this process (see _in_worker), straight to the
            # system call, without the worker's report lines.
            early, self._early = self._early, None
            if early is not None and early.spawned:
                self.pid = pid = early.take()       # (one spawn: the lean supervisor's)
                started = early.started
            else:
                self.pid = pid = self._respawn_daemon(stdio, keep, extra_env)
            self._reaped = None             # (a pid reused since is this daemon's)
            ident = when = None
        self.started_at = started or self.sys.now()
        values = {
            "child_pid": pid,
            "start_time": when or time.strftime("%Y-%m-%d %H:%M:%S"),
            "start_count": self.history.count,
            "child_ident": ident,
            "restarts": self.restarts,
        }
        if respawn:
            # Known when written (held in a crash loop: see _respawned).
            values["child_pid"] = lambda: self._respawned(pid, True)
            values["child_ident"] = lambda: self._respawned(pid, False)
        elif not ident:
            values["child_ident"] = self.sys.identity(pid) or ""
        if self.last_exit:
            # Written now, not at the exit: nothing delays the respawn.
            values["last_exit"] = self.last_exit
        if self.watchdog:
            self.watchdog.arm(self.started_at)
            self.restart_why = None
            values[WATCHDOG_MISSES] = self.watchdog.misses
            if not self.checks:
                # The watchdog is this daemon's only check: pending until
                # its first keepalive (a health check says it otherwise).
                values["healthcheck"] = "pending"
        # A respawn's values wait out the writer's gap in a crash loop
        # (RetryingWriter.GAP); the start's are on disk before --start says OK.
        self.writer.set_many(values, hold=respawn)
        self.log(syslog.LOG_INFO, self._started + str(pid))
        self.spawned_at = time.time()
        if self._health:
            self._health.schedule_first(self.sys.now())
        self.publish()

    def publish(self):
        """Rewrite the service's textfile (promfile) after a change of
        state: a start, an exit, a health result, the end.  Never on a
        timer, and never the end of supervision (publish does not raise)."""
        if self.prom is None:
            return
        h = self._health if self.checks else None
        self.prom.publish(promvalues.values(
            self.pid is not None, self.phase == FAILED, self.spawned_at, self.restarts,
            self.last_exit,
            health=(None if h is None and not self.watchdog else
                    "hidden" if h and h.hidden else self.writer.get("healthcheck")),
            health_runs=h.runs if h else None,
            health_failures=h.failed_total if h else None,
            watchdog_misses=self.watchdog.misses if self.watchdog else None))
        if self.prom.complaint:
            self.log(syslog.LOG_WARNING, self.prom.complaint)

    def _start_daemon(self, report, stdio, keep, extra_env, before=None, after=None, lazy=False):
        """In the worker: the daemon's process setup and exec (child.spawn),
        then its pid at once (the supervisor must know its child even if
        what follows fails), its identity while it cannot have been reaped
        (it is the worker's child until the worker exits), the time, and
        (lazy: the Setup was built here) the environment to respawn with."""
        if before:
            before()
        pid = self.sys.spawn(self.setup, self.o.argv, stdio, keep, extra_env)
        report(str(pid))
        report(self.sys.identity(pid) or "")
        report(time.strftime("%Y-%m-%d %H:%M:%S"))
        report(_encode_env(self._setup.env) if lazy and self.fast else "")
        if after:
            after()

    def _respawned(self, pid, as_pid):
        """child_pid (as_pid) or child_ident of a respawned daemon, when
        the writer writes it: at once, or at the end of a crash loop's gap
        (RetryingWriter.GAP), for the daemon alive then.  Until we reap it
        its pid is its own, even as a zombie; once reaped, the pid may be
        anyone's: DROP, and options/SVC keeps the pair of the daemon before,
        which names a dead process just the same."""
        if pid == self._reaped:
            return RetryingWriter.DROP
        return str(pid) if as_pid else (self.sys.identity(pid) or "")

    def _respawn_daemon(self, stdio, keep, extra_env):
        """child.spawn in this process: the pid, or child.SpawnError with
        one line whatever failed (as worker.inline turns it into one)."""
        try:
            return self.sys.spawn(self.setup, self.o.argv, stdio, keep, extra_env)
        except child.SpawnError:
            raise
        except Exception as e:
            raise child.SpawnError(worker.message(e))

    def _spawn_logger(self, setup, argv, stdio, keep=(), extra_env=None):
        """OutputPipes' spawn: a logger, started by a worker too, with the
        daemon's setup (OutputPipes has none: it is made in the worker)."""
        return self._in_worker(lambda report: report(str(self.sys.spawn(
            setup or self.setup, argv, stdio, keep, extra_env))))[0][0]

    def _in_worker(self, job, strict=False):
        """Run a start job: ([pid, line 2, line 3, line 4], error).

        The start (until the daemon first runs) goes through a worker
        (System.worker); logger restarts run the same job in-process, and
        respawns call child.spawn directly (_respawn_daemon).  A worker's
        fork costs a respawn about 3 ms (three times a posix_spawn from
        here, measured through the fork server), more than C's whole
        respawn, and saves this process only the few pages the respawn
        path writes (about 40 kB, once): the start is what writes most.

        A job that failed before reporting a pid raises child.SpawnError
        with its one line ("unable to exec ..."), as child.spawn does
        in-process.  After it, the pid is ours all the same: error is what
        failed if strict, else it is only said in the log."""
        failed = None
        run = self.sys.worker if self.started_at is None else worker.inline
        try:
            lines = run(job)
        except worker.WorkerError as e:
            lines = e.args[1]
            if not lines:
                raise child.SpawnError(e.args[0])
            failed = e.args[0]
            if not strict:
                self.log(syslog.LOG_ERR, "after starting pid %s: %s" % (lines[0], failed))
                failed = None
        lines = lines + [""] * (4 - len(lines))
        return [int(lines[0])] + lines[1:4], failed

    # -- the machine ---------------------------------------------------------
    def dispatch(self, ev):
        name = ev[0]
        handler = TABLE.get((self.phase, name)) or TABLE.get(("*", name))
        if handler is None:
            return
        before = self.phase
        self.phase, actions = getattr(self, "on_" + handler)(ev)
        if self.debug:
            self.log(syslog.LOG_DEBUG, "%s --%s--> %s" % (before, name, self.phase))
        if self.phase != RUNNING and self.watchdog:
            self.watchdog.disarm()      # watched again from the next spawn
        for action in actions:
            follow = self.act(action)
            if follow:
                self.dispatch(follow)
        if self.phase != before and self.phase not in (RUNNING, RESTARTING):
            self.publish()      # down (backoff, stopping, over); a start publishes itself
        if self.phase == RUNNING and self.later:
            self.dispatch(self.later.pop(0))

    # Handlers: (event) -> (next phase, [actions]).  They change only the
    # machine's own memory; the world is touched by act().
    def take_exit(self, early):
        """A lean supervisor's first event, handled in part before this
        Supervisor was built (leanstart.respawn_first): its daemon reaped,
        the respawn decision taken and, without a delay, the daemon
        respawned.  The machine takes them as given (decided once, spawned
        once) and goes on from there."""
        self._reaped = self.pid
        self._early = early
        try:
            self.dispatch(("DaemonExited", early.status))
            if self.phase == BACKOFF and early.spawned:
                self.dispatch(("RespawnDue",))
        finally:
            self._early = None
            if early.pid is not None:
                # Never a daemon no one supervises (nothing above leaves
                # one, but it is what failing to take it would mean).
                child.kill_and_reap(early.take())

    def on_exited(self, ev):
        status = ev[1]
        restart = self.phase == RESTARTING      # we stopped it: a failed health check
        how = describe_status(status)
        acts = [("log", syslog.LOG_WARNING, "%s, pid %d, %s" % (self.o.exec, self.pid, how)),
                ("health_cancel",)]
        how = self._left_behind(status, how, acts)
        self.last_exit = how
        self.pid = None
        self.stopper = None
        # An unexpected exit or a health-check restart: both count as a
        # respawn, as in OpenRC (supervise-daemon.c, the respawn loop); what
        # follows is the one policy every backend applies (respawnpolicy).
        early = self._early
        if early is not None and early.decision is not None:
            # Taken by the lean supervisor before this one was built (take_exit).
            t, d, self.history = early.t, early.decision, early.history
        else:
            t = self.sys.now()
            d, self.history = respawnpolicy.decide_status(self.policy, self.history, t, status,
                                                          self.started_at, restart)
        if d.action in (respawnpolicy.RESPAWN, respawnpolicy.GIVE_UP):
            self.restarts += 1
        if d.over and restart and self.restart_why == "watchdog":
            # The kind of reason status shows (backends/base.down_kind).
            d.reason += "; the last restart was the watchdog's (no WATCHDOG=1 within %s)" \
                % convert.format_ms(self.watchdog.interval_ms)
        if d.over:
            self.down_reason = d.reason
            acts += [("log", syslog.LOG_WARNING, "%s: not respawned: %s" % (self.o.exec, d.reason)),
                     ("write", {"last_exit": how}), ("stop_leftovers",)]
            return (FAILED if d.failed else DONE), acts
        self.respawn_at = t + d.delay_ms / 1000.0
        return BACKOFF, acts

    def _left_behind(self, status, how, acts):
        """A daemon that exits 0 while its process group lives on forked
        away (no command_args_foreground): OpenRC's C supervisor respawns
        it and orphans a copy each time.  Say so once; remember the group
        so that stop stops it too."""
        if not (os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0):
            return how
        early = self._early
        # As it was at the reap (the lean supervisor's, take_exit): the pid
        # has been free since, and may lead a stranger's group by now.
        alive = early.group if early is not None and early.group is not None \
            else self.sys.group_alive(self.pid)
        if not alive:
            return how
        if not self.leftovers:
            acts.append(("log", syslog.LOG_ERR, "%s exited at once and left its process group "
                         "running: %s" % (self.o.exec, FORKED)))
        self.leftovers.append(self.pid)
        return "%s; %s" % (how, FORKED)

    def on_stopped(self, ev):
        how = describe_status(ev[1])
        acts = [("log", syslog.LOG_WARNING, "%s, pid %d, %s" % (self.o.exec, self.pid, how))]
        self._left_behind(ev[1], how, acts)
        self.last_exit = how
        self.pid = None
        self.stopper = None
        return DONE, acts + [("stop_leftovers",)]

    def on_respawn(self, ev):
        self.respawn_at = None
        return RUNNING, [("spawn",)]

    def on_spawn_failed(self, ev):
        # The command ran before; if it cannot run now (removed, made
        # non-executable) that is a failure, not a spin.
        return FAILED, [("log", syslog.LOG_ERR, "cannot respawn: %s" % ev[1]), ("stop_leftovers",)]

    def on_health_failed(self, ev):
        why = "watchdog expired" if self.restart_why == "watchdog" else "health check failed"
        return RESTARTING, [("log", syslog.LOG_WARNING, "%s, restarting pid %d"
                             % (why, self.pid)), ("stop_begin",)]

    def on_watchdog_missed(self, ev):
        # As a failed health check: `unhealthy`, then (its HealthVerdict)
        # the restart through the stop schedule.  The health state says why.
        n = self.watchdog.missed()
        self.restart_why = "watchdog"
        return RUNNING, [
            ("log", syslog.LOG_WARNING, "watchdog: no WATCHDOG=1 from pid %d within %s "
             "(miss %d); running unhealthy, then restarting it"
             % (self.pid, convert.format_ms(self.watchdog.interval_ms), n)),
            ("write", {WATCHDOG_MISSES: n, "healthcheck": "watchdog"}), ("publish",),
            ("unhealthy",)]

    def on_stop(self, ev):
        acts = [("log", syslog.LOG_INFO, "stopping (%s)" % ev[1]), ("health_cancel",)]
        if not self.stopper:            # a health restart's schedule just goes on
            acts.append(("stop_begin",))
        return STOPPING, acts

    def on_stop_idle(self, ev):
        self.respawn_at = None
        return DONE, [("log", syslog.LOG_INFO, "stopping (%s)" % ev[1]), ("health_cancel",),
                      ("stop_leftovers",)]

    def on_stop_step(self, ev):
        return self.phase, [("stop_advance",)]

    def on_control(self, ev):
        cmd = ev[1]
        if cmd[0] == "sig":
            return self.phase, [("signal", cmd[1])] if self.pid else []
        return self.phase, [("reopen",)]

    def on_logger_exited(self, ev):
        return self.phase, [("logger_exited", ev[1])]

    def on_reexec(self, ev):
        return RUNNING, [("reexec",)]

    def on_defer(self, ev):
        self.later = [ev]
        return self.phase, []

    # Actions: the only code that touches the world (through self.sys).
    def act(self, a):
        """Carry out one action; returns a follow-up event or None."""
        kind = a[0]
        if kind == "log":
            self.log(a[1], a[2])
        elif kind == "write":
            self.writer.set_many(a[1])
        elif kind == "spawn":
            try:
                self.spawn()
            except child.SpawnError as e:
                return ("SpawnFailed", str(e))
        elif kind == "signal":
            self.log(syslog.LOG_INFO, "sending signal %d to %d" % (a[1], self.pid))
            try:
                self.sys.kill(self.pid, a[1])
            except OSError as e:
                self.log(syslog.LOG_ERR, "unable to send signal %d to %d: %s"
                         % (a[1], self.pid, e.strerror))
        elif kind == "reopen":
            self.out.reopen()
        elif kind == "health_cancel":
            if self._health:
                self._health.cancel()
        elif kind == "unhealthy":
            if not self._health:
                return ("HealthVerdict", "restart")
            self._health.run_unhealthy(self.sys.now())
        elif kind == "publish":
            self.publish()
        elif kind == "stop_begin":
            self.stopper = StopSchedule(self.o.stop_schedule(), self.pid, self.o.stop_group,
                                        self._send_stop)
            self.stopper.begin(self.sys.now(), self.log)
        elif kind == "stop_advance":
            if self.stopper:
                self.stopper.advance(self.sys.now(), self.log)
        elif kind == "stop_leftovers":
            self._stop_leftovers()
        elif kind == "logger_exited":
            self.out.child_exited(a[1])
        elif kind == "reexec":
            self._reexec()
        return None

    def _send_stop(self, sig):
        """A stop signal reaches the daemon (its group with --stopgroup)
        and every group a forking daemon left behind."""
        self.sys.kill(-self.pid if self.o.stop_group else self.pid, sig)
        for pg in self.leftovers:
            try:
                self.sys.kill(-pg, sig)
            except OSError:
                pass

    def _stop_leftovers(self):
        """At the end: the stop schedule for each group still alive (they
        are not our children: run_blocking watches them)."""
        for pg in self.leftovers:
            if self.sys.group_alive(pg):
                self.log(syslog.LOG_INFO, "stopping process group %d left behind by %s"
                         % (pg, self.o.exec))
                run_blocking(self.o.stop_schedule(), pg, lambda pg=pg: self.sys.group_alive(pg),
                             group=True, send=lambda sig, pg=pg: self.sys.kill(-pg, sig),
                             log=self.log)
        self.leftovers = []

    # -- the loop: fds, signals and deadlines -> events ---------------------
    def run(self):
        poller = select.poll()
        poller.register(self.wake_r, select.POLLIN)
        poller.register(self.ctl.fd, select.POLLIN)
        watched = []
        while self.phase not in (DONE, FAILED):
            # The pipes we drain change as loggers die and come back; the
            # health check's output pipe comes and goes with each check.
            want = self.out.poll_fds()
            hfd = self._health.output_fd() if self._health else None
            if hfd is not None:
                want.append(hfd)
            nfd = self._notify_fd_polled()
            if nfd is not None:
                want.append(nfd)
            if want != watched:         # (a list in a stable order: mostly the same)
                old, new = set(watched), set(want)
                for fd in old - new:
                    poller.unregister(fd)
                for fd in new - old:
                    poller.register(fd, select.POLLIN)
                watched = want
            try:
                ready = poller.poll(self._timeout())
            except InterruptedError:
                ready = []
            for ev in self.events(ready, hfd, nfd):
                self.dispatch(ev)
                if self.phase in (DONE, FAILED):
                    break
        return 1 if self.phase == FAILED else 0

    def events(self, ready, health_fd=None, notify_fd=None):
        """What poll() reported, the children reaped and the deadlines due,
        as events (fd-level work, pumping output, is done here)."""
        evs = []
        for fd, _ in ready:
            if fd == notify_fd:
                self._read_notify()
                continue
            if fd == self.wake_r:
                evs += self._signals()
            elif fd == self.ctl.fd:
                evs += [("StopRequested", "control fifo") if c[0] == "stop" else ("Control", c)
                        for c in self.ctl.read()]
            elif fd == health_fd:
                self._health.read_output()
            else:
                self.out.pump(fd)
        evs += self._reap()
        t = self.sys.now()
        self.out.tick(t)
        if self.writer.retry_at is not None and t >= self.writer.retry_at:
            self.writer.flush()
        if self.phase == BACKOFF and self.respawn_at is not None and t >= self.respawn_at:
            evs.append(("RespawnDue",))
        if self.stopper and self.stopper.deadline is not None and t >= self.stopper.deadline:
            evs.append(("StopDeadline",))
        if self._health and self.phase == RUNNING and self._health.tick(t) == "restart" and self.pid:
            evs.append(("HealthVerdict", "restart"))
        if self.watchdog and self.phase == RUNNING and self.pid and self.watchdog.due(t):
            evs.append(("WatchdogMissed",))
        return evs

    def next_deadline(self):
        """The first timer due (monotonic), or None."""
        due = [t for t in (self.respawn_at,
                           self.stopper.deadline if self.stopper else None,
                           self._health.deadline() if self._health else None,
                           self._watchdog_wakeup(),
                           self.out.deadline(), self.writer.retry_at) if t is not None]
        return min(due) if due else None

    def _timeout(self):
        due = self.next_deadline()
        if due is None:
            return None                      # idle: sleep until something happens
        left = due - self.sys.now()
        if left <= 0:
            return 0                         # due now (a respawn without delay): no 1 ms nap
        return int(left * 1000) + 1          # never wake a hair early

    # -- the watchdog: the notify socket, kept after READY=1 ----------------
    def watch_notify(self, sock, now=None):
        """Keep reading the notify socket (a _socket.socket bound to
        NOTIFY_SOCKET) for the watchdog, from now on.  now: when READY=1
        was read (the start's readiness wait), the daemon's first keepalive."""
        from .watchdog import KEEPALIVE
        sock.setblocking(False)
        self.notify_sock = sock
        if now is not None and self.watchdog.feed(now, KEEPALIVE) and not self.checks:
            self.writer.set("healthcheck", "ok")
            self.publish()

    def _notify_fd_polled(self):
        if self.notify_sock is None:
            return None
        return self.notify_sock.fileno() if self.watchdog.polled(self.sys.now()) else None

    def _watchdog_wakeup(self):
        if self.watchdog is None:
            return None
        if self.phase != RUNNING:
            return self.watchdog.resume_at      # only the end of a flood's pause
        return self.watchdog.wakeup()

    def _read_notify(self):
        """Read what is queued on the notify socket (at most MAX_BATCH
        datagrams, at most once per Watchdog.gap), keeping nothing but the
        deadline.  Datagrams from a daemon being restarted or stopped are
        read and dropped, so that poll() never reports them again."""
        from .watchdog import MAX_BATCH, TRIGGER, parse, recv_from
        t = self.sys.now()
        wd = self.watchdog
        if not wd.may_read(t):
            return
        found = None
        for _ in range(MAX_BATCH):
            try:
                data = recv_from(self.notify_sock, self.pid)
            except OSError:             # EAGAIN: all read; anything else: next time
                break
            if data is None:
                continue                # not the daemon's own: dropped
            what = parse(data)
            if what == TRIGGER or found is None:
                found = what if what else found
        if wd.feed(t, found) and not self.checks:
            self.writer.set("healthcheck", "ok")
            self.publish()

    def _signals(self):
        try:
            data = os.read(self.wake_r, 512)
        except BlockingIOError:
            return []
        evs = []
        for sig in data:
            if sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
                evs.append(("StopRequested", "signal %s" % convert.signal_name(sig)))
            elif sig == signal.SIGHUP:
                evs.append(("Reexec",))
            elif sig == signal.SIGUSR1:
                evs.append(("Control", ("reopen",)))
        return evs

    def _reap(self):
        evs = []
        while True:
            try:
                pid, status = self.sys.waitpid()
            except ChildProcessError:
                return evs
            except InterruptedError:
                continue
            if pid == 0:
                return evs
            if pid == self.pid:
                self._reaped = pid      # its pid is free: see _respawned
                evs.append(("DaemonExited", status))
            elif self._health and self._health.owns(pid):
                self._health.exited(pid, status, self.sys.now())
            else:
                evs.append(("LoggerExited", pid))

    def _reexec(self):
        """SIGHUP / --reexec: replace this process with a fresh supervisor,
        keeping the daemon (our child: its pid survives exec)."""
        self.log(syslog.LOG_WARNING, "re-executing the supervisor, daemon pid %d kept" % self.pid)
        self.writer.flush()             # values held in a crash loop: the new one has no copy
        for fd in self.out.inheritable_fds() + [self.ctl.fd, self.ctl.keep_fd]:
            os.set_inheritable(fd, True)
        from . import handoff
        os.environ[handoff.ENV] = handoff.encode(
            self.pid, (self.ctl.fd, self.ctl.keep_fd), self.out.export(), self.restarts)
        os.environ["RC_SVCNAME"] = self.o.svcname
        signal.set_wakeup_fd(-1)
        from .launcher import argv as launcher_argv
        argv = launcher_argv() + reexec_args(list(self.o.raw_argv), self.o.rules)
        try:
            os.execv(argv[0], argv)
        except OSError as e:
            self.log(syslog.LOG_ERR, "unable to re-execute: %s; carrying on" % e.strerror)
            self.install_signals()


class _WatchdogEnv:
    """The daemon's extra environment with systemd's watchdog variables:
    WATCHDOG_USEC, and WATCHDOG_PID, which libsystemd's sd_watchdog_enabled()
    compares with getpid() (a wrong one switches the watchdog off in the
    daemon).  child.spawn merges it into the environment (dict(env, **this))
    in the forked child just before the exec, where os.getpid() is the
    daemon's pid: hence a mapping that reads it when asked, and no
    posix_spawn with a watchdog (Supervisor.fast)."""

    def __init__(self, base, usec):
        self.base = dict(base, WATCHDOG_USEC=str(usec))

    def keys(self):
        return list(self.base) + ["WATCHDOG_PID"]

    def __getitem__(self, key):
        return str(os.getpid()) if key == "WATCHDOG_PID" else self.base[key]


def _encode_env(env):
    # One report line: marshal (a builtin: nothing to import, C code to
    # read it back) in hex, since values may hold newlines.
    return marshal.dumps(env).hex()


def _decode_env(text):
    return marshal.loads(bytes.fromhex(text))


def reexec_args(args, rules=None):
    """The original command line plus --reexec, as an option (before any
    `--`), leaving the daemon's own arguments untouched; and --compat with
    the rule set chosen at the start, so that a re-exec never chooses again
    (an OpenRC upgraded or a pin edited since must not change the rules of
    a running supervisor, nor a pin mistyped since stop it)."""
    own = ["--reexec"] + (["--compat", rules.name] if rules is not None else [])
    return args[:1] + own + args[1:]


def describe_status(status):
    if os.WIFSIGNALED(status):
        return "signal %s" % convert.signal_name(os.WTERMSIG(status))
    return "exit %d" % os.WEXITSTATUS(status)


# The signals a supervisor handles (through its wakeup pipe).
HANDLED = (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1,
           signal.SIGQUIT)


def install_signals(wake_w):
    """The supervisor's signals, each a byte on wake_w for the loop (the
    fork server installs them once for the lean supervisors it forks,
    which inherit them: leanstart)."""
    signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
    for s in HANDLED:
        signal.signal(s, _noop)
    # A logger that went away must not kill the supervisor.
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)


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
