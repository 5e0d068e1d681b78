"""A supervisor forked by the fork server: lean until something happens.

A supervisor forked by the server shares the server's pages until it
writes to them, and what it writes stays its own for the life of the
service.  Measured on 3.11 at 50 services: a supervisor that built its
Supervisor, parsed its command line and started its daemon itself owned
about 2.2 MB; one that only waits owns about 0.93 MB, some 0.37 MB of it
what any fork of an interpreter writes.  So the supervisor (the grandchild of the server, re-parented to
init like OpenRC's) does as little as it can in its own pages:

  * it makes itself a session leader, takes its signals onto a pipe
    (as the full supervisor does), becomes a child subreaper and forks a
    worker (one for the whole start);
  * the worker reads the request from the client, checks it and reads the
    requester's context (forkserver); it makes the supervisor join the
    requester's cgroups and take on its rlimits, nice, I/O priority, OOM
    score and CPU affinity (forkserver_context: what one process can do
    for another), takes all of the context on itself and answers the
    client; the supervisor takes on the rest (groups, login uid, ignored
    signals, umask, directory) from the hand-off;
  * the worker parses the command line, starts the daemon and its loggers
    (they become the supervisor's children when it exits: subreaper),
    writes the pidfile (the supervisor's pid) and the state, hands the
    Supervisor it built to the supervisor (handoff.lean_export: bytes and
    fds, the files it opened among them, over a socket pair), and says OK
    on the report pipe (if the client is gone by then, it undoes the start
    and exits non-zero, and the supervisor does not take over);
  * the supervisor keeps those bytes and waits: poll() on its signal pipe,
    the control fifo and whatever the worker's Supervisor would poll, with
    its next deadline, copying the daemon's output into --stdout/--stderr
    files itself.  The first thing that happens (a signal, the daemon's
    exit, a word on the fifo, a health check due, a logger's exit) makes
    it build its own Supervisor from them (daemonize.adopt_supervisor),
    which handles it and every event after.  If that event is only the
    daemon's death, it respawns it first (respawn_first) and builds when
    the machine has settled (_settle); the Supervisor takes that exit as
    handled (Supervisor.take_exit).

So an idle service whose daemon runs costs the lean wait; one with a health
check or a watchdog becomes the full supervisor at its first check or
keepalive.  Nothing OpenRC sees differs:
the pidfile, the control fifo and the state name the supervisor; the
daemon is its child.

The environment: the full supervisor reads os.environ as a view of the
request's (RequestEnviron), without making it its own:

      - every fork takes it first (os.register_at_fork): a worker, a
        forked respawn (its Setup is made there), a health check, which
        execs with the environment it inherits;
      - a write takes it (the re-exec on SIGHUP sets its hand-off
        variable, then execs: the new supervisor sees the request's
        environment, as before);
      - a TZ other than the server's takes it at once: C's localtime, for
        the start_time of a respawn, reads TZ from there.

Where the kernel will not make us a subreaper, the supervisor does the
start itself (as forked by `--start`, without workers).  The supervisor is
a subreaper for as long as its worker runs (with --notify, until the
daemon is ready): a process the daemon orphans meanwhile becomes its child,
reaped by the full supervisor as an unknown child.
"""

import _socket
import array
import marshal
import os
import select
import struct
import sys
import time
from collections.abc import MutableMapping

from . import child, daemonize, forkserver_context, proctitle, respawnpolicy, subreaper
from . import forkserver_wire as wire
from . import sigs as signal
from .logpipes import copy_to_file, rewind
from .supervisor import HANDLED, Early, group_alive, install_signals
from .worker import reap

_real = None            # os.environ as the interpreter made it (os._Environ)


class RequestEnviron(MutableMapping):
    """os.environ in a lean supervisor: the request's environment, for
    Python code to read (a view, not a copy: copying writes pages too).
    Any change makes it the process's own first (take()), then goes to the
    real os.environ."""

    def __init__(self, env):
        self.env = env

    def __getitem__(self, key):
        return self.env[key]

    def __iter__(self):
        return iter(self.env)

    def __len__(self):
        return len(self.env)

    def __setitem__(self, key, value):
        take()[key] = value

    def __delitem__(self, key):
        del take()[key]

    def copy(self):
        return dict(self.env)


