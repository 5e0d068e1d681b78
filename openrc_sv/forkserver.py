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
the environment, cwd, umask and the paths/keys to clean up on failure);
then it reads the usual report from its pipe.
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


def _peer_uid(conn):
    import socket
    import struct
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", creds)[1]


def _become_supervisor(listener, conn, data, report_fd):
    """In the grandchild: turn into the service's supervisor.  Never returns."""
    import signal
    try:
        listener.close()
        conn.close()
        for s in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT):
            signal.signal(s, signal.SIG_DFL)
        argv, env, cwd, umask, keys, written = wire.decode(data)
        os.environ.clear()
        os.environ.update(env)
        os.chdir(cwd)
        os.umask(umask)
        sys.argv = argv
        from . import daemonize, sd_args
        from .rcstate import ServiceState
        opts = sd_args.parse(argv[1:], env)
        pidfile = opts.pidfile or ServiceState(opts.svcname).get("pidfile")
        _set_name("sv-" + opts.svcname)
        daemonize.run_supervisor(opts, ServiceState(opts.svcname), pidfile, report_fd, keys, written)
    except BaseException as e:          # report, never fall back into the server's loop
        try:
            os.write(report_fd, ("fork server: %s" % e).encode())
        finally:
            os._exit(1)


def _set_name(name):
    """Name the process (ps -o comm, top) after its service."""
    try:
        with open("/proc/self/comm", "w") as f:
            f.write(name[:15])
    except OSError:
        pass


def serve(path):
    import gc
    import signal
    import socket
    # Everything a supervisor runs, imported once, here, to be shared.
    from . import (child, convert, daemonize, health, logpipes, orphans,  # noqa: F401
                   procinfo, rcstate, sd_args, stopper, supervise_daemon, supervisor)
    import select  # noqa: F401
    import syslog  # noqa: F401
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
    _warm_up(sd_args, procinfo)
    # Children are double-forked and reaped at once; no SIGCHLD handling.
    gc.collect()
    gc.freeze()
    try:
        while True:
            conn, _ = listener.accept()
            try:
                _handle(listener, conn)
            except OSError:
                pass
            finally:
                conn.close()
    finally:
        try:
            os.unlink(path)
        except OSError:
            pass


def _warm_up(sd_args, procinfo):
    """Run the start-up paths once here, so that what they build and cache
    (and the interpreter's specialised bytecode) is in the shared pages
    rather than copied into every supervisor."""
    import time
    try:
        sd_args.parse(["warm", "--start", "--respawn-delay", "1", "--respawn-max", "3",
                       "--healthcheck-timer", "5", "--retry", "TERM/5/KILL/5", "/bin/true", "--", "x"],
                      {"RC_SVCNAME": "warm"})
    except Exception:
        pass
    procinfo.identity(os.getpid())
    time.strftime("%Y-%m-%d %H:%M:%S")


def _handle(listener, conn):
    conn.settimeout(5)
    if _peer_uid(conn) != os.geteuid():
        conn.sendall(wire.NO)
        return
    data, fds = _receive(conn)
    if len(fds) != 1:
        for fd in fds:
            os.close(fd)
        conn.sendall(wire.NO)
        return
    report_fd = fds[0]
    os.set_inheritable(report_fd, False)    # SCM_RIGHTS fds arrive inheritable
    pid = os.fork()
    if pid == 0:
        # The middle process exits at once, so the supervisor is adopted by
        # init (or the nearest subreaper) like OpenRC's.
        if os.fork() == 0:
            _become_supervisor(listener, conn, data, report_fd)
        os._exit(0)
    os.close(report_fd)
    os.waitpid(pid, 0)
    conn.sendall(wire.OK)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    path = socket_path()
    if argv[:1] == ["--socket"] and len(argv) > 1:
        path = argv[1]
    elif argv:
        sys.stderr.write("usage: openrc-sv-forkserver [--socket PATH]\n")
        return 2
    if os.geteuid() != 0 and path == DEFAULT_SOCKET:
        sys.stderr.write(" * openrc-sv-forkserver: run it as root, or give --socket PATH\n")
        return 1
    try:
        serve(path)
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
