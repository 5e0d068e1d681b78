"""The fork server: per-service supervisors for the price of a fork.

A fresh Python interpreter costs megabytes of private memory before it does
anything; with one supervisor per service that is multiplied by every
service on the machine.  The fork server is one process that has imported
the supervisor code once (and frozen it with gc.freeze(), so the garbage
collector never writes to those pages); `supervise-daemon --start` asks it
to fork the new service's supervisor, which then shares the interpreter
and the code with every other supervisor, copy-on-write.

Each service still has its own supervisor process (the server double-forks:
supervisors are re-parented to init exactly as OpenRC's are, and one
dying, or the server dying, touches no other).  When no server is running,
`--start` forks a supervisor itself: everything works, only heavier.

Protocol: a unix stream socket, root-only (0600, and the peer's uid is
checked).  The client (forkserver_client) sends the report pipe's write end
(SCM_RIGHTS) and one request (forkserver_wire: the supervise-daemon argv,
the environment and the paths/keys to clean up on failure); then it reads
the usual report from its pipe.

Nothing about the daemon may depend on whether the server forked its
supervisor: the server reads the requester's process context (cgroups,
rlimits, priorities, affinity, umask, directory ...) from /proc and the
forked supervisor takes it on before it does anything (forkserver_context);
where a fork cannot carry something over, the client does not ask.

--merge-pages marks the server's memory for the kernel's same-page merging
(forkserver_merge).
"""

import os
import sys

from . import forkserver_wire as wire
from .forkserver_client import DEFAULT_SOCKET, socket_path  # noqa: F401  (one home: the client)


# -- server side ----------------------------------------------------------------------

def _receive(conn):
    import socket
    msg, fds, _, _ = socket.recv_fds(conn, 1 << 16, 1)
    chunks = [msg]
    while True:
        data = conn.recv(1 << 16)
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks), fds


def _peer(conn):
    """(pid, uid) of the process at the other end, as the kernel saw it at
    connect(); pid 0 if it is in no pid namespace of ours."""
    import socket
    import struct
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, _ = struct.unpack("3i", creds)
    return pid, uid


def _name(svc):
    _set_name("sv-" + svc)


def _set_name(name):
    """Name the process (ps -o comm, top) after its service.  (os calls,
    not open() or fsencode(): their objects would be new pages of the
    supervisor's.)"""
    try:
        fd = os.open("/proc/self/comm", os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, name.encode("utf-8", "surrogateescape")[:15])
        finally:
            os.close(fd)
    except OSError:
        pass


def _say(line):
    """A warning for the administrator: stderr (the init script's log) and syslog."""
    import syslog
    sys.stderr.write(" * openrc-sv-forkserver: %s\n" % line)
    sys.stderr.flush()
    syslog.openlog("openrc-sv-forkserver", syslog.LOG_PID, syslog.LOG_DAEMON)
    syslog.syslog(syslog.LOG_WARNING, line)


def serve(path, merge_pages=False):
    import gc
    import signal
    import socket
    # Everything a supervisor runs, imported once, here, to be shared.
    from . import (child, convert, daemonize, health, logpipes, orphans,  # noqa: F401
                   procinfo, rcstate, sd_args, stopper, supervise_daemon, supervisor)
    from . import forkserver_context, handoff, leanstart, proctitle, worker  # noqa: F401
    import marshal  # noqa: F401
    import select  # noqa: F401
    import syslog  # noqa: F401
    # Nothing our starter left open reaches a daemon: the full supervisor
    # marks its fds close-on-exec (child.prepare_supervisor), but a lean
    # one's own respawn (leanstart.respawn_first) posix_spawns before it
    # has built that one, with the fds it inherited from us.
    child.close_on_exec()
    os.makedirs(os.path.dirname(path), 0o755, exist_ok=True)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    old = os.umask(0o177)
    listener.bind(path)
    os.umask(old)
    listener.listen(64)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    _warm_up(sd_args, procinfo, forkserver_context)
    # The workers' subreaper call, built once here and shared (worker.py).
    worker.prepare()
    # Children are double-forked and reaped at once; no SIGCHLD handling.
    gc.collect()
    gc.freeze()
    merging = False
    if merge_pages:
        from . import forkserver_merge
        merging = forkserver_merge.enable(_say)
    # The loop between two forks: whatever it writes, each supervisor forked
    # before owns its own copy of the page (the server's moves on).  So the
    # accepted connection stays a bare fd (socket.accept() would build a
    # socket object in Python code, each time): measured on 3.11 at 50
    # services, about 100 kB less per supervisor (the server now writes
    # some 8 kB between two forks, was about 150).
    accept, close = listener._accept, os.close
    unmarked = 0
    try:
        while True:
            conn, _ = accept()
            try:
                _fork_supervisor(listener, conn, leanstart.run)
            except OSError:
                pass
            finally:
                close(conn)
            if merging:
                # Serving may have mapped new arenas (it hardly allocates:
                # see above); mark them now and then, not after every
                # request: marking reads and parses /proc/self/maps in
                # Python, and what that wrote each supervisor kept (at 500
                # services Private_Dirty was 4.76x C with merging, 3.84x
                # without: some 170 kB each).
                unmarked += 1
                if unmarked == MARK_EVERY:
                    unmarked = 0
                    try:
                        forkserver_merge.mark_mergeable()
                    except OSError:
                        pass
    finally:
        try:
            os.unlink(path)
        except OSError:
            pass


