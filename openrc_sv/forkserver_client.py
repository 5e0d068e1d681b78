"""The client side of the fork server (see forkserver): `supervise-daemon
--start` asks a running server to fork the service's supervisor.

Whose server: the socket must be the caller's own (a server forks
supervisors as the user it runs as).  Root's is /run/openrc-sv/forkserver.sock;
a user running their own services (user mode) may run their own server, and
its default socket is in their service dir,
$XDG_RUNTIME_DIR/openrc/openrc-sv/forkserver.sock.  A user's supervise-daemon
never talks to root's server (it would only be refused, after handing it the
user's environment), nor root's to a user's."""

import os

from . import forkserver_wire as wire

DEFAULT_SOCKET = "/run/openrc-sv/forkserver.sock"


def socket_path(environ=None):
    env = os.environ if environ is None else environ
    if env.get("OPENRC_SV_FORKSERVER"):
        return env["OPENRC_SV_FORKSERVER"]
    if os.geteuid() != 0:
        from .errors import UserError
        from .rcstate import svcdir, user_mode
        try:
            if user_mode(env):
                return os.path.join(svcdir(env), "openrc-sv", "forkserver.sock")
        except UserError:
            pass        # no service dir (no XDG_RUNTIME_DIR): no server of the user's
    return DEFAULT_SOCKET


def _ours(path):
    """Is path a socket the caller itself made (its own server's)?"""
    import stat
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISSOCK(st.st_mode) and st.st_uid == os.geteuid()


def _current_umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _debug(why):
    """Why the server is not used: a debug line, never an error (forking
    the supervisor ourselves is the normal way, only heavier)."""
    import syslog
    syslog.syslog(syslog.LOG_DEBUG, "not using the fork server: %s" % why)


def request(argv, report_fd, keys, written):
    """Ask the server to start a supervisor; False if there is no server
    of the caller's own, or if a supervisor it forks could not be the same
    as one forked here (see forkserver_context), or if it said no."""
    path = socket_path()
    if path == "off" or not _ours(path):
        return False
    # _socket, not socket: socket.py builds its enums at import, some 6 ms
    # of every start (the C module has all we use).
    import _socket
    import struct
    s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    try:
        # Longer than the server waits for its supervisor to get ready: we
        # must not fork our own while the server's may still start.
        s.settimeout(wire.CLIENT_TIMEOUT)
        s.connect(path)
        server_pid = struct.unpack("3i", s.getsockopt(
            _socket.SOL_SOCKET, _socket.SO_PEERCRED, struct.calcsize("3i")))[0]
        from .forkserver_context import why_not
        reason = why_not(os.getpid(), server_pid)
        if reason:
            _debug(reason)
            return False
        payload = wire.encode(argv, dict(os.environ), os.getcwd(), _current_umask(), keys, written)
        s.sendmsg([payload[:1]], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS,
                                   struct.pack("i", report_fd))])
        s.sendall(payload[1:])
        s.shutdown(_socket.SHUT_WR)
        answer = b""
        while True:
            data = s.recv(4096)
            if not data:
                break
            answer += data
        if answer == wire.OK:
            return True
        _debug(answer[len(wire.NO):].decode(errors="replace").strip() or "no answer")
        return False
    except OSError as e:
        _debug(e)
        return False
    finally:
        s.close()