def take():
    """Make the request's environment this process's own (the C environment
    too) and os.environ the interpreter's again; returns os.environ."""
    global _real
    env = os.environ
    if _real is None or not isinstance(env, RequestEnviron):
        return env
    real, _real = _real, None
    real.clear()
    real.update(env.env)
    os.environ = real
    return real


def use(env):
    """Read os.environ as env from now on; the C environment follows only
    when needed (see above)."""
    global _real
    if _real is None:
        _real = os.environ
        os.register_at_fork(after_in_child=take)
    os.environ = RequestEnviron(env)
    if env.get("TZ") != _real.get("TZ"):
        take()


def parse(report, argv, env):
    """The worker's job: parse the command line (as a start in the
    supervisor did) and report what the supervisor needs, in one line."""
    from . import sd_args
    from .rcstate import ServiceState, svcdir
    opts = sd_args.parse(argv[1:], env)
    st = ServiceState(opts.svcname, svcdir(env))
    pidfile = opts.pidfile or st.get("pidfile")
    fields = dict(opts.__dict__)
    rules = fields.pop("rules", None)
    rules = (rules.name, rules.why) if rules is not None else None
    report(marshal.dumps((fields, rules, st.root, pidfile)).hex())


def unpack(line):
    """The supervisor's side: (options, service state, pidfile)."""
    from . import sd_args
    from .rcstate import ServiceState
    fields, rules, root, pidfile = marshal.loads(bytes.fromhex(line))
    opts = sd_args.Options.__new__(sd_args.Options)
    opts.__dict__.update(fields)
    if rules is not None:
        from .rcversion import rules as make_rules
        opts.rules = make_rules(*rules)
    return opts, ServiceState(opts.svcname, root), pidfile


def run(listener, conn, take_request, name):
    """In the server's grandchild: become the service's supervisor (see
    above).  conn: the connection's fd.  take_request(conn): the worker's
    reading of the request
    (forkserver), (request, context, report fd, requester's pid) or None
    if it answered no.  name(svc) names the process.  Never returns."""
    try:
        os.close(listener.fileno())     # (not close(): Python code, pages)
        daemonize.detach()
        wake = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        install_signals(wake[1])
        lean = subreaper.prepare() and subreaper.set(True)
        mine, theirs = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET | _socket.SOCK_CLOEXEC)
        me = os.getpid()
        pid = os.fork()
        if pid == 0:
            _work(conn, theirs, take_request, me, lean)
        theirs.close()
        os.close(conn)
        if not lean:
            msg, fds = _recv(mine)
            if msg:
                _start_here(marshal.loads(msg), fds, pid, name)
            os._exit(0)                         # refused: the worker said so
        msg, fds = _recv(mine)                  # the worker's Supervisor
        status = reap(pid)
        subreaper.set(False)
        if not msg or status != 0:
            os._exit(1)                         # refused, or the start failed: the worker said why
        header, state, respawn = marshal.loads(msg)
        del msg                                 # (held for the life of the service, else)
    except BaseException as e:
        _died(e)
    try:
        mine.close()
        # What the worker could not do for us (its own step worked, so
        # this one does); the directory's fd came last.
        try:
            # The supervisor's own signals stay its own (they were the
            # full supervisor's to set, after the requester's).
            forkserver_context.take_own(header["own"], fds[len(fds) - 1], leave=HANDLED_HERE)
        except OSError as e:
            import syslog
            syslog.syslog(syslog.LOG_ERR, "%s: the supervisor keeps the fork server's %s"
                          % (header["svc"], e.strerror))
        name(header["svc"])
        if header["title"] is not None:
            proctitle.write(*header["title"])
        takes = header["takes"]
        if takes is not None:
            os.umask(takes[0])
            if takes[1]:
                os.chdir(takes[1])
        if _quiet(wake):
            _wait(wake[0], fds, header)
    except BaseException:
        pass                # whatever it was, the full supervisor copes (or says so)
    try:
        early = respawn_first(respawn, fds, wake)
    except BaseException:
        early = None        # (it fails before it reaps, if at all: the full one does it all)
    if early is not None and early.pid is not None:
        try:
            _settle(wake[0], fds, header)
        except BaseException:
            pass
    try:
        _adopt(marshal.loads(state), fds, wake, early)
    except BaseException as e:
        _died(e)


