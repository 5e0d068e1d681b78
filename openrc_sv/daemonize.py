"""The supervisor process's life: detach, start the daemon, report to the
starting process, run the loop, and clean up the state it leaves.

run_supervisor() runs in the process forked by `--start`.  It writes one
line into the report pipe: "OK" once the daemon has exec'ed (and, with
--notify, said it is ready), or the reason it could not.  On failure it
leaves nothing: no daemon, no pidfile, no fifo, no state.
"""

import os
import select
import syslog
import time

from . import sigs as signal
from . import child, procinfo, records, statekeys, worker
from .errors import UserError
from .rcstate import libexecdir
from .supervisor import ControlFifo, Supervisor, System


def detach():
    os.setsid()
    null = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    if null > 2:
        os.close(null)


def _service_script(st):
    return os.environ.get("RC_SERVICE") or st.init_script() or "/etc/init.d/%s" % st.name


def _build(opts, st, pidfile, ctl, workers=True, wake=None, quiet=False, files=None,
           textfile=False):
    # With workers, the daemon's Setup is made in each of them, never here.
    setup = (lambda: child.Setup(opts, libexecdir())) if workers else child.Setup(opts, libexecdir())
    sup = Supervisor(opts, st, pidfile, setup, ctl, System(workers), wake=wake, quiet=quiet,
                     files=files, textfile=textfile)
    if opts.healthcheck_timer_ms or opts.healthcheck_delay_ms or opts.watchdog_timer_ms:
        from .health import HealthCheck
        # Its writes go through the supervisor's writer: a full /run is
        # retried, never the end of supervision.  A watchdog alone needs
        # it for `unhealthy` after a miss (within the timeout, else the
        # watchdog's interval).
        sup.health = HealthCheck(_service_script(st), opts.healthcheck_timer_ms,
                                 opts.healthcheck_delay_ms,
                                 opts.healthcheck_timeout_ms or opts.watchdog_timer_ms,
                                 sup.writer, sup.log)
        sup.health.on_result = sup.publish
    return sup


def _record_self(st, pidfile, argv, pid):
    ident = procinfo.identity(pid)
    records.write_pidfile(pidfile, pid)
    records.write_record(st, ident, pidfile, argv)
    st.set("supervisor_ident", ident)


def run_supervisor(opts, st, pidfile, report_fd, keys, written, workers=True, new_session=True):
    """Never returns.  workers: run the start and respawn paths in short-
    lived workers (worker.py); `--start` forking us itself says False.
    new_session: False if this process is already the session's leader."""
    sup = start(opts, st, pidfile, report_fd, keys, written, os.getpid(), workers,
                new_session=new_session)
    report_ok(sup, st, opts, pidfile, report_fd, keys, written)
    supervise(sup, st, opts, pidfile)


def start(opts, st, pidfile, report_fd, keys, written, me, workers=True, inline=False,
          new_session=True, syslog_ident=None):
    """The supervisor's start, up to the daemon running (and, with --notify,
    ready): returns the Supervisor.  me: the supervisor's pid, recorded in
    the pidfile (a lean supervisor's worker starts the daemon for it:
    leanstart, which also says inline: its jobs in this process, and no
    new_session: the supervisor made its own).  On failure it says why on
    report_fd, leaves nothing, and exits this process."""
    sup = None
    try:
        if new_session:
            detach()
        if syslog_ident:
            # The lines are the supervisor's, whose pid is in the ident.
            syslog.openlog(syslog_ident, 0, syslog.LOG_DAEMON)
        else:
            syslog.openlog("supervise-daemon", syslog.LOG_PID, syslog.LOG_DAEMON)
        ctl = ControlFifo(st.fifo_path())
        sup = _build(opts, st, pidfile, ctl, workers)
        if inline:
            sup.sys.workers = False
        sup.fast = child.prepare_supervisor(opts)
        sup.install_signals()
        sup.out.start_loggers()
        ready = _prepare_notify(opts, st, sup)
        # The start's own file writes ride in the daemon's worker: this
        # process's pidfile and record before the daemon starts, the
        # daemons/ entry once it runs.
        sup.spawn(before=lambda: _record_self(st, pidfile, opts.argv, me),
                  after=lambda: st.daemon_set(opts.exec, opts.argv, pidfile, True))
        if ready:
            ready(sup)
        return sup
    except BaseException as e:
        fail_start(sup, st, opts, pidfile, report_fd, keys, written, e)


def report_ok(sup, st, opts, pidfile, report_fd, keys, written):
    """OK on the report pipe; if the client is gone, the start is undone."""
    try:
        os.write(report_fd, b"OK")
        os.close(report_fd)
    except BaseException as e:
        fail_start(sup, st, opts, pidfile, None, keys, written, e)