MARK_EVERY = 64          # requests between two markings of new mappings (--merge-pages)


def _warm_up(sd_args, procinfo, context):
    """Run the start-up paths once here, so that what they build and cache
    (and the interpreter's specialised bytecode) is in the shared pages
    rather than copied into every supervisor."""
    import time
    from . import leanstart
    argv = ["supervise-daemon", "warm", "--start", "--respawn-delay", "1", "--respawn-max", "3",
            "--healthcheck-timer", "5", "--retry", "TERM/5/KILL/5", "/bin/true", "--", "x"]
    try:
        # What a supervisor's worker parses, and the supervisor unpacks.
        lines = []
        leanstart.parse(lines.append, argv, {"RC_SVCNAME": "warm"})
        leanstart.unpack(lines[0])
    except Exception:
        pass
    procinfo.identity(os.getpid())
    try:                                # reads our own /proc, imports ctypes for ionice
        context.why_not(os.getpid(), os.getpid())
        context.Context(os.getpid(), 0).close()
    except OSError:
        pass
    time.strftime("%Y-%m-%d %H:%M:%S")
    try:
        leanstart.warm_up()
        # And how a supervisor names itself: as we are named already.
        from . import proctitle
        with open("/proc/self/comm") as f:
            comm = f.read().rstrip("\n")
        with open("/proc/self/cmdline", "rb") as f:
            words = [w.decode("utf-8", "surrogateescape") for w in f.read().split(b"\0")[:-1]]
        title = proctitle.prepared([(words, len(words))])
        for _ in range(300):
            _set_name(comm)
            if title is not None:
                proctitle.write(*title)
    except OSError:
        pass


def _fork_supervisor(listener, conn, become):
    """Fork the supervisor for the connection (conn: its fd) at once, and
    nothing more.
    Whatever the server runs between two forks writes pages that each
    supervisor then owns alone (the server's copy moves on, the
    supervisors' stays): measured on 3.11, reading and checking requests
    here cost each supervisor about 0.4 MB at 30 services.  So the request
    is read by the supervisor's worker (take_request, from leanstart)."""
    child = os.fork()
    if child == 0:
        # The middle process exits at once, so the supervisor is adopted by
        # init (or the nearest subreaper) like OpenRC's.
        try:
            if os.fork() == 0:
                become(listener, conn, take_request, _name)
        finally:
            os._exit(0)
    os.waitpid(child, 0)


def take_request(conn):
    """In the supervisor's worker: read and check the request (conn: the
    connection, a socket).  (request,
    the requester's forkserver_context.Context, the report fd, the
    requester's pid), or None once it has answered no (the client then
    forks its own supervisor)."""
    from . import sigs as signal
    for s in (signal.SIGTERM, signal.SIGINT):
        signal.signal(s, signal.SIG_DFL)
    conn.settimeout(5)
    pid, uid = _peer(conn)
    if uid != os.geteuid():
        conn.sendall(wire.NO + b" not the server's user")
        return None
    data, fds = _receive(conn)
    if len(fds) != 1:
        for fd in fds:
            os.close(fd)
        conn.sendall(wire.NO + b" no report pipe")
        return None
    report_fd = fds[0]
    os.set_inheritable(report_fd, False)    # SCM_RIGHTS fds arrive inheritable
    refusal = _refusal(pid, data)
    if isinstance(refusal, str):
        conn.sendall(wire.NO + b" " + refusal.encode(errors="replace"))
        os.close(report_fd)
        return None
    request, ctx = refusal
    return request, ctx, report_fd, pid


def _refusal(pid, data):
    """Why the server will not fork for this request (a string), or the
    decoded request and the requester's context."""
    from . import forkserver_context as context
    try:
        request = wire.decode(data)
    except ValueError as e:
        return str(e)
    reason = context.why_not(pid, os.getpid())
    if reason:
        return reason
    try:
        return request, context.Context(pid, request[3])
    except (OSError, ValueError) as e:
        return "cannot read the requester's context: %s" % e


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    path = socket_path()
    merge_pages = False
    args = list(argv)
    while args:
        a = args.pop(0)
        if a == "--socket" and args:
            path = args.pop(0)
        elif a == "--socket":
            sys.stderr.write(" * openrc-sv-forkserver: --socket needs a PATH\n")
            return 2
        elif a == "--merge-pages":
            merge_pages = True
        else:
            sys.stderr.write(" * openrc-sv-forkserver: unknown option '%s'; usage: "
                             "openrc-sv-forkserver [--socket PATH] [--merge-pages]\n" % a)
            return 2
    if os.geteuid() != 0 and path == DEFAULT_SOCKET:
        sys.stderr.write(" * openrc-sv-forkserver: run it as root, or give --socket PATH\n")
        return 1
    try:
        serve(path, merge_pages)
    except KeyboardInterrupt:
        pass
    except OSError as e:
        # A socket directory that is not one, a full /run: one line.
        where = (" %s:" % e.filename) if e.filename else ""
        sys.stderr.write(" * openrc-sv-forkserver:%s %s\n" % (where, e.strerror or e))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
