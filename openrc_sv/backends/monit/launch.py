"""The programs monit runs for a monit_type=simple service.

monit watches a process through a pidfile and starts and stops it by
running programs; it cannot keep a foreground daemon as its child.  The
service's control script (render.py) runs this module as

    python -I -m openrc_sv.backends.monit.launch ACTION [--OPTION VALUE]... \\
        -- SVCNAME [supervise-daemon options] -- COMMAND ARGS...

The part after the first `--` is exactly what the native backend passes to
supervise-daemon (openrc_sv.backends.options.start_options), parsed by the
same parser (openrc_sv.sd_args) and applied by the same code
(openrc_sv.child): one vocabulary for every backend.  Our own options:

  --script FILE   the init script ($RC_SERVICE), for healthcheck/unhealthy
  --state DIR     our private state (root's, mode 0700), see below
  --svcdir DIR    OpenRC's $RC_SVCDIR (child_pid, the stopped/failed marks)
  --monit CMD, --monit-conf FILE   how to reach monit (to give up)
  --environ NAME=VALUE   (repeated) the environment the daemon starts
                  with: the one of the openrc-run that started the service
                  (conf.d's exports among it), not monit's

Actions:

  start        start COMMAND detached (own session; child of init once we
               exit) and record it; exit 0.  If it cannot be executed, or
               --pidfile cannot be written, say why (also in last-error)
               and exit 1, leaving no process.  Every start but the first
               is a respawn: it counts against respawn_max within
               respawn_period (the service then gives up: OpenRC's state
               becomes stopped + failed, monit stops watching it) and
               first waits respawn_delay (a stop interrupts that wait).
  stop         run the stop schedule (--retry) against the daemon.
  healthcheck  run `$RC_SERVICE healthcheck` (openrc_sv.healthrun); on
               failure run `unhealthy` once and stop the daemon, which monit
               then restarts as a respawn, as supervise-daemon does.

Security: the daemon is known only by the identity recorded in --state
(`ident`: pid and start time).  Nothing here reads a pidfile to decide
what to signal: --pidfile (the user-visible pidfile= of the init script,
often in a directory the daemon's user owns) is only written, and the
pidfile monit watches is `pid` in the private state directory.

Respawns follow openrc_sv.respawnpolicy, as on every backend, except for
what needs the daemon's exit status (respawn_on, respawn_stop_status,
refused by render.py): monit restarts a daemon that exited long before,
as a child of init, and its status is lost.  How long the daemon stayed up
(respawn_reset_after) is measured up to the start monit asks for, so it
may count up to one monit cycle too long.

State files (--state): ident, pid, starts (how many starts), deaths (the
respawn history: "FIRST COUNT TOTAL LEVEL SPAWNED", respawnpolicy.History
and when the last daemon was spawned, in ms on the monotonic clock),
last-error, gave-up, starting (the identity
of a start waiting out respawn_delay), stopping (a stop is under way:
start nothing), health (the last health result).
"""

import os
import signal
import sys
import time

from ... import child, convert, procinfo, respawnpolicy, sd_args, useropen
from ...errors import UserError
from ...rcstate import ServiceState, libexecdir, write_atomic
from ...statekeys import DOWN_REASON

PROG = "openrc-sv monit launcher"
ACTIONS = ("start", "stop", "healthcheck")
OWN = ("script", "state", "svcdir", "monit", "monit-conf")
MULTI = ("environ",)


class Launch:
    """The parsed command line: own options and supervise-daemon's."""

    def __init__(self, action, own, environ, sd):
        self.action = action
        self.own = own
        self.environ = environ
        self.sd = sd
        self.state = own["state"]
        self.svc = sd.svcname

    def path(self, name):
        return os.path.join(self.state, name)


def parse(argv):
    """ACTION --key value ... -- SVCNAME OPTIONS -- COMMAND ARGS -> Launch."""
    if not argv or argv[0] not in ACTIONS:
        raise UserError("usage: launch {%s} [--OPTION VALUE]... -- SVCNAME [OPTIONS] "
                        "-- COMMAND [ARGS]..." % "|".join(ACTIONS))
    action, rest, own, environ = argv[0], argv[1:], {}, []
    while rest and rest[0] != "--":
        key = rest[0][2:] if rest[0].startswith("--") else None
        if key not in OWN + MULTI or len(rest) < 2:
            raise UserError("unknown option or missing value: %r" % rest[0])
        if key in MULTI:
            environ.append(rest[1])
        else:
            own[key] = rest[1]
        rest = rest[2:]
    for key in ("script", "state"):
        if key not in own:
            raise UserError("--%s is required" % key)
    tail = rest[1:]
    if not tail:
        raise UserError("no service name after --")
    sd = sd_args.parse([tail[0], "--start"] + tail[1:], {"RC_SVCNAME": tail[0]})
    refuse(sd)
    return Launch(action, own, environ, sd)


