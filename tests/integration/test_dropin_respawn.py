"""Our supervise-daemon as a drop-in: respawning, health checks, and what
OpenRC reports when the daemon or the supervisor dies.

Parametrized tests must pass with OpenRC's C supervisor ("c") and ours;
ours-only tests say how ours is deliberately better than C.
"""

import time

import pytest

import initscripts as I
from sandbox import wait_for

pytestmark = pytest.mark.integration

BOTH = pytest.mark.parametrize("supervisor", ["c", "ours"])

HEALTH = """
healthcheck() { [ ! -e %(d)s/sick ]; }
unhealthy() { echo ran >> %(d)s/unhealthy-ran; rm -f %(d)s/sick; }
"""


def _kill9(sb, pid):
    sb.run("kill", "-9", str(pid), check=True)


@BOTH
def test_crashed_daemon_is_respawned(sandbox, supervisor):
    sb = sandbox(supervisor)
    first = I.start_service(sb, "svc")
    sup = I.supervisor_pid(sb, "svc")
    assert sb.value("svc", "start_count") == "0"
    _kill9(sb, first)
    second = I.wait_daemon(sb, "svc", other_than=first)
    assert sb.value("svc", "start_count") == "1"
    assert I.supervisor_pid(sb, "svc") == sup and sb.alive(sup)
    assert I.daemons(sb) == [(second, sup)]
    assert sb.status("svc") == 0


@BOTH
def test_respawn_stops_after_respawn_max(sandbox, supervisor):
    """A daemon that exits at once, respawn_max=3: one start and three
    respawns, then the supervisor gives up: nothing left running, the service
    is stopped (status 3) and marked failed, its state files are gone."""
    sb = sandbox(supervisor)
    I.install_service(sb, "svc", flags={"exit-code": "3"}, respawn_max=3)
    r = sb.rc("svc", "start")
    assert r.returncode == 0, r.stdout + r.stderr
    wait_for(lambda: not I.supervisors(sb, "svc"), 10, what="the supervisor to give up")
    time.sleep(0.3)   # no late respawn
    assert len(I.starts(sb, "svc")) == 4
    assert I.daemons(sb) == []
    assert sb.status("svc") == 3
    assert sb.exists("/run/openrc/failed/svc")
    assert not sb.exists("/run/openrc/started/svc")
    # Ours adds one key, after the stopped mark: why (service_get_value down_reason).
    left = sb.run("ls", "/run/openrc/options/svc").stdout.split()
    assert left == ([] if supervisor == "c" else ["down_reason"])
    if supervisor != "c":
        assert sb.value("svc", "down_reason").startswith("respawned more than 3 times")
    assert not sb.exists("/run/openrc/daemons/svc")
    assert not sb.exists("/run/openrc/supervise-svc.ctl")
    assert not sb.exists("/run/supervise-svc.pid")


@BOTH
def test_respawn_max_counts_crashes_within_respawn_period(sandbox, supervisor):
    """respawn_max=1, respawn_period=1: crashes more than a period apart are
    forgiven; two crashes within one period make the supervisor give up.
    (The sleeps let a period pass; C counts in whole seconds of time().)"""
    sb = sandbox(supervisor)
    pid = I.start_service(sb, "svc", respawn_max=1, respawn_period=1)
    for pause in (0, 2.2, 1.2):
        time.sleep(pause)
        _kill9(sb, pid)
        pid = I.wait_daemon(sb, "svc", other_than=pid)
    sup = I.supervisor_pid(sb, "svc")
    _kill9(sb, pid)
    wait_for(lambda: not sb.alive(sup), 10, what="the supervisor to give up")
    assert I.daemons(sb) == []
    assert sb.status("svc") == 3 and sb.exists("/run/openrc/failed/svc")


@BOTH
def test_respawn_waits_for_respawn_delay(sandbox, supervisor):
    sb = sandbox(supervisor)
    pid = I.start_service(sb, "svc", respawn_delay=1)
    for _ in range(2):
        killed_at = time.monotonic()
        _kill9(sb, pid)
        pid = I.wait_daemon(sb, "svc", other_than=pid, timeout=15)
        started_at = I.starts(sb, "svc")[-1][1]
        assert started_at - killed_at >= 1.0


