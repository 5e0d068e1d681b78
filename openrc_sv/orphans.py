"""Stopping a daemon whose supervisor is gone, and waiting for a process
that is not our child.

When a supervisor is killed (SIGKILL, OOM), its daemon lives on.  The
supervisor recorded the daemon's identity (pid and start time, see
procinfo) in options/SVC/child_ident; the next start or stop finds it
there, checks /proc that it is still that very process (a reused pid is
never signalled), and stops it with the service's stop schedule.  So there
is never a second copy of the daemon.
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
                    if p.poll(int(left * 1000) + 1):
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
    """Stop the daemon a dead supervisor left behind, if there is one."""
    ident = st.get("child_ident")
    if not ident or not procinfo.same_process(ident):
        return False
    pid = int(ident.split(":")[0])
    if say:
        say("%s: stopping pid %d left running by a supervisor that died" % (st.name, pid))
    from .stopper import run_blocking
    run_blocking(steps, pid, lambda: procinfo.same_process(ident))
    st.set("child_ident", None)
    st.set("child_pid", None)
    return True