def warm_up(rounds=300):
    """In the fork server, before it serves: run what a lean supervisor
    runs, on dummies, until the interpreter has quickened and specialised
    it (in 3.11 a function's first calls write its code object, and its
    bytecode's counters are written until each instruction is
    specialised).  Those writes then land in the server's pages, shared,
    instead of in every supervisor's.  Measured at 50 services on 3.11:
    70 kB less private memory per supervisor."""
    wake = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    a, b = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET | _socket.SOCK_CLOEXEC)
    cwd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    umask = os.umask(0o022)
    os.umask(umask)
    header = {"svc": "warm", "deadline": None, "poll": [], "takes": (umask, None), "copy": [],
              "title": None, "own": (None, None, None, [], umask)}
    # Not our child: respawn_first goes as far as its waitpid.
    respawn = marshal.dumps({"pid": os.getpid(), "stdio": [None, 0, None]})
    msg = marshal.dumps((header, b"s" * 5000, respawn))
    settings, history = respawnpolicy.Settings(), respawnpolicy.History()
    handlers = {s: signal.getsignal(s) for s in HANDLED_HERE}
    # The server listens already: a signal meanwhile would be a byte on our
    # pipe, lost with it (a stop ignored until the SIGKILL).  Held until
    # the server's own handlers are back.
    held = signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED)
    try:
        for _ in range(rounds):
            install_signals(wake[1])
            if subreaper.prepare():
                subreaper.set(False)
            _send(a, msg, [wake[0], cwd])
            got, fds = _recv(b)
            header, _state, respawn = marshal.loads(got)
            del got
            forkserver_context.take_own(header["own"], fds[1], leave=HANDLED_HERE)
            os.close(fds[0])
            os.write(wake[1], _CHLD)
            _quiet(wake)
            os.write(wake[1], b"\x0f")
            _quiet(wake)
            _wait(wake[0], [wake[0]], header)
            os.read(wake[0], 16)
            os.write(wake[1], _CHLD)
            respawn_first(respawn, [wake[0]], wake)
            t = time.monotonic()
            early = Early(9, t)
            early.decision, early.history = respawnpolicy.decide_status(settings, history, t, 9,
                                                                        t - 1)
    finally:
        # The server's own signals back (it handles none but SIGTERM).
        signal.set_wakeup_fd(-1)
        for s, how in handlers.items():
            signal.signal(s, signal.SIG_DFL if how is None else how)
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
        for fd in (wake[0], wake[1], cwd):
            os.close(fd)
        a.close()
        b.close()


def _died(e):
    """Before there is a Supervisor to say it: syslog, and out."""
    try:
        import syslog
        syslog.syslog(syslog.LOG_ERR, "fork server's supervisor failed: %r" % (e,))
    finally:
        os._exit(1)


def _recv(sock):
    """One message and the fds that came with it (as few objects as can
    be: each lands in pages the supervisor shared)."""
    # Its size first: the hand-off carries the environment, which has no
    # fixed bound, and a buffer of the largest size would be touched whole.
    size = len(sock.recv(1, _socket.MSG_PEEK | _socket.MSG_TRUNC)) or 1
    msg, anc, _, _ = sock.recvmsg(size, _socket.CMSG_SPACE(MAX_FDS * 4), _socket.MSG_CMSG_CLOEXEC)
    fds = array.array("i")
    for level, kind, data in anc:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            fds.frombytes(data[:len(data) - len(data) % 4])
    return msg, fds


MAX_FDS = 64            # the control fifo's two, two per output stream, the notify socket


def _send(sock, msg, fds=()):
    """One message (the worker's).  The hand-off carries the request's
    environment, up to the kernel's limit for exec (some 2 MB): a socket
    buffer that small messages fit (about 200 kB) is made big enough."""
    if len(msg) > 65536:
        for opt in (getattr(_socket, "SO_SNDBUFFORCE", 32), _socket.SO_SNDBUF):
            try:
                sock.setsockopt(_socket.SOL_SOCKET, opt, 2 * len(msg) + 65536)
                break
            except OSError:
                pass
    anc = [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, struct.pack("%di" % len(fds), *fds))] if fds else []
    sock.sendmsg([msg], anc)


