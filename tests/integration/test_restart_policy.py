"""The restart policy (issue 11 §1-2, openrc_sv/respawnpolicy.py) through
real openrc-run, on every backend that can carry it.

  backoff      respawn_delay=500ms, respawn_delay_factor=2,
               respawn_delay_cap=4sec, respawn_reset_after=4sec: four quick
               deaths wait 0.5, 1, 2 and 4 seconds; a daemon that then
               stays up 5 seconds is respawned after 0.5s again.
               native, runit, monit.
  stop status  respawn_stop_status=78: a daemon exiting 78 is not
               respawned, the service is marked failed and
               options/SVC/down_reason says "stop status: exit 78".
               native, runit (monit never sees an exit status: refused,
               see test_bad_input).
  respawn_on   respawn_on=failure: a crash is respawned, a clean exit is
               not, and the service is stopped but not failed.

The native supervisor calls respawnpolicy from its exit handler.
"""

import time

import pytest

import initscripts as I
from sandbox import wait_for
from test_backends import install, status_json, world

pytestmark = pytest.mark.integration

NATIVE = "native"

# A daemon that records its starts as testdaemon does, then runs until
# STATEDIR/exit-now appears and exits with the code written in it.
EXITER = I.BIN + "/exiter"
EXITER_TEXT = r'''#!/usr/bin/python3
import os, sys, time
state = sys.argv[1]
me = os.getpid()
with open(os.path.join(state, "starts"), "a") as f:
    f.write("%d %.6f\n" % (me, time.monotonic()))
with open(os.path.join(state, "pid.%d" % me), "w") as f:
    f.write(str(me))
os.rename(os.path.join(state, "pid.%d" % me), os.path.join(state, "pid"))
path = os.path.join(state, "exit-now")
while True:
    try:
        with open(path) as f:
            code = int(f.read())
    except (FileNotFoundError, ValueError):
        time.sleep(0.05)
        continue
    os.unlink(path)
    sys.exit(code)
'''


def _world(sb, backend):
    world(sb, backend)
    sb.write(EXITER, EXITER_TEXT, 0o755)


def _start(sb, svc):
    r = sb.rc(svc, "start")
    assert r.returncode == 0, r.stdout + r.stderr
    return wait_for(lambda: _live(sb, svc), 20, what="%s's daemon" % svc)


def _live(sb, svc, other_than=None):
    pid = I.daemon_pid(sb, svc)
    return pid if pid and pid != other_than and sb.alive(pid) else None


def _kill_and_time_the_respawn(sb, svc, pid):
    """KILL the daemon; seconds from the kill to the next daemon's start."""
    n = len(I.starts(sb, svc))
    t0 = time.monotonic()       # system-wide: the daemon records the same clock
    sb.run("kill", "-9", str(pid), check=True)
    wait_for(lambda: len(I.starts(sb, svc)) > n, 30, what="the respawn after a kill")
    wait_for(lambda: _live(sb, svc, other_than=pid), 10, what="the respawned daemon")
    return I.starts(sb, svc)[n][1] - t0


@pytest.mark.parametrize("backend", [NATIVE, "runit", "monit"])
def test_the_delay_doubles_then_starts_again_after_a_long_run(sandbox, backend):
    sb = sandbox("ours")
    _world(sb, backend)
    install(sb, backend, "backoff", respawn_delay="500ms", respawn_delay_factor="2",
            respawn_delay_cap="4sec", respawn_reset_after="4sec", respawn_max=0)
    pid = _start(sb, "backoff")
    gaps = []
    for _ in range(4):
        gaps.append(_kill_and_time_the_respawn(sb, "backoff", pid))
        pid = _live(sb, "backoff")
    # It stays up longer than respawn_reset_after: the next wait is the first again.
    up_since = I.starts(sb, "backoff")[-1][1]
    wait_for(lambda: time.monotonic() - up_since > 5, 20, interval=0.1,
             what="the daemon to have run 5 seconds")
    gaps.append(_kill_and_time_the_respawn(sb, "backoff", pid))
    expected = [0.5, 1, 2, 4, 0.5]
    shown = ", ".join("%.2f" % g for g in gaps)
    for gap, delay in zip(gaps, expected):
        assert gap >= delay - 0.05, "waits %s, expected at least %s" % (shown, expected)
    assert gaps[0] < gaps[2] < gaps[3], "the waits grow: %s" % shown
    # Not reset it would be 4s (the cap); monit may see a death up to a
    # cycle (1s here) late.
    assert gaps[4] < 2.5, "the wait starts again after a long run: %s" % shown
    assert sb.rc("backoff", "stop").returncode == 0


@pytest.mark.parametrize("backend", [NATIVE, "runit"])
def test_a_stop_status_is_not_respawned_and_says_why(sandbox, backend):
    sb = sandbox("ours")
    _world(sb, backend)
    d = I.statedir("config")
    install(sb, backend, "config", command=EXITER, respawn_stop_status="78 ABRT")
    pid = _start(sb, "config")
    # An exit not in the list is respawned as always.
    sb.write(d + "/exit-now", "1")
    pid = wait_for(lambda: _live(sb, "config", other_than=pid), 20, what="a respawn after exit 1")
    sb.write(d + "/exit-now", "78")
    wait_for(lambda: sb.exists("/run/openrc/failed/config"), 20, what="config marked failed")
    wait_for(lambda: sb.value("config", "down_reason") == "stop status: exit 78", 10,
             what="down_reason")
    assert len(I.starts(sb, "config")) == 2, "not respawned after exit 78"
    assert sb.status("config") != 0
    st = status_json(sb, "config")
    assert st["state"] == "failed", st
    assert "stop status: exit 78" in json_text(st), st


@pytest.mark.parametrize("backend", [
    NATIVE,
    "runit",
])
def test_a_new_start_forgets_why_the_last_run_ended(sandbox, backend):
    sb = sandbox("ours")
    _world(sb, backend)
    d = I.statedir("again")
    install(sb, backend, "again", command=EXITER, respawn_stop_status="78")
    _start(sb, "again")
    sb.write(d + "/exit-now", "78")
    wait_for(lambda: sb.value("again", "down_reason") == "stop status: exit 78", 20,
             what="down_reason")
    _start(sb, "again")
    assert sb.value("again", "down_reason") is None
    assert sb.rc("again", "stop").returncode == 0


@pytest.mark.parametrize("backend", [
    NATIVE,
    "runit",
])
def test_respawn_on_failure_respawns_a_crash_but_not_a_clean_exit(sandbox, backend):
    sb = sandbox("ours")
    _world(sb, backend)
    d = I.statedir("oneshot")
    install(sb, backend, "oneshot", command=EXITER, respawn_on="failure")
    pid = _start(sb, "oneshot")
    sb.write(d + "/exit-now", "3")
    wait_for(lambda: _live(sb, "oneshot", other_than=pid), 20, what="a respawn after exit 3")
    sb.write(d + "/exit-now", "0")
    wait_for(lambda: sb.value("oneshot", "down_reason") ==
             "not respawned: exit 0 (respawn_on=failure)", 20, what="down_reason")
    wait_for(lambda: sb.status("oneshot") == 3, 10, what="OpenRC to call it stopped")
    assert len(I.starts(sb, "oneshot")) == 2
    assert not sb.exists("/run/openrc/failed/oneshot"), "a clean exit is not a failure"


def json_text(st):
    return " ".join(str(v) for v in st.values())