def fail_start(sup, st, opts, pidfile, report_fd, keys, written, e):
    """A start that failed: stop what it started, leave nothing, say why on
    report_fd (one line), exit."""
    msg = worker.message(e)
    try:
        if sup is not None and sup.pid:
            child.kill_and_reap(sup.pid)
        if sup is not None:
            _kill_loggers(sup)
        _cleanup_failed_start(st, opts, pidfile, written, keys)
    finally:
        if report_fd is not None:
            try:
                os.write(report_fd, msg.encode())
            except OSError:
                pass
        os._exit(1)


def supervise(sup, st, opts, pidfile):
    """The loop, then the state the supervisor leaves.  Never returns."""
    code = 1
    try:
        code = sup.run()
        _finish(sup, st, opts, pidfile)
    except BaseException as e:
        syslog.syslog(syslog.LOG_ERR, "%s: supervisor failed: %r" % (opts.svcname, e))
        if sup.pid:
            child.kill_and_reap(sup.pid)
        _finish(sup, st, opts, pidfile, failed=True)
    os._exit(code)


def adopt_supervisor(opts, st, pidfile, state, fds, wake, early=None):
    """A lean supervisor's first event (leanstart): become the full one its
    worker started, from the worker's hand-off (handoff.lean_export), and
    supervise.  early: the daemon's exit, handled in part already
    (leanstart.respawn_first).  Never returns."""
    from . import handoff
    syslog.openlog("supervise-daemon", syslog.LOG_PID, syslog.LOG_DAEMON)
    sup = None
    try:
        ctl = ControlFifo(st.fifo_path(), (fds[0], fds[1]))
        sup = _build(opts, st, pidfile, ctl, True, wake=wake, quiet=True,
                     files=handoff.lean_files(state, fds), textfile=state["textfile"])
        # Before the hand-off's Setup is made (child.Prepared keeps it).
        sup.fast = child.prepare_supervisor(opts)
        handoff.lean_adopt(sup, state, fds)
        sup.install_signals()
        if sup.health:
            # Due when it was due in the worker: from the daemon's start.
            sup.health.schedule_first(sup.started_at)
        # A child that exited before we took over (its SIGCHLD may have
        # been the one dropped with the worker's): the loop reaps it.
        os.kill(os.getpid(), signal.SIGCHLD)
        if early is not None:
            sup.take_exit(early)
    except BaseException as e:
        # Nothing may be left unsupervised: the daemon and the loggers are
        # our children, whatever failed.
        syslog.syslog(syslog.LOG_ERR, "%s: supervisor failed: %r" % (opts.svcname, e))
        pids = handoff.lean_children(state, early)
        if early is not None and sup is not None and sup.pid not in (None, state["pid"]):
            pids.append(sup.pid)            # the respawn take_exit took
        for pid in pids:
            child.kill_and_reap(pid)
        _finish(sup, st, opts, pidfile, failed=True)
        os._exit(1)
    supervise(sup, st, opts, pidfile)


def resume_supervisor(opts, st, spec):
    """After SIGHUP: the fresh interpreter takes over the daemon and the fds."""
    syslog.openlog("supervise-daemon", syslog.LOG_PID, syslog.LOG_DAEMON)
    from . import handoff
    daemon_pid, fds, streams, restarts = handoff.decode(spec)
    for fd in fds:
        os.set_inheritable(fd, False)
    ctl = ControlFifo(st.fifo_path(), fds)
    # A fresh interpreter owns all its pages: no workers (see worker.py).
    sup = _build(opts, st, opts.pidfile or st.get("pidfile"), ctl, workers=False)
    sup.out.adopt(streams)
    sup.fast = child.prepare_supervisor(opts)
    sup.install_signals()
    sup.pid = daemon_pid
    sup.restarts = restarts
    st.set("supervisor_ident", procinfo.identity(os.getpid()))
    if sup.health:
        sup.health.schedule_first(time.monotonic())
    _resume_watchdog(opts, st, sup)
    # The daemon may have exited while we were exec'ing: the loop reaps it.
    os.kill(os.getpid(), signal.SIGCHLD)
    code = sup.run()
    _finish(sup, st, opts, sup.pidfile)
    return code


def _finish(sup, st, opts, pidfile, failed=False):
    """sup: None if it could not even be built (adopt_supervisor)."""
    if sup is not None:
        sup.out.finish()
    # A full /run must not leave the supervisor dying with a traceback on
    # its way out: each step is tried, and what fails is said in syslog.
    # Why it is down for good goes last: the stopped mark empties options/.
    down = getattr(sup, "down_reason", None)
    for step, args in ((st.daemon_set, (opts.exec, opts.argv, pidfile, False)),
                       (st.set, ("child_pid", None)), (st.set, ("child_ident", None)),
                       (st.mark, ("stopped",))) + \
            (((st.mark, ("failed",)),) if (failed or sup.failing) else ()) + \
            (((st.set, (statekeys.DOWN_REASON, down)),) if down else ()):
        try:
            step(*args)
        except OSError as e:
            syslog.syslog(syslog.LOG_ERR, "%s: cannot record the stop: %s" % (
                opts.svcname, e.strerror or e))
    for p in (pidfile, st.fifo_path(), st.notify_socket_path()):
        try:
            os.unlink(p)
        except OSError:
            pass