def refuse(sd):
    """What this backend cannot carry (also said by render.py, for the
    variables; this catches the options in supervise_daemon_args)."""
    respawnpolicy.refuse_status_policy(respawnpolicy.Settings.of(sd), "monit")


def _read_text(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def _read_int(path):
    try:
        return int((_read_text(path) or "").split()[0])
    except (ValueError, IndexError):
        return None


def _unlink(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def daemon_ident(state):
    """The recorded identity 'PID:TICKS' of the daemon, if it still runs."""
    ident = (_read_text(os.path.join(state, "ident")) or "").strip()
    return ident if procinfo.same_process(ident) else None


def daemon_pid(state):
    """The daemon's pid, only if the process we started is still running."""
    ident = daemon_ident(state)
    return int(ident.split(":")[0]) if ident else None


def _rc(l):
    return ServiceState(l.svc, l.own.get("svcdir") or None)


def _set_child_pid(l, pid):
    try:
        _rc(l).set("child_pid", pid)
    except OSError:
        pass


# -- start -----------------------------------------------------------------

def _stdio(l, setup, null):
    """(stdin, stdout, stderr) for the daemon, opened as its user, starting
    the loggers if any."""
    o = l.sd
    who = useropen.Who.of(setup)

    def open_(var, path, flags):
        return useropen.open_named(var, who, path, flags)

    stdin = open_("input_file", o.stdin, useropen.READ) if o.stdin else null
    out = []
    for var, path, logger in (("output_log", o.stdout, o.stdout_logger),
                              ("error_log", o.stderr, o.stderr_logger)):
        if path:
            out.append(open_(var, path, useropen.WRITE))
        elif logger:
            # Like OpenRC: `sh -c CMD` reading a pipe, as the daemon's user;
            # it sees end of file and exits when the daemon is gone.
            r, w = os.pipe2(os.O_CLOEXEC)
            child.spawn(setup, ["/bin/sh", "-c", logger], (r, null, null))
            os.close(r)
            out.append(w)
        else:
            out.append(null)
    return stdin, out[0], out[1]


def _setup(l):
    # The daemon's environment is the caller's (--environ), cleaned by
    # child.Setup exactly as under supervise-daemon; monit's own
    # (MONIT_* ...) is not the daemon's business.
    os.environ.clear()
    for item in l.environ:
        name, _, value = item.partition("=")
        if name:
            os.environ[name] = value
    return child.Setup(l.sd, libexecdir())


def _start_later(l, starts, delay_ms):
    """Wait out respawn_delay in a detached starter, so that monit (which
    blocks on its start program, and then waits for the pid it watches)
    is free meanwhile: a stop is then acted on at once.  monit watches the
    starter's pid until the daemon's replaces it; the starter is known as
    `starting` (its identity), never as the daemon: signal and reload do
    not reach it, stop ends it (SIGTERM)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:                                     # pragma: no cover (child)
        code = 1
        try:
            os.close(w)
            os.read(r, 1)               # until the parent has recorded us
            os.close(r)
            os.setsid()
            null = os.open("/dev/null", os.O_RDWR)
            for fd in (0, 1, 2):        # monit reads its program's output to EOF
                os.dup2(null, fd)
            os.close(null)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            # monit starts its programs with every signal blocked.
            signal.pthread_sigmask(signal.SIG_SETMASK, set())
            time.sleep(delay_ms / 1000.0)
            # A stop from here on waits for the short rest of the start.
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
            if not os.path.exists(l.path("stopping")):
                _spawn(l, starts)
                code = 0
        except BaseException:
            pass
        finally:
            os._exit(code)
    os.close(r)
    try:
        ident = procinfo.identity(pid) or "%d:0" % pid
        write_atomic(l.path("starting"), ident + "\n", 0o600)
        write_atomic(l.path("pid"), "%d\n" % pid, 0o600)
    finally:
        os.close(w)
    return 0


def end_starter(state):
    """Stop a starter waiting out respawn_delay, if one is."""
    ident = (_read_text(os.path.join(state, "starting")) or "").strip()
    if procinfo.same_process(ident):
        from ...stopper import run_blocking
        run_blocking([("signal", signal.SIGTERM), ("timeout", 10000)], int(ident.split(":")[0]),
                     lambda: procinfo.same_process(ident))
    _unlink(os.path.join(state, "starting"))


def _now_ms():
    return int(time.monotonic() * 1000)


def _history(l):
    """(respawnpolicy.History, when the last daemon was spawned or None)."""
    words = (_read_text(l.path("deaths")) or "").split()
    if len(words) == 5 and all(w.isdigit() for w in words):
        n = [int(w) for w in words]
        return respawnpolicy.History(*n[:4]), n[4]
    return respawnpolicy.History(), None


def _save_history(l, h, spawned):
    write_atomic(l.path("deaths"), "%d %d %d %d %d\n" % (h.astuple() + (spawned or 0,)), 0o600)


def _respawn(l):
    """This start is a respawn: respawnpolicy's Decision, its history kept."""
    h, spawned = _history(l)
    now = _now_ms()
    uptime = now - spawned if spawned else None
    decision, h = respawnpolicy.decide(respawnpolicy.Settings.of(l.sd), h, now,
                                       uptime_ms=uptime)
    _save_history(l, h, spawned)
    return decision


def _give_up(l, decision):
    o = l.sd
    msg = "respawned \"%s\" too many times, giving up: %s" % (o.exec, decision.reason)
    # What supervise-daemon leaves when it gives up: stopped, failed.
    # OpenRC's state first: `rc-service status` must never see a started
    # service whose backend already says failed.
    st = _rc(l)
    try:
        st.gave_up()
        st.set(DOWN_REASON, decision.reason)
    except OSError:
        pass
    write_atomic(l.path("gave-up"), msg + "\n", 0o600)
    _publish(l, failed=True)
    try:
        import syslog
        syslog.openlog("openrc-sv", 0, syslog.LOG_DAEMON)
        syslog.syslog(syslog.LOG_WARNING, "%s: %s" % (l.svc, decision.reason))
    except OSError:
        pass
    # monit stops watching (it would run us again every cycle).  Asked
    # from a detached child: monit answers its command line only once
    # this start program has returned.
    if os.fork() == 0:                               # pragma: no cover (child)
        try:
            os.setsid()
            null = os.open("/dev/null", os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            conf = l.own.get("monit-conf")
            cmd = l.own.get("monit") or "monit"
            os.execvp(cmd, [cmd] + (["-c", conf] if conf else []) + ["-B", "unmonitor", l.svc])
        finally:
            os._exit(0)
    return msg


def recorded_health(state, started_at):
    """The current daemon's health from the launcher's last result in
    STATE/health: pending until its first check (a result older than the
    daemon, started_at, is its predecessor's).  None when it cannot be
    read (not root).  Status and the textfile both say it this way."""
    from ... import healthrun
    from ..base import health_of
    path = os.path.join(state, "health")
    try:
        with open(path) as f:
            result = healthrun.HEALTH_OF.get(f.read().strip(), "unknown")
        checked_at = os.stat(path).st_mtime
    except FileNotFoundError:
        result, checked_at = None, None
    except OSError:
        return None
    return health_of(result, checked_at, started_at)


def _publish(l, failed=False):
    """The service's textfile for node_exporter (promfile), when the
    administrator asked for one: at each start, health result and give-up,
    never on a timer.  Read from our own state files, as status reads them."""
    from ... import promfile, promvalues
    pub = promfile.Publisher.configured(l.svc, "monit")
    if pub is None:
        return
    from ... import healthrun
    ident = daemon_ident(l.state)
    pid = int(ident.split(":")[0]) if ident and procinfo.same_process(ident) else None
    uptime = procinfo.uptime_of(pid) if pid else None
    started_at = time.time() - uptime if uptime is not None else None
    health = None
    checked = l.sd.healthcheck_timer_ms or os.path.exists(l.path("health"))
    if checked and pid:
        health = recorded_health(l.state, started_at)
    counts = healthrun.Counts(l.state)
    starts = _read_int(l.path("starts")) or 0
    pub.publish(promvalues.values(pid is not None, failed, started_at, max(0, starts - 1),
                                health=health, health_runs=counts.runs,
                                health_failures=counts.failures))
    if pub.complaint:
        sys.stderr.write("openrc-sv monit launcher: %s\n" % pub.complaint)


def _fail(l, msg):
    write_atomic(l.path("last-error"), msg + "\n", 0o600)
    raise UserError(msg)


def _write_pidfiles(l, pid):
    write_atomic(l.path("pid"), "%d\n" % pid, 0o600)
    if l.sd.pidfile:
        # The init script's pidfile=, for whoever reads it.  Never read
        # back: its directory may belong to the daemon's user.
        try:
            write_atomic(l.sd.pidfile, "%d\n" % pid)
        except OSError as e:
            return "pidfile: cannot write '%s': %s" % (l.sd.pidfile, e.strerror or e)
    return None


def start(l):
    if os.path.exists(l.path("gave-up")) or os.path.exists(l.path("stopping")):
        raise UserError((_read_text(l.path("gave-up")) or "the service is stopping").strip())
    ident = daemon_ident(l.state)
    if ident:
        # Our daemon still runs (monit lost sight of it): no second copy.
        _write_pidfiles(l, int(ident.split(":")[0]))
        return 0
    starting = (_read_text(l.path("starting")) or "").strip()
    if procinfo.same_process(starting):
        # A respawn is waiting out respawn_delay: monit lost its pid.
        write_atomic(l.path("pid"), starting.split(":")[0] + "\n", 0o600)
        return 0
    starts = _read_int(l.path("starts")) or 0
    if starts:
        decision = _respawn(l)
        if decision.over:
            raise UserError(_give_up(l, decision))
        if decision.delay_ms:
            return _start_later(l, starts, decision.delay_ms)
    else:
        try:
            # Why an earlier run of the service ended is history now.
            _rc(l).set(DOWN_REASON, None)
        except OSError:
            pass
    _spawn(l, starts)
    return 0


def _spawn(l, starts):
    """Start the daemon and record it; UserError (also in last-error) if
    it cannot be done, with nothing left running."""
    try:
        if not l.sd.exec:
            raise UserError("no command to run")
        setup = _setup(l)
        null = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
        pid = child.spawn(setup, [l.sd.exec] + list(l.sd.args), _stdio(l, setup, null))
    except Exception as e:      # whatever it is, start() must be able to say it
        msg = e.message if isinstance(e, UserError) else (
            "%s: %s" % (e.filename, e.strerror) if isinstance(e, OSError) and e.filename
            else str(e) if isinstance(e, (OSError, child.SpawnError)) else repr(e))
        _fail(l, msg)
    write_atomic(l.path("ident"), (procinfo.identity(pid) or str(pid)) + "\n", 0o600)
    error = _write_pidfiles(l, pid)
    if error:
        # A start that cannot do all it must leaves nothing running.
        stop_daemon(l.state, [("signal", signal.SIGKILL), ("timeout", 5000)])
        _unlink(l.path("pid"))
        _fail(l, error)
    write_atomic(l.path("starts"), "%d\n" % (starts + 1), 0o600)
    h, _ = _history(l)
    _save_history(l, h, _now_ms())     # for respawn_reset_after
    _unlink(l.path("last-error"))
    _unlink(l.path("starting"))
    _set_child_pid(l, pid)
    _publish(l)


# -- stop ------------------------------------------------------------------

def stop_daemon(state, steps, group=False):
    """Run the stop schedule against the daemon we started (identity
    checked at every step); True once it is gone."""
    from ...stopper import run_blocking
    ident = daemon_ident(state)
    if ident is not None:
        pid = int(ident.split(":")[0])
        if not run_blocking(steps, pid, lambda: procinfo.same_process(ident), group):
            return False
    _unlink(os.path.join(state, "pid"))
    _unlink(os.path.join(state, "ident"))
    return True


def stop(l):
    end_starter(l.state)
    pid = daemon_pid(l.state)
    if not stop_daemon(l.state, l.sd.stop_schedule(), l.sd.stop_group):
        raise UserError("the daemon (pid %s) survived the stop schedule %s"
                        % (pid, convert.format_schedule(l.sd.stop_schedule())))
    _set_child_pid(l, None)
    return 0


# -- health ----------------------------------------------------------------

def _checked_since(l, started_at):
    try:
        return os.stat(l.path("health")).st_mtime >= started_at
    except OSError:
        return False


def healthcheck(l):
    from ... import healthrun
    pid = daemon_pid(l.state)
    if pid is None or os.path.exists(l.path("stopping")):
        return 0          # no daemon: the process check restarts it
    o = l.sd
    uptime = procinfo.uptime_of(pid) or 0.0
    if o.healthcheck_delay_ms and uptime < o.healthcheck_delay_ms / 1000.0:
        return 0
    if not o.healthcheck_timer_ms and _checked_since(l, time.time() - uptime):
        # healthcheck_delay alone: one check per daemon, as OpenRC's
        # supervise-daemon (monit runs us every delay's cycles).
        return 0
    timeout = (o.healthcheck_timeout_ms or o.healthcheck_timer_ms or 30000) / 1000.0
    result, detail = healthrun.run(l.own["script"], "healthcheck", timeout)
    write_atomic(l.path("health"), result + "\n", 0o600)
    healthrun.Counts(l.state).add(result)
    _publish(l)
    if result in (healthrun.PASSED, healthrun.HIDDEN):
        # A hidden healthcheck (extra_commands without it) is no failure.
        return 0
    sys.stdout.write(detail + "\n")
    # As supervise-daemon: unhealthy() once, then the daemon is stopped
    # and monit's process check starts it again (a respawn).
    healthrun.run(l.own["script"], "unhealthy", timeout)
    stop_daemon(l.state, o.stop_schedule(), o.stop_group)
    return 1


_ACTIONS = {"start": start, "stop": stop, "healthcheck": healthcheck}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    try:
        l = parse(argv)
        return _ACTIONS[l.action](l)
    except UserError as e:
        sys.stderr.write("%s: fatal: %s\n" % (PROG, e.message))
        return 1


if __name__ == "__main__":
    sys.exit(main())
