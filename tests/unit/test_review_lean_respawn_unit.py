"""Adversarial review of the lean supervisor's own respawn
(leanstart.respawn_first, Supervisor.take_exit) and of the fork server's
warm-up (leanstart.warm_up)."""

import marshal
import os
import time

import pytest

from openrc_sv import child, leanstart, respawnpolicy, sigs
from openrc_sv.supervisor import RUNNING
from test_lean_early_respawn import ENV, settings
from test_supervisor_states import make  # noqa: F401  (the fixture)


def _exited(pid, deadline=30):
    end = time.monotonic() + deadline
    while os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
        assert time.monotonic() < end, "pid %d did not exit" % pid
        time.sleep(0.01)


def test_a_pid_reused_during_the_settle_is_no_group_left_behind(make):  # noqa: F811
    """A daemon that exits 0, its process group gone with it: its pid is
    free once respawn_first has reaped it, and the full Supervisor is
    built up to SETTLE_MAX later.  If by then the pid leads someone else's
    process group (pid reuse: any setsid()), the supervisor must not take
    that group for one its daemon left behind (it would SIGTERM/SIGKILL it
    at the stop).  The supervisor forked by --start probes the group in
    the same loop turn as the reap."""
    ctl_r, ctl_w = os.pipe2(os.O_CLOEXEC)
    wake = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    null = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
    spawned = []
    try:
        first = child.spawn(child.Prepared(None, ENV, True), ["/bin/true"], (null,) * 3)
        spawned.append(first)
        _exited(first)                       # exit 0, its group (itself) gone
        os.write(wake[1], bytes([sigs.SIGCHLD]))
        respawn = marshal.dumps({
            "pid": first, "started_at": time.monotonic() - 60, "history": (0, 0, 0, 0),
            "env": {os.fsencode(k): os.fsencode(v) for k, v in ENV.items()},
            "settings": settings(), "argv": ["/bin/sleep", "600"],
            "stdio": [None, None, None], "rewind": False})
        early = leanstart.respawn_first(respawn, [ctl_r, ctl_w], wake)
        spawned.remove(first)                # reaped by it
        assert early is not None and early.pid is not None
        spawned.append(early.pid)
        sup, clock, st = make("--respawn-delay", "0")
        sup.pid = first
        sup.started_at = clock.t - 60
        # Meanwhile (the settle) the pid was reused by a session leader.
        clock.alive_groups.add(first)
        sup.take_exit(early)
        assert sup.phase == RUNNING and sup.pid == spawned[-1]
        assert sup.leftovers == [], "a stranger's group taken for the daemon's"
        assert "forked into the background" not in (st.get("last_exit") or "")
    finally:
        for pid in spawned:
            child.kill_and_reap(pid)
        for fd in (ctl_r, ctl_w, null) + wake:
            os.close(fd)


def test_a_stop_sent_during_the_warm_up_is_not_lost():
    """The fork server's warm-up installs the supervisor's signal handlers
    (bytes on a pipe it then closes) for some tens of ms after the server
    is listening: a SIGTERM then (`rc-service openrc-sv-forkserver stop`
    right after its start) must still stop it, not wait for the stop
    schedule's SIGKILL (which leaves the socket behind)."""
    got = []
    old = sigs.signal(sigs.SIGTERM, lambda *_: got.append(sigs.SIGTERM))
    real = leanstart._quiet
    sent = []

    def quiet(wake):
        if not sent:
            sent.append(1)
            os.kill(os.getpid(), sigs.SIGTERM)
        return real(wake)
    leanstart._quiet = quiet
    try:
        leanstart.warm_up(rounds=3)
        end = time.monotonic() + 5
        while not got and time.monotonic() < end:
            time.sleep(0.01)            # (a handler runs between bytecodes)
        assert sent and got == [sigs.SIGTERM]
    finally:
        leanstart._quiet = real
        sigs.signal(sigs.SIGTERM, old)