def _quiet(wake):
    """Has nothing happened yet?  The worker's own exit is no event (its
    SIGCHLD is dropped from the signal pipe); any other signal is put back
    for the full supervisor's loop, and a child of ours already waiting to
    be reaped (the daemon, a logger) is one."""
    if not _only_children(wake):
        return False
    try:
        return os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None
    except ChildProcessError:
        return False                    # not even the daemon: gone, reaped by no one of ours


def _only_children(wake):
    """Has the signal pipe nothing but SIGCHLD (read and dropped: the full
    supervisor reaps without it)?  Any other signal is put back for its
    loop."""
    try:
        data = os.read(wake[0], 512)
    except BlockingIOError:
        data = b""
    others = data.replace(_CHLD, b"")
    if others:
        os.write(wake[1], others)
        return False
    return True


_CHLD = bytes([signal.SIGCHLD])
HANDLED_HERE = HANDLED + (signal.SIGPIPE,)



def _wait(wake_r, fds, header):
    """Until a signal, the control fifo, a polled fd (then True) or the
    deadline (False).  The daemon's output into --stdout/--stderr files is
    copied here, as the full supervisor copies it: a daemon that writes
    does not wake it."""
    deadline = header["deadline"]
    copies = {fds[r]: (fds[f], path) for r, f, path in header["copy"]}
    p = select.poll()
    for fd in [wake_r, fds[0]] + [fds[i] for i in header["poll"]]:
        p.register(fd, select.POLLIN)
    while True:
        timeout = None
        if deadline is not None:
            timeout = max(0, int((deadline - time.monotonic()) * 1000) + 1)
        ready = p.poll(timeout)
        if not ready and timeout is not None and time.monotonic() >= deadline:
            return False
        for fd, _ in ready:
            if fd not in copies:
                return True
            copy_to_file(fd, *copies[fd])


def respawn_first(respawn, fds, wake):
    """The daemon's exit as the first event, with nothing else (no other
    signal, no word on the control fifo): reap it, take the respawn
    decision (respawnpolicy, from the worker's settings and history, as
    the full Supervisor takes it) and, without a delay, respawn it
    (child.spawn: posix_spawn with the prepared environment), all before
    building the full Supervisor.  Returns a supervisor.Early for
    Supervisor.take_exit, or None: not only the daemon's exit, or a
    respawn the worker said is more than that (respawn None:
    handoff._lean_respawn).

    Why: every service killed at once.  A lean supervisor's first event
    writes pages it shared with the fork server (each a page fault and a
    copy): building the Supervisor costs about 1.8 ms of CPU and 200 such
    faults, the respawn path alone about 0.7 ms.  So the respawn comes
    first, reading only its own small part of the hand-off (respawn:
    marshal bytes), and the build waits (_settle) until something happens
    or the machine has CPU to spare: the other services' respawns and
    their daemons' starts go first.  (Measured with every service killed
    at once, all back: at 50, with the build at once, in 1.5x the time
    of supervisors forked by --start, with it after SETTLE in the same
    time; at 500, 0.8 s, against 1.0 s forked by --start, 0.9 s for C's.
    Building at nice 19 instead did not help: with autogroups each
    supervisor's session competes as a whole.)  Until then the state
    names the daemon before (child_pid, restarts), once in a supervisor's
    life, at most SETTLE_MAX."""
    if respawn is None or not _only_exit(wake, fds[0]):
        return None
    r = marshal.loads(respawn)
    stdio = [fds[i] if i is not None else None for i in r["stdio"]]
    if min([fd for fd in stdio if fd is not None] or [3]) <= 2:
        return None                     # (child.spawn would fork: the full one does it)
    try:
        pid, status = os.waitpid(r["pid"], os.WNOHANG)
    except OSError:
        return None
    if pid == 0:
        return None                     # a logger's exit: the full one reaps it
    early = Early(status, time.monotonic())
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
        # Whether it left its process group running (Supervisor._left_behind)
        # is asked now: reaped, its pid is free, and by the time the
        # Supervisor is built (_settle) it may lead someone else's group.
        early.group = group_alive(r["pid"])
    try:
        early.decision, early.history = respawnpolicy.decide_status(
            respawnpolicy.Settings(*r["settings"]), respawnpolicy.History(*r["history"]),
            early.t, status, r["started_at"])
    except BaseException:
        return early                    # reaped; the full one decides
    d = early.decision
    if d.action != respawnpolicy.RESPAWN or d.delay_ms:
        return early
    null = None
    try:
        if None in stdio:
            null = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
            stdio = [null if fd is None else fd for fd in stdio]
        if r["rewind"]:
            rewind(stdio[0])
        early.pid = child.spawn(child.Prepared(None, r["env"], True), r["argv"], stdio)
        early.started = time.monotonic()
    except BaseException as e:
        from .worker import message
        early.error = message(e)
    finally:
        if null is not None:
            os.close(null)
    return early


