"""The client side of the fork server (see forkserver): `supervise-daemon
--start` asks a running server to fork the service's supervisor."""

import os

from . import forkserver_wire as wire

DEFAULT_SOCKET = "/run/openrc-sv/forkserver.sock"


def socket_path():
    return os.environ.get("OPENRC_SV_FORKSERVER") or DEFAULT_SOCKET


def _current_umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def request(argv, report_fd, keys, written):
    """Ask the server to start a supervisor; False if there is no server."""
    path = socket_path()
    if path == "off" or not os.path.exists(path):
        return False
    import socket
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        s.settimeout(5)
        s.connect(path)
        payload = wire.encode(argv, dict(os.environ), os.getcwd(), _current_umask(), keys, written)
        socket.send_fds(s, [payload[:1]], [report_fd])
        s.sendall(payload[1:])
        s.shutdown(socket.SHUT_WR)
        return s.recv(16) == wire.OK
    except OSError:
        return False
    finally:
        s.close()