@BOTH
def test_unhealthy_daemon_is_restarted(sandbox, supervisor):
    """healthcheck() fails -> unhealthy() runs -> the daemon is stopped and
    started again.  retry=TERM/1 keeps C quick (it waits out the stop
    schedule, see test_unhealthy_daemon_is_restarted_promptly)."""
    sb = sandbox(supervisor)
    d = I.statedir("svc")
    first = I.start_service(sb, "svc", healthcheck_timer=1, retry="TERM/1",
                            functions=HEALTH % {"d": d})
    sb.write(d + "/sick", "")
    second = I.wait_daemon(sb, "svc", other_than=first, timeout=15)
    assert sb.read(d + "/unhealthy-ran") == "ran\n"
    assert (first, "SIGTERM") in I.signals(sb, "svc")
    assert not sb.alive(first)
    assert I.daemons(sb) == [(second, I.supervisor_pid(sb, "svc"))]
    assert sb.status("svc") == 0


def test_unhealthy_daemon_is_restarted_promptly(sandbox):
    """deliberately better than C: C's health-check restart waits out the
    whole stop schedule (TERM/5 by default) on the daemon's zombie; ours
    starts the new daemon as soon as the old one has exited."""
    sb = sandbox("ours")
    d = I.statedir("svc")
    first = I.start_service(sb, "svc", healthcheck_timer=1, functions=HEALTH % {"d": d})
    sb.write(d + "/sick", "")
    wait_for(lambda: sb.exists(d + "/unhealthy-ran"), 10, interval=0.01,
             what="unhealthy() to run")
    unhealthy_seen = time.monotonic()
    I.wait_daemon(sb, "svc", other_than=first, timeout=10)
    restarted = I.starts(sb, "svc")[-1][1]
    assert restarted - unhealthy_seen < 2.0


@BOTH
def test_killed_supervisor_leaves_service_unsupervised(sandbox, supervisor):
    """kill -9 of the supervisor (not the daemon): child_pid and start_time
    are still set, so OpenRC's status says unsupervised (64)."""
    sb = sandbox(supervisor)
    daemon = I.start_service(sb, "svc")
    sup = I.supervisor_pid(sb, "svc")
    _kill9(sb, sup)
    wait_for(lambda: not sb.alive(sup), what="the supervisor to die")
    r = sb.rc("svc", "status")
    assert r.returncode == 64, r.stdout + r.stderr
    assert "unsupervised" in r.stdout + r.stderr
    assert sb.value("svc", "child_pid") == str(daemon)


def test_stop_after_supervisor_killed_stops_the_orphaned_daemon(sandbox):
    """deliberately better than C: after kill -9 of C's supervisor,
    `rc-service stop` says it cannot shut the supervisor down, marks the
    service stopped and leaves the daemon running; ours finds the orphan
    (child_pid) and stops it."""
    sb = sandbox("ours")
    daemon = I.start_service(sb, "svc")
    _kill9(sb, I.supervisor_pid(sb, "svc"))
    r = sb.rc("svc", "stop")
    assert r.returncode == 0, r.stdout + r.stderr
    wait_for(lambda: not sb.alive(daemon), 10, what="the orphaned daemon to be stopped")
    assert I.daemons(sb) == []
    assert sb.status("svc") == 3
    assert not sb.exists("/run/openrc/supervise-svc.ctl")


def test_restart_after_supervisor_killed_runs_exactly_one_daemon(sandbox):
    """deliberately better than C: restarting after kill -9 of C's
    supervisor starts a second copy of the daemon beside the orphan; ours
    stops the orphan first, so there is only ever one."""
    sb = sandbox("ours")
    orphan = I.start_service(sb, "svc")
    _kill9(sb, I.supervisor_pid(sb, "svc"))
    r = sb.rc("svc", "restart")
    assert r.returncode == 0, r.stdout + r.stderr
    daemon = I.wait_daemon(sb, "svc", other_than=orphan)
    assert not sb.alive(orphan)
    assert I.daemons(sb) == [(daemon, I.supervisor_pid(sb, "svc"))]
    assert sb.status("svc") == 0
    r = sb.rc("svc", "stop")
    assert r.returncode == 0, r.stdout + r.stderr
    assert I.daemons(sb) == []


def test_c_stop_after_supervisor_killed_leaves_the_daemon_running(sandbox):
    """The C failure the two tests above fix, pinned so the scenario is known
    to matter: C's stop succeeds but the orphan lives on, and the next start
    runs a second copy."""
    sb = sandbox("c")
    orphan = I.start_service(sb, "svc")
    _kill9(sb, I.supervisor_pid(sb, "svc"))
    r = sb.rc("svc", "stop")
    assert r.returncode == 0
    assert "Unable to shut down the supervisor" in r.stdout + r.stderr
    assert sb.alive(orphan) and sb.status("svc") == 3
    r = sb.rc("svc", "start")
    assert r.returncode == 0
    second = I.wait_daemon(sb, "svc", other_than=orphan)
    assert sorted(pid for pid, _ in I.daemons(sb)) == sorted([orphan, second])
