"""supervise-daemon: a drop-in for OpenRC's, in Python.

    supervise-daemon SVC --start [options] CMD [--] [ARGS]   start and supervise
    supervise-daemon SVC --stop                              stop both
    supervise-daemon SVC --signal SIG                        signal the daemon

`--start` validates everything first (bad input never leaves a process or
a file behind), then forks the supervisor, which forks and execs the
daemon and reports back through a pipe: the exec error of a command that
cannot run, or a readiness timeout, makes `--start` fail.

The supervisor is this same process after fork, so only what it needs is
imported at module level.
"""

import os
import sys

from . import procinfo, rcstate, records, sd_args
from .errors import UserError
from .rcstate import ServiceState, write_atomic

PROG = "supervise-daemon"


def main(argv=None, in_child=None):
    """in_child(): called first thing in the supervisor `--start` forks
    itself (the native backend, which runs us in its own process, gives
    the supervisor its stderr and command line back there)."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        opts = sd_args.parse(argv)
        if opts.user_mode:
            # As librc's rc_set_user(): the supervisor, a fork server it asks,
            # a re-executed supervisor and the daemon all see user mode.
            os.environ["RC_USER_SERVICES"] = "yes"
        if opts.mode == "start":
            return start(opts, in_child)
        if opts.mode == "stop":
            return stop(opts)
        if opts.mode == "signal":
            return send_signal(opts)
        return reexec(opts)
    except UserError as e:
        if e.exit_code == 0:
            print(e.message)
            return 0
        sys.stderr.write(" * %s: %s\n" % (PROG, e.message))
        return e.exit_code
    except OSError as e:
        # A state directory that is not one, a full /run, a non-root user:
        # one line, never a traceback.
        where = (" %s:" % e.filename) if e.filename else ""
        hint = " (supervise-daemon must run as root, or in user mode: -U)" \
            if e.errno in (1, 13) and os.geteuid() != 0 and not rcstate.user_mode() else ""
        sys.stderr.write(" * %s:%s %s%s\n" % (PROG, where, e.strerror or e, hint))
        return 1
    except KeyboardInterrupt:
        return 130


def default_pidfile(svc):
    """OpenRC's default: /var/run/supervise-SVC.pid, and in user mode
    $XDG_RUNTIME_DIR/supervise-SVC.pid (supervise-daemon.c, 0.60 to
    master), where that user can write it and where it cannot collide with
    a system service's.  Where OpenRC would have no answer (user mode
    without XDG_RUNTIME_DIR, or a non-root caller outside user mode, which
    cannot write /var/run), the service dir."""
    name = "supervise-%s.pid" % svc
    if rcstate.user_mode() and os.environ.get("XDG_RUNTIME_DIR"):
        return os.path.join(os.environ["XDG_RUNTIME_DIR"], name)
    if rcstate.user_mode() or os.geteuid() != 0:
        return os.path.join(rcstate.svcdir(), name)
    return "/var/run/" + name


# -- start ---------------------------------------------------------------

def supervisor_alive(st, pidfile):
    """The pid of the running supervisor for this service, or None.

    The pidfile alone is not trusted: its pid may have been reused since a
    supervisor died, so it must be a supervise-daemon for this service
    (ours records its identity, in options/SVC and in a record that zap and
    a wiped /run/openrc leave; OpenRC's is recognised by its command line).
    """
    ident = st.get("supervisor_ident")
    if ident and procinfo.same_process(ident):
        return int(ident.split(":", 1)[0])
    rec = records.read_record(st)
    if rec and procinfo.same_process(rec[0]):
        return int(rec[0].split(":", 1)[0])
    pid = procinfo.read_pidfile(pidfile)
    if not pid or pid <= 1 or not procinfo.alive(pid):
        return None
    # OpenRC's: [supervise-daemon, SVC, ...]; ours: [python, -I, -S, .../supervise-daemon, SVC, ...]
    cmd = procinfo.cmdline(pid)
    for i, a in enumerate(cmd[:4]):
        if a.endswith("supervise-daemon") and cmd[i + 1:i + 2] == [st.name]:
            return pid
    return None


def start(opts, in_child=None):
    st = ServiceState(opts.svcname)
    from .command import resolve
    resolve(opts.exec, opts.chroot, what=PROG)
    pidfile = opts.pidfile or default_pidfile(opts.svcname)
    # (inside a chroot the path is the daemon's: the open as its user says)
    if opts.stdin and not opts.chroot and not os.access(opts.stdin, os.R_OK):
        raise UserError("--stdin: cannot read '%s'" % opts.stdin)
    for flag, path in (("--stdout", opts.stdout), ("--stderr", opts.stderr)):
        if path:
            d = os.path.dirname((opts.chroot or "").rstrip("/") + path) or "."
            if not os.path.isdir(d):
                raise UserError("%s: cannot open '%s': directory '%s' does not exist"
                                % (flag, path, d))
    # One start at a time per service: the check that none runs and the
    # claim (pidfile, state, the supervisor's report) are one step.
    with records.ServiceLock(st) as lock:
        return _start_locked(opts, st, pidfile, lock, in_child)


def respawn_warnings(opts):
    """What OpenRC's binary warns about at --start, with its words, under
    the rules of the OpenRC in use: a period too short for respawn_max
    delays (before 0.62 a period of 0, the lifetime, warns too, as 0.45
    does), and (0.62+) a delay above the cap the step grows it to."""
    out = []
    o = opts
    current = o.rules is not None and o.rules.raw_strings
    if current:
        if o.respawn_period_ms > 0 and o.respawn_delay_ms * o.respawn_max > o.respawn_period_ms:
            out.append("Please increase the value of --respawn-period to more than %d to "
                       "avoid infinite respawning" % ((o.respawn_delay_ms * o.respawn_max + 500)
                                                      // 1000))
        if o.respawn_delay_step_ms > 0 and o.respawn_delay_ms > o.respawn_delay_cap_ms:
            out.append("Please increase the value of --respawn-delay (%dms) to more than "
                       "--respawn-delay-cap (%dms)" % (o.respawn_delay_ms, o.respawn_delay_cap_ms))
    elif (o.respawn_delay_ms // 1000) * o.respawn_max > o.respawn_period_ms // 1000:
        out.append("Please increase the value of --respawn-period to more than %d to avoid "
                   "infinite respawning" % ((o.respawn_delay_ms // 1000) * o.respawn_max))
    return out


def _start_locked(opts, st, pidfile, lock, in_child=None):
    pid = supervisor_alive(st, pidfile)
    if pid:
        rec = records.read_record(st)
        if (not st.get("supervisor_ident") and rec and rec[0].startswith("%d:" % pid)
                and rec[2] == opts.argv):
            return _adopt(opts, st, rec)
        raise UserError("%s is already running (supervisor pid %d)" % (opts.exec, pid))
    for warning in respawn_warnings(opts):
        sys.stderr.write(" * %s: %s\n" % (opts.svcname, warning))
    from . import orphans
    orphans.stop_orphan(st, opts.stop_schedule(), say=_say)

    written = []
    fifo = st.fifo_path()
    try:
        _claim_pidfile(pidfile)
        written.append(pidfile)
        _make_fifo(fifo)
        written.append(fifo)
        values = _start_values(opts, pidfile)
        st.set_many(values)
        keys = list(values)
        return _fork_supervisor(opts, st, pidfile, fifo, keys, written, lock, in_child)
    except BaseException:
        _undo(st, written, locals().get("keys", []))
        raise


def _start_values(opts, pidfile):
    """The options/SVC keys `--start` writes (the supervisor adds its own)."""
    from .statekeys import start_values
    return start_values(opts, pidfile)


def _adopt(opts, st, rec):
    """OpenRC's state for the service was lost (`rc-service SVC zap`, a wiped
    /run/openrc) while its supervisor kept running the same command: start
    takes that supervisor back instead of starting a second daemon, so that
    OpenRC sees the service started and a stop stops it."""
    sup_ident, pidfile, argv = rec
    sup = int(sup_ident.split(":", 1)[0])
    from . import orphans
    values = _start_values(opts, pidfile)
    values["supervisor_ident"] = sup_ident
    kids = orphans.find_daemons(argv, int(sup_ident.split(":", 1)[1]), parent=sup)
    if kids:
        values["child_ident"] = kids[0]
        values["child_pid"] = kids[0].split(":", 1)[0]
    if procinfo.read_pidfile(pidfile) != sup:
        _claim_pidfile(pidfile)
        records.write_pidfile(pidfile, sup)
    st.set_many(values)
    st.daemon_set(opts.exec, opts.argv, pidfile, True)
    _say("%s: OpenRC's state for it was lost; its supervisor (pid %d) still runs it: "
         "taken back, not started again" % (opts.svcname, sup))
    return 0


def _claim_pidfile(path):
    """Check that the pidfile can be written, without opening it: the path
    may be in a directory the daemon's user owns, and root must not open
    an inode that user planted there (a FIFO, a hard link to root's file).
    write_pidfile() replaces it by rename, never writes into it."""
    import stat
    d = os.path.dirname(path) or "."
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise UserError("--pidfile: cannot write '%s': %s" % (path, e.strerror))
    if st is not None and stat.S_ISLNK(st.st_mode):
        raise UserError("--pidfile: '%s' is a symbolic link; refusing to write through it" % path)
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise UserError("--pidfile: '%s' exists and is not a regular file; remove it" % path)
    if not os.path.isdir(d):
        raise UserError("--pidfile: cannot write '%s': no directory %s" % (path, d))
    if not os.access(d, os.W_OK):
        raise UserError("--pidfile: cannot write '%s': %s is not writable" % (path, d))


def _make_fifo(path):
    import stat
    try:
        os.mkfifo(path, 0o600)
    except FileExistsError:
        st = os.lstat(path)
        if not stat.S_ISFIFO(st.st_mode):
            raise UserError("control fifo %s exists and is not a fifo: remove it" % path)
    except OSError as e:
        raise UserError("unable to create control fifo %s: %s" % (path, e.strerror))
    os.chmod(path, 0o600)
    os.chown(path, os.geteuid(), os.getegid())


def _undo(st, paths, keys):
    for p in paths:
        try:
            os.unlink(p)
        except OSError:
            pass
    for k in keys:
        st.set(k, None)


def _fork_supervisor(opts, st, pidfile, fifo, keys, written, lock=None, in_child=None):
    r, w = os.pipe2(os.O_CLOEXEC)
    sys.stdout.flush()
    sys.stderr.flush()
    from . import forkserver_client
    argv = [PROG] + list(opts.raw_argv)
    if not forkserver_client.request(argv, w, keys, written):
        # No fork server: fork the supervisor ourselves (heavier: it keeps
        # this whole interpreter to itself).
        pid = os.fork()
        if pid == 0:
            # Never back into the caller's code (the plugin's command runs
            # us in-process): whatever is raised before run_supervisor's
            # own handling ends this child; the parent reads no "OK".
            try:
                if in_child is not None:
                    in_child()
                os.close(r)
                if lock is not None:
                    lock.close_in_child()
                from . import daemonize
                # This process's pages are all its own once we exit: workers
                # would save it nothing (see worker.py).
                daemonize.run_supervisor(opts, st, pidfile, w, keys, written,
                                         workers=False)   # never returns
            finally:
                os._exit(1)
    os.close(w)
    message = _read_report(r, opts)
    if message == "OK":
        return 0
    _undo(st, written, keys)
    records.forget_record(st)
    raise UserError(message or "the supervisor died while starting %s" % opts.exec)


def _read_report(fd, opts):
    """What the supervisor says about the start: "OK", or why it failed."""
    import select
    timeout = (opts.notify_timeout_ms + 30000) if opts.notify else 60000
    chunks = []
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    while True:
        if not poller.poll(timeout):
            os.close(fd)
            return "no word from the supervisor after %ds" % (timeout // 1000)
        data = os.read(fd, 4096)
        if not data:
            break
        chunks.append(data)
    os.close(fd)
    return b"".join(chunks).decode(errors="replace").strip()


# -- stop ------------------------------------------------------------------

def stop(opts):
    st = ServiceState(opts.svcname)
    with records.ServiceLock(st):
        return _stop_locked(opts, st)


def _stop_locked(opts, st):
    pidfile = opts.pidfile or st.get("pidfile") or default_pidfile(opts.svcname)
    schedule = _stored_schedule(st, opts)
    pid = supervisor_alive(st, pidfile)
    if pid:
        from . import orphans
        os.kill(pid, 15)
        # The supervisor runs the stop schedule; give it that long and a
        # margin, then take over: a stop must never hang (OpenRC's polls
        # kill(pid, 0) forever when its supervisor is stuck).
        # `forever` means what it says everywhere (see convert.retry_schedule):
        # the supervisor repeats, or waits, until the daemon is gone.
        limit = (float("inf") if orphans.has_forever(schedule)
                 else sum(v for k, v in schedule if k == "timeout") / 1000.0 + 10)
        if not orphans.wait_gone(pid, limit):
            _say("the supervisor (pid %d) did not stop within %ds; killing it" % (pid, limit))
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
            orphans.wait_gone(pid, 5)
    from . import orphans
    orphans.stop_orphan(st, schedule, say=_say)
    # A supervisor that died (or was killed above) leaves these behind.
    for path in (pidfile, st.fifo_path(), st.notify_socket_path()):
        try:
            os.unlink(path)
        except OSError:
            pass
    argv = [opts.exec] + opts.args if opts.exec else None
    st.daemon_set(st.get("exec") or opts.exec, argv, pidfile, False)
    st.mark("stopped")
    records.forget_record(st)
    return 0


def _stored_schedule(st, opts):
    if opts.retry is not None:
        return opts.retry
    text = st.get("retry")
    if text:
        from .convert import retry_schedule
        try:
            return retry_schedule("retry", text)
        except UserError:
            pass
    return opts.stop_schedule()


def _say(msg):
    sys.stderr.write(" * %s: %s\n" % (PROG, msg))


# -- signal ------------------------------------------------------------------

def send_signal(opts):
    import stat
    from . import trust
    st = ServiceState(opts.svcname)
    path = st.fifo_path()
    # The fifo is ours only in a service dir nobody else can change, and
    # only if it is a FIFO of the caller's: a link or file planted there
    # (e.g. in a user's $XDG_RUNTIME_DIR/openrc when root runs -U) would
    # have root write "sig N" into whatever it names.
    trust.require_service_dir(st.root)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as e:
        raise UserError("no supervisor is listening on %s (%s): is %s started?"
                        % (path, e.strerror, opts.svcname))
    try:
        info = os.fstat(fd)
        if not stat.S_ISFIFO(info.st_mode) or info.st_uid != os.geteuid():
            raise UserError("%s is not the control fifo of a supervisor of yours: "
                            "refusing to write to it" % path)
        os.write(fd, b"sig %d" % opts.signal)
    except OSError as e:
        raise UserError("error writing to control fifo %s: %s" % (path, e.strerror))
    finally:
        os.close(fd)
    return 0


# -- reexec ----------------------------------------------------------------------

def reexec(opts):
    spec = os.environ.pop("OPENRC_SV_REEXEC", None)
    if not spec:
        raise UserError("--reexec is used internally (send SIGHUP to a running supervisor instead)")
    from . import daemonize
    return daemonize.resume_supervisor(opts, ServiceState(opts.svcname), spec)


if __name__ == "__main__":
    sys.exit(main())
