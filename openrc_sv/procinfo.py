"""What /proc says about a process: alive or not, and which process it is.

A pid alone is not an identity: after a supervisor dies, its daemon's pid
may be reused.  We pair the pid with the process's start time (field 22 of
/proc/PID/stat, in clock ticks since boot), which no later process with
the same pid can share.
"""

import os


def _stat_fields(pid):
    # One read(2) (the line is 52 numbers and a 16-byte comm: well under
    # 4 kB): no buffered file object, whose set-up costs as much as the
    # read (the supervisor reads its new daemon's at every respawn).
    try:
        fd = os.open("/proc/%d/stat" % pid, os.O_RDONLY | os.O_CLOEXEC)
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    try:
        data = os.read(fd, 4096)
    except ProcessLookupError:      # ESRCH: gone between the open and the read
        return None
    finally:
        os.close(fd)
    if b")" not in data:
        return None
    # comm (field 2) may contain spaces and ')': split after the last ')'.
    return data[data.rindex(b")") + 2:].split()


def start_ticks(pid):
    """The process's start time in clock ticks since boot, or None if gone."""
    f = _stat_fields(pid)
    return int(f[19]) if f else None


def stat_info(pid):
    """(state, ppid, session id, start ticks) of a process, or None if gone."""
    f = _stat_fields(pid)
    if not f:
        return None
    return f[0].decode(), int(f[1]), int(f[3]), int(f[19])


def all_pids():
    return [int(n) for n in os.listdir("/proc") if n.isdigit()]


def state(pid):
    f = _stat_fields(pid)
    return f[0].decode() if f else None


def alive(pid):
    """Running and not a zombie."""
    s = state(pid)
    return s is not None and s not in ("Z", "X")


def identity(pid):
    """'PID:TICKS' for a live process, or None."""
    t = start_ticks(pid)
    return "%d:%d" % (pid, t) if t is not None else None


def same_process(ident):
    """Is the process named by identity() still the one that is running?"""
    if not ident or ":" not in ident:
        return False
    pid_s, ticks = ident.split(":", 1)
    try:
        pid = int(pid_s)
    except ValueError:
        return False
    return pid > 1 and alive(pid) and str(start_ticks(pid)) == ticks


def read_pidfile(path):
    """The pid a pidfile names, or None.

    A pidfile may sit in a directory the daemon's user owns, so whatever is
    there may have been planted: a FIFO (a plain open would block root
    until the user writes), a link to /dev/zero (an endless read) or to a
    device.  So: no following symlinks, never block, regular files only,
    and a pid's worth of bytes at most.  The pid is then only a hint: no
    caller signals it without checking the process is the one it started.
    """
    import stat
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY
                     | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        text = os.read(fd, 64).split()
        return int(text[0]) if text and text[0].isdigit() and len(text[0]) < 12 else None
    except (OSError, ValueError):
        return None
    finally:
        os.close(fd)


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0")[:-1]]
    except OSError:
        return []


def uptime_of(pid):
    """Seconds the process has been running, or None."""
    t = start_ticks(pid)
    if t is None:
        return None
    hz = os.sysconf("SC_CLK_TCK")
    with open("/proc/uptime") as f:
        up = float(f.read().split()[0])
    return max(0.0, up - t / hz)
