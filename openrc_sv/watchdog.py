"""The watchdog: a daemon started with --notify socket:ready and
--watchdog-timer (watchdog_timer=) must send WATCHDOG=1 to $NOTIFY_SOCKET
at least once per interval, as under systemd's WatchdogSec=.

This module is the deadline and nothing else: the supervisor reads the
socket (it already polls it in its one event loop), hands each datagram to
feed(), asks due() when its poll wakes, and turns a due deadline into the
WatchdogMissed event, which runs `unhealthy` and restarts the daemon
through the stop schedule exactly as a failed health check does.  No
timer of its own: the deadline is one more poll timeout, and a daemon that
keeps its keepalives coming wakes the supervisor only by sending them.

The deadline:
  - a new daemon (a start, a respawn) has until its first message, at
    most `grace` (--notify-timeout, as long as the start waits for
    READY=1, and never less than one interval): after a respawn nobody
    waits for its readiness, so this is how long it may take;
  - each READY=1 or WATCHDOG=1 moves the deadline to one interval after it;
  - WATCHDOG=trigger (systemd's) misses at once;
  - anything else (STATUS=..., MAINPID=...) is read and ignored.

A daemon that floods the socket: the supervisor reads it at most once per
`gap` (1/16 of the interval, at most 1 s); datagrams that arrive in
between wait in the kernel's queue (bounded: the sender blocks or gets
EAGAIN), and a keepalive read after such a pause counts from the moment
the pause began, never later, so a pause cannot hide a daemon that
stopped (it makes the watchdog stricter by at most `gap`, which is far
below the half interval a daemon is told to keep).  Nothing read is kept:
each datagram is looked at once and dropped.

Plain integers and floats, no imports at the top: the long-running
supervisor imports this when a watchdog is configured.
"""

KEEPALIVE, TRIGGER = "keepalive", "trigger"
# Backends that cannot carry it (see the renderers' refusals).
UNSUPPORTED = {
    "runit": "runit has no notify socket for the daemon's keepalives",
    "monit": "monit has no notify socket for the daemon's keepalives",
}


def check(what, text, notify, needed):
    """The keepalives arrive on the notify socket: a watchdog without one
    could never be fed.  notify: convert.notify's tuple or None; needed:
    how the user asks for the socket (notify=socket:ready)."""
    if not notify or notify[0] != "socket":
        from .errors import UserError
        raise UserError("%s: '%s' needs %s (the daemon sends WATCHDOG=1 to $NOTIFY_SOCKET)"
                        % (what, text, needed))


def refuse(model, backend, text=None):
    """A one-line UserError for watchdog_timer on a backend in UNSUPPORTED
    (text: the value as written, else the model's, spelt out)."""
    if getattr(model, "watchdog_timer_ms", None) and backend in UNSUPPORTED:
        from .errors import UserError
        if text is None:
            from .convert import format_ms
            text = format_ms(model.watchdog_timer_ms)
        raise UserError("watchdog_timer: '%s' is not supported with sv_backend=%s (%s); "
                        "use sv_backend=native" % (text, backend, UNSUPPORTED[backend]))
MAX_DATAGRAM = 4096         # sd_notify's messages are a few short lines


def recv_from(sock, pid, size=MAX_DATAGRAM):
    """One datagram from the notify socket (SO_PASSCRED set at bind): its
    bytes if the kernel says the daemon `pid` sent it, else None (read and
    dropped).  As systemd's NotifyAccess=main: another process of the
    daemon's user (another service running as nobody, a child the daemon
    left) must neither trigger a restart nor keep a hung daemon alive.
    Raises OSError (EAGAIN) when nothing is queued."""
    import _socket
    import sys
    data, anc, _flags, _addr = sock.recvmsg(size, _socket.CMSG_SPACE(12))
    for level, kind, cred in anc:
        # struct ucred: pid, uid, gid (32-bit each, host order)
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_CREDENTIALS and len(cred) >= 4:
            if pid is not None and int.from_bytes(cred[:4], sys.byteorder, signed=True) == pid:
                return data
    return None
MAX_BATCH = 64              # datagrams read per wake-up; the rest wait their turn


def parse(datagram):
    """KEEPALIVE, TRIGGER or None for one datagram of the sd_notify protocol
    (newline-separated VAR=VALUE assignments)."""
    found = None
    for line in datagram.split(b"\n"):
        line = line.strip()
        if line == b"WATCHDOG=trigger":
            return TRIGGER
        if line in (b"WATCHDOG=1", b"READY=1"):
            found = KEEPALIVE
    return found


class Watchdog:
    def __init__(self, interval_ms, grace_ms=0):
        self.interval_ms = interval_ms
        self.interval = interval_ms / 1000.0
        self.grace = max(grace_ms / 1000.0, self.interval)
        self.gap = min(self.interval / 16.0, 1.0)
        self.deadline = None        # monotonic; None: not watching (no daemon, a restart)
        self.misses = 0             # since the supervisor started
        self.fed = False            # the current daemon sent a keepalive
        self.last_read = None
        self.paused_since = None    # a flood: the socket is not read until resume_at
        self.resume_at = None

    # the daemon's life -------------------------------------------------
    def arm(self, now):
        """A new daemon: it has `grace` to send its first message."""
        self.deadline = now + self.grace
        self.fed = False

    def rearm(self, now):
        """A re-executed supervisor, its daemon already fed: one interval."""
        self.deadline = now + self.interval
        self.fed = True

    def disarm(self):
        self.deadline = None

    def due(self, now):
        return self.deadline is not None and now >= self.deadline

    def missed(self):
        """Count a miss; nothing more is watched until the next arm()."""
        self.misses += 1
        self.deadline = None
        return self.misses

    # the socket --------------------------------------------------------------
    def polled(self, now):
        """Whether the socket is to be polled now (not during a flood's pause)."""
        if self.resume_at is not None and now >= self.resume_at:
            self.resume_at = None
        return self.resume_at is None

    def may_read(self, now):
        """The socket is readable: read it now, or pause (False) when the
        last read was less than `gap` ago."""
        if self.last_read is not None and now - self.last_read < self.gap:
            if self.paused_since is None:
                self.paused_since = now
            self.resume_at = self.last_read + self.gap
            return False
        return True

    def feed(self, now, what):
        """What one read found (KEEPALIVE, TRIGGER or None, the strongest of
        its datagrams).  Returns True for the current daemon's first
        keepalive (its health is then "ok")."""
        at = now if self.paused_since is None else self.paused_since
        self.last_read = now
        self.paused_since = None
        if self.deadline is None or what is None:
            return False                # nothing watched (a restart under way) or said
        if what == TRIGGER:
            self.deadline = now
            return False
        self.deadline = max(self.deadline if self.fed else 0, at + self.interval)
        first = not self.fed
        self.fed = True
        return first

    def wakeup(self):
        """The earliest time the loop must wake for us, or None."""
        times = [t for t in (self.deadline, self.resume_at) if t is not None]
        return min(times) if times else None
