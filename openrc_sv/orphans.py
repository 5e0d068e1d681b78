"""Stopping a daemon whose supervisor is gone, and waiting for a process
that is not our child.

When a supervisor is killed (SIGKILL, OOM), its daemon lives on.  The
supervisor recorded the daemon's identity (pid and start time, see
procinfo) in options/SVC/child_ident; the next start or stop finds it
there, checks /proc that it is still that very process (a reused pid is
never signalled), and stops it with the service's stop schedule.  So there
is never a second copy of the daemon.

`rc-service SVC zap` (or a wiped /run/openrc) removes options/SVC, and with
it child_ident.  Then the supervisor's own record (openrc_sv.records, kept
outside OpenRC's directories) still says which supervisor ran the service,
since when, and what command: a daemon it left is a process that runs that
very command line, leads its own session (the supervisor starts each daemon
with setsid), was adopted by init, and started after that supervisor did.
Such a process is found in /proc and stopped by its identity read there,
never by a pid a file names.
"""

import os
import select
import time

from . import procinfo


def wait_gone(pid, timeout):
    """Wait until pid has exited and been reaped; True if it has.

    pidfd_open(2) lets poll() tell us the moment it exits: no spinning on
    kill(pid, 0).  Kernels before 5.3 get a gently backing-off check.  Then
    we wait (briefly) for its parent to reap it: until then the zombie
    still holds its cgroup, and openrc-run's cgroup2_remove would fail.
    """
    deadline = time.monotonic() + timeout
    if not _wait_exit(pid, deadline):
        return False
    pause = 0.001
    end = time.monotonic() + 2.0
    while os.path.exists("/proc/%d" % pid) and time.monotonic() < end:
        time.sleep(pause)
        pause = min(pause * 2, 0.05)
    return True


def _wait_exit(pid, deadline):
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        fd = None
    if fd is not None:
        try:
            p = select.poll()
            p.register(fd, select.POLLIN)
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return not procinfo.alive(pid)
                try:
                    if p.poll(int(min(left, 3600) * 1000) + 1):
                        return True
                except InterruptedError:
                    continue
        finally:
            os.close(fd)
    pause = 0.005
    while procinfo.alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(pause)
        pause = min(pause * 2, 0.2)
    return True


def stop_orphan(st, steps, say=None):
    """Stop the daemon(s) a dead supervisor left behind, if there are any."""
    idents = []
    ident = st.get("child_ident")
    if ident and procinfo.same_process(ident):
        idents.append(ident)
    idents += [i for i in find_by_record(st) if i not in idents]
    if not idents:
        return False
    from .stopper import run_blocking
    for ident in idents:
        pid = int(ident.split(":")[0])
        if say:
            say("%s: stopping pid %d left running by a supervisor that died" % (st.name, pid))
        # A trailing `forever` waits however long it takes, here as in the
        # supervisor's own loop: one meaning everywhere.
        run_blocking(steps, pid, lambda ident=ident: procinfo.same_process(ident),
                     after_kill=float("inf") if has_forever(steps) else 5.0)
    st.set("child_ident", None)
    st.set("child_pid", None)
    return True


def has_forever(steps):
    return any(kind == "forever" for kind, _ in steps)


def find_by_record(st):
    """Identities of the daemons a dead supervisor left, found through its
    record (see the module's doc); [] while that supervisor lives."""
    from . import records
    rec = records.read_record(st)
    if not rec:
        return []
    sup_ident, _, argv = rec
    if procinfo.same_process(sup_ident):
        return []
    return find_daemons(argv, int(sup_ident.split(":", 1)[1]))


def _same_command(cmd, argv):
    """Does /proc's cmdline say this runs argv?  For a script (#!) the
    kernel puts the interpreter and its one optional argument in front."""
    if not argv:
        return False
    if len(cmd) == len(argv):
        return cmd[1:] == argv[1:] and os.path.basename(cmd[0]) == os.path.basename(argv[0])
    extra = len(cmd) - len(argv)
    return 0 < extra <= 2 and cmd[extra:] == list(argv)


def find_daemons(argv, since_ticks, parent=1):
    """Identities of live processes running argv that lead their own
    session, whose parent is `parent`, started at or after since_ticks."""
    found = []
    me = os.getpid()
    for pid in procinfo.all_pids():
        if pid == me:
            continue
        info = procinfo.stat_info(pid)
        if not info:
            continue
        state, ppid, sid, ticks = info
        if state in ("Z", "X") or sid != pid or ppid != parent or ticks < since_ticks:
            continue
        if _same_command(procinfo.cmdline(pid), argv):
            found.append("%d:%d" % (pid, ticks))
    return found