def _kill_loggers(sup):
    for pid in sup.out.logger_pids():
        child.kill_and_reap(pid)


def _cleanup_failed_start(st, opts, pidfile, written, keys):
    for k in list(keys) + ["child_pid", "child_ident", "start_time", "start_count",
                           "supervisor_ident", "restarts"]:
        st.set(k, None)
    st.daemon_set(opts.exec, opts.argv, pidfile, False)
    for p in list(written) + [st.notify_socket_path()]:
        try:
            os.unlink(p)
        except OSError:
            pass


# -- readiness (--notify) -----------------------------------------------------

def _prepare_notify(opts, st, sup):
    """Set up the channel before the daemon starts; return the waiter."""
    if not opts.notify:
        return None
    timeout = opts.notify_timeout_ms / 1000.0
    if opts.notify[0] == "fd":
        r, w = os.pipe2(os.O_CLOEXEC)
        sup.notify_fd = w

        def wait_fd(sup):
            os.close(w)
            sup.notify_fd = None
            try:
                _wait_ready(sup, r, timeout, lambda data: b"\n" in data)
            finally:
                os.close(r)
        return wait_fd
    path = st.notify_socket_path()
    sock = _bind_notify(path, opts)

    def wait_socket(sup):
        kept = False
        try:
            _wait_ready(sup, sock.fileno(), timeout,
                        lambda data: any(l.strip() == b"READY=1" for l in data.split(b"\n")),
                        recv=lambda: sock.recv(4096))
            if sup.watchdog:
                # Fed from now on: READY=1 was its first keepalive.
                sup.watch_notify(sock, time.monotonic())
                kept = True
        finally:
            if not kept:
                sock.close()
                try:
                    os.unlink(path)
                except OSError:
                    pass
    return wait_socket


def _bind_notify(path, opts):
    """The notify socket, bound at path: writable by root and the daemon's
    user only (sending to a socket needs write permission on it), so that
    nobody else can speak for the daemon.  _socket: the socket module
    would import enum and more into the long-lived supervisor."""
    import _socket
    try:
        os.unlink(path)
    except OSError:
        pass
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_DGRAM | _socket.SOCK_CLOEXEC)
    try:
        # The sender's pid on every datagram (watchdog.recv_from: keepalives
        # count only from the daemon itself).
        sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_PASSCRED, 1)
        # Born 0600: with the caller's umask (0, say) another user could
        # connect between bind() and a chmod() and keep its connection.
        old = os.umask(0o177)
        try:
            sock.bind(path)
        finally:
            os.umask(old)
        os.chmod(path, 0o600)
        if opts.user:
            os.chown(path, opts.user[0], opts.user[1])
    except BaseException:
        sock.close()
        raise
    return sock


def _resume_watchdog(opts, st, sup):
    """A re-executed supervisor: the old notify socket closed with the
    exec; a fresh one at the same path gets the daemon's next keepalive
    (sd_notify sends to the path each time), and the count goes on."""
    if not sup.watchdog:
        return
    try:
        sup.watchdog.misses = int(st.get(statekeys.WATCHDOG_MISSES) or 0)
    except ValueError:
        pass
    try:
        sock = _bind_notify(st.notify_socket_path(), opts)
    except OSError as e:
        sup.log(syslog.LOG_ERR, "watchdog off until the next start: cannot bind %s: %s"
                % (st.notify_socket_path(), e.strerror))
        sup.watchdog = None
        return
    sup.watch_notify(sock)
    sup.watchdog.rearm(time.monotonic())


def _wait_ready(sup, fd, timeout, is_ready, recv=None):
    """Wait for readiness, the daemon's death or the deadline, whichever first."""
    deadline = time.monotonic() + timeout
    p = select.poll()
    p.register(fd, select.POLLIN)
    p.register(sup.wake_r, select.POLLIN)
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise UserError("%s did not report readiness within %gs (--notify %s)"
                            % (sup.o.exec, timeout, ":".join(str(x) for x in sup.o.notify if x is not None)))
        for f, ev in p.poll(int(left * 1000) + 1):
            if f == fd:
                data = recv() if recv else os.read(fd, 4096)
                if not data and not recv:
                    raise UserError("%s closed its readiness fd without reporting ready" % sup.o.exec)
                # Each read alone (a datagram is a whole message; the fd's
                # word is a newline): nothing kept, whatever the daemon sends.
                if is_ready(data):
                    return
            else:
                try:
                    os.read(sup.wake_r, 512)
                except BlockingIOError:
                    pass
                try:
                    pid, status = os.waitpid(sup.pid, os.WNOHANG)
                except ChildProcessError:
                    pid, status = sup.pid, 0
                if pid == sup.pid:
                    sup.pid = None
                    from .supervisor import describe_status
                    raise UserError("%s exited before it was ready (%s)"
                                    % (sup.o.exec, describe_status(status)))
