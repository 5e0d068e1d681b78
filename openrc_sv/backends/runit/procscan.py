"""Finding runit's processes in /proc.

runsvdir and runsv have no pidfile: we find them by name and directory.
A runsvdir names its scan directory on its command line (possibly relative
to its working directory); a runsv chdir()s into the service directory it
supervises.
"""

import os

from ... import procinfo


def _argv(pid):
    return procinfo.cmdline(int(pid))


def processes(name):
    """(pid, argv) of every process whose argv[0] is `name` or ends in /name."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        argv = _argv(entry)
        if argv and os.path.basename(argv[0]) == name:
            yield int(entry), argv


def _same_dir(a, b):
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def runsvdir_watching(scandir):
    """The pid of a runsvdir scanning `scandir`, or None."""
    if not os.path.isdir(scandir):
        return None
    for pid, argv in processes("runsvdir"):
        # runsvdir [-P] dir [log]: the first word that is not an option.
        words = [a for a in argv[1:] if not a.startswith("-")]
        if not words:
            continue
        d = words[0]
        if not d.startswith("/"):
            try:
                d = os.path.join(os.readlink("/proc/%d/cwd" % pid), d)
            except OSError:
                continue
        if _same_dir(d, scandir):
            return pid
    return None


def runsv_in(svdir):
    """The pid of the runsv supervising `svdir` (its working directory), or None."""
    for pid, _ in processes("runsv"):
        try:
            cwd = os.readlink("/proc/%d/cwd" % pid)
        except OSError:
            continue
        if _same_dir(cwd, svdir):
            return pid
    return None


def cmdline(pid):
    return _argv(pid)


def _stat_fields(pid):
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            data = f.read()
    except OSError:
        return None
    # comm may hold spaces and ')': the fields start after the last ')'.
    return data[data.rindex(b")") + 2:].split()


def alive(pid):
    """Is pid a process that has not exited (not a zombie)?"""
    f = _stat_fields(pid)
    return f is not None and f[0] not in (b"Z", b"X")


def started_at(pid):
    """When pid started, in UNIX time (to tell it from a later process that
    reuses its number), or None if it is gone."""
    f = _stat_fields(pid)
    if f is None:
        return None
    try:
        with open("/proc/stat") as stat:
            btime = next(int(line.split()[1]) for line in stat if line.startswith("btime "))
    except (OSError, StopIteration, ValueError):
        return None
    return btime + int(f[19]) / os.sysconf("SC_CLK_TCK")