SETTLE = 0.2            # seconds: see respawn_first and _settle
SETTLE_MAX = 5.0
CPUS = os.cpu_count() or 1


def _settle(wake_r, fds, header):
    """After the lean supervisor's own respawn, the bookkeeping (building
    the Supervisor, which writes the state) waits as the lean supervisor
    waits, until something happens; otherwise for SETTLE, and then as long
    as more processes are ready to run than there are CPUs (the other
    services' respawns, their daemons' starts), SETTLE_MAX at most.  A
    timer alone would not do: 500 services killed at once take about a
    second to come back on two CPUs, 50 about 80 ms."""
    start = time.monotonic()
    while True:
        due = time.monotonic() + SETTLE
        if header["deadline"] is not None:
            due = min(due, header["deadline"])
        if _wait(wake_r, fds, dict(header, deadline=due)):
            return
        now = time.monotonic()
        if now - start >= SETTLE_MAX or (header["deadline"] is not None
                                         and now >= header["deadline"]) or not _busy():
            return


def _busy(path="/proc/loadavg"):
    """More tasks ready to run than CPUs (the 4th field of /proc/loadavg,
    running/total, counts this one too)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            fields = os.read(fd, 128).split()
        finally:
            os.close(fd)
        return int(fields[3].split(b"/")[0]) - 1 > CPUS
    except (OSError, IndexError, ValueError):
        return False


def _only_exit(wake, ctl_fd):
    """Only SIGCHLD on the signal pipe (any other signal is put back for
    the full supervisor, and says no) and nothing on the control fifo."""
    if not _only_children(wake):
        return False
    p = select.poll()
    p.register(ctl_fd, select.POLLIN)
    return not p.poll(0)


def _adopt(state, fds, wake, early=None):
    """Become the full supervisor (daemonize.adopt_supervisor)."""
    from . import child, daemonize
    opts, st, pidfile = unpack(state["opts"])
    child.environ_as_given = True
    use(state["env"])
    sys.argv = state["argv"]
    daemonize.adopt_supervisor(opts, st, pidfile, state, fds, wake, early)


def _start_here(message, fds, worker, name):
    """No subreaper (a seccomp filter may forbid prctl): the daemon must be
    our own child, so the start is made here, as `--start` makes it."""
    reap(worker)
    request, own = message
    report_fd, cwd_fd = fds[0], fds[1]
    forkserver_context.take_own(own, cwd_fd, leave=HANDLED_HERE)
    argv, env, _cwd, _umask, keys, written = request
    take_env(env)
    sys.argv = argv
    try:
        lines = []
        parse(lines.append, argv, env)
        opts, st, pidfile = unpack(lines[0])
    except BaseException as e:
        from . import worker as workers
        _fail(report_fd, workers.message(e))
    name(opts.svcname)
    daemonize.run_supervisor(opts, st, pidfile, report_fd, keys, written, workers=False,
                             new_session=False)


def _fail(report_fd, msg):
    try:
        os.write(report_fd, ("fork server: %s" % msg).encode(errors="replace"))
    finally:
        os._exit(1)


def _work(conn, sock, take_request, supervisor, lean):
    """The worker: the request, the start, the hand-off.  Never returns."""
    answered = False
    report_fd = None
    import socket
    try:
        conn = socket.socket(fileno=conn)   # (the server passes the bare fd)
    except OSError:
        os._exit(1)                         # (the client, unanswered, forks its own)
    try:
        signal.set_wakeup_fd(-1)            # our signals are not the supervisor's
        taken = take_request(conn)
        if taken is None:
            os._exit(0)
        request, ctx, report_fd, requester = taken
        request = (request[0], without_coerced_locale(request[1], requester)) + tuple(request[2:])
        # The supervisor takes on the requester's context: what one process
        # can do for another from here, the rest (take_own) from the
        # hand-off; then this process takes it on, so that the daemon has it.
        # Whatever fails here, the client is told no and forks its own.
        ctx.apply_to(supervisor)
        own, cwd_fd = ctx.own(), os.dup(ctx.cwd_fd)
        ctx.apply()
        conn.sendall(wire.OK)
        answered = True
        conn.close()
        if not lean:
            # The request goes to the supervisor, which starts the daemon.
            _send(sock, marshal.dumps((request, own)), [report_fd, cwd_fd])
            os._exit(0)
        argv, env, _cwd, _umask, keys, written = request
        take_env(env)
        sys.argv = argv
        lines = []
        parse(lines.append, argv, env)
        opts, st, pidfile = unpack(lines[0])
        from . import daemonize, handoff
        # Jobs in this process (it is the worker), the daemon's Setup built
        # in it all the same (a full supervisor keeps only what it needs).
        sup = daemonize.start(opts, st, pidfile, report_fd, keys, written, supervisor,
                              workers=True, inline=True, new_session=False,
                              syslog_ident="supervise-daemon[%d]" % supervisor)
        try:
            header, state, respawn, fds = handoff.lean_export(sup, lines[0], env, argv)
            header["title"], header["own"] = _title(requester, argv), own
            fds.append(cwd_fd)
            _send(sock, marshal.dumps((header, state, respawn)), fds)
        except BaseException as e:
            daemonize.fail_start(sup, st, opts, pidfile, report_fd, keys, written, e)
        # The client gone before it heard OK (killed while the daemon got
        # ready): undone, as by a supervisor forked by --start; our exit
        # status tells the supervisor not to take over.
        daemonize.report_ok(sup, st, opts, pidfile, report_fd, keys, written)
    except BaseException as e:
        from . import worker
        msg = worker.message(e)
        try:
            if not answered:
                conn.sendall(wire.NO + b" " + msg.encode(errors="replace"))
            elif report_fd is not None:
                os.write(report_fd, ("fork server: %s" % msg).encode(errors="replace"))
        except OSError:
            pass
        os._exit(1)
    os._exit(0)


def _title(requester, argv):
    """The command line the supervisor shows: the one `--start` had (what
    a supervisor it forked itself shows), `... supervise-daemon SVC
    --start ...`, else the bare `supervise-daemon SVC ...` where that does
    not fit in the server's argument area.  Worked out here, for the
    supervisor only to write (proctitle)."""
    from . import procinfo
    words = procinfo.cmdline(requester) or []
    lead = [i for i, w in enumerate(words[:4]) if w.endswith("supervise-daemon")]
    bare = ["supervise-daemon"] + list(argv[1:])
    # Up to --start at least (the server's own command line, whose place
    # we have, is short), else up to the service's name.
    choices = [(words, lead[0] + 3)] if lead else []
    return proctitle.prepared(choices + [(bare, 3), (bare, 2)])


def take_env(env):
    """The request's environment as this process's own."""
    from . import child
    child.environ_as_given = True
    os.environ.clear()
    os.environ.update(env)


def without_coerced_locale(env, requester):
    """The request's environment without the LC_CTYPE that the client's
    interpreter set for itself (PEP 538), which its daemon must not get:
    one that was not in the client's environment at exec
    (/proc/PID/environ), as child.Setup decides it in a process that
    --start forked.  Can it not be told, the variable stays."""
    if "LC_CTYPE" not in env:
        return env
    try:
        with open("/proc/%d/environ" % requester, "rb") as f:
            given = any(item.startswith(b"LC_CTYPE=") for item in f.read().split(b"\0"))
    except OSError:
        return env
    if given:
        return env
    env = dict(env)
    del env["LC_CTYPE"]
    return env
