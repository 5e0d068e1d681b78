"""Reading and commanding one runsv, through its supervise/ directory.

runsv(8) keeps its state in SVDIR/supervise/: `status` (20 bytes, the
daemontools format), `stat` (a human-readable line) and `pid`, and takes
commands as single characters written to the `control` fifo.  `ok` is a
fifo runsv keeps open for reading: opening it for writing without blocking
succeeds exactly while a runsv runs in SVDIR (sv(8) tests it the same way).

Only the standard library: the health watcher imports this too, and it
runs for as long as the service does.
"""

import errno
import os
import struct
import time
from collections import namedtuple

# A TAI64 label is 2**62 + seconds since 1970 TAI; runit writes UNIX time
# plus the 10 seconds TAI was ahead in 1970 (its tai_unix()).
_TAI_UNIX = 4611686018427387914

_STATES = {0: "down", 1: "run", 2: "finish"}
_WANT = {"u": "up", "d": "down", "x": "exit"}


class SuperviseStatus(namedtuple("SuperviseStatus", "state pid since want paused got_term")):
    """state: down | run | finish; pid: ./run's (the daemon's) in run,
    ./finish's in finish; since: UNIX time of the last change of state;
    want: up | down | exit | None."""

    __slots__ = ()

    @property
    def uptime(self):
        return max(0.0, time.time() - self.since)


def parse_status(data):
    """Decode supervise/status; None when it is not 20 bytes."""
    if len(data) != 20:
        return None
    sec, nano = struct.unpack(">QL", data[:12])
    pid, = struct.unpack("<L", data[12:16])
    return SuperviseStatus(
        state=_STATES.get(data[19], "unknown"),
        pid=pid or None,
        since=(sec - _TAI_UNIX) + nano / 1e9,
        want=_WANT.get(chr(data[17])),
        paused=bool(data[16]),
        got_term=bool(data[18]),
    )


def read_status(svdir):
    """The runsv's last recorded status, or None when there is none."""
    try:
        with open(os.path.join(svdir, "supervise", "status"), "rb") as f:
            return parse_status(f.read())
    except (FileNotFoundError, NotADirectoryError):
        return None


def _open_fifo(svdir, name):
    """runsv's supervise/NAME fifo for writing, or None when no runsv reads
    it (a fifo nobody reads cannot be opened without blocking)."""
    try:
        return os.open(os.path.join(svdir, "supervise", name), os.O_WRONLY | os.O_NONBLOCK)
    except OSError as e:
        if e.errno in (errno.ENXIO, errno.ENOENT, errno.ENOTDIR):
            return None
        raise


def runsv_running(svdir):
    """Is a runsv supervising svdir right now?"""
    fd = _open_fifo(svdir, "ok")
    if fd is None:
        return False
    os.close(fd)
    return True


def control(svdir, commands):
    """Write command characters (see runsv(8), CONTROL) to the runsv.

    Returns False when no runsv listens: a fifo nobody reads cannot take
    them, and we must not block waiting for one.
    """
    fd = _open_fifo(svdir, "control")
    if fd is None:
        return False
    try:
        os.write(fd, commands.encode())
    finally:
        os.close(fd)
    return True
