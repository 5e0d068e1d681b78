"""Where our supervise-daemon is deliberately better than OpenRC's C one,
through real rc-service.  Each test says what C does instead."""

import time

import pytest

import initscripts as I
from sandbox import wait_for

pytestmark = pytest.mark.integration

SICK = """
healthcheck() { [ ! -e %(d)s/sick ]; }
unhealthy() { echo ran >> %(d)s/unhealthy-ran; }
"""


def test_sighup_reexecutes_the_supervisor_and_keeps_the_daemon(sandbox):
    """deliberately better than C: --reexec/SIGHUP replaces the supervisor
    in place (an upgrade) and the daemon, still its child, is kept and
    still supervised afterwards."""
    sb = sandbox("ours")
    daemon = I.start_service(sb, "svc")
    sup = I.supervisor_pid(sb, "svc")
    sb.run("kill", "-HUP", str(sup), check=True)
    # Same pid (exec), new program: its command line now says --reexec.
    wait_for(lambda: "--reexec" in sb.run("cat", "/proc/%d/cmdline" % sup).stdout.split("\0"), 10,
             what="the supervisor to re-execute itself")
    assert I.supervisor_pid(sb, "svc") == sup and sb.alive(daemon)
    assert I.daemons(sb) == [(daemon, sup)]
    # Still supervising: a crash is respawned, the control fifo still works.
    sb.run("kill", "-9", str(daemon), check=True)
    second = I.wait_daemon(sb, "svc", other_than=daemon)
    r = sb.run("supervise-daemon", "svc", "--signal", "USR1", env={"RC_SVCNAME": "svc"})
    assert r.returncode == 0, r.stderr
    wait_for(lambda: (second, "SIGUSR1") in I.signals(sb, "svc"), 5, what="SIGUSR1")
    assert sb.rc("svc", "stop").returncode == 0
    assert I.daemons(sb) == []


def test_a_hanging_health_check_times_out_and_counts_as_failed(sandbox):
    """deliberately better than C: C waits for its health check forever,
    deaf to stop and to the daemon's death; ours kills it after
    --healthcheck-timeout and restarts the daemon."""
    sb = sandbox("ours")
    d = I.statedir("svc")
    first = I.start_service(sb, "svc", healthcheck_timer=1, supervise_daemon_args="--healthcheck-timeout 1",
                            functions="""
healthcheck() { [ -e %(d)s/hang ] && exec sleep 1000; return 0; }
unhealthy() { echo ran >> %(d)s/unhealthy-ran; }
""" % {"d": d})
    sb.write(d + "/hang", "")
    second = I.wait_daemon(sb, "svc", other_than=first, timeout=15)
    assert sb.read(d + "/unhealthy-ran", "").startswith("ran")
    assert second != first
    # The failure is counted; the new daemon is not checked yet.
    assert sb.value("svc", "health_failures") == "1"
    assert sb.value("svc", "healthcheck") in ("pending", "ok")
    # No check is left behind, and the hung one does not block a stop.
    sb.run("rm", "-f", d + "/hang")
    took = time.monotonic()
    assert sb.rc("svc", "stop").returncode == 0
    assert time.monotonic() - took < 5
    assert [p for p, _, _, args in sb.ps() if "sleep 1000" in args] == []


def test_extra_commands_hiding_healthcheck_is_reported_once_not_a_restart_loop(sandbox):
    """deliberately better than C: an init script whose extra_commands
    replaces the one supervise-daemon.sh extends makes `healthcheck` an
    unknown command; C kills the daemon on every tick.  Ours says so in the
    service's healthcheck value and stops checking; the daemon lives on."""
    sb = sandbox("ours")
    d = I.statedir("svc")
    first = I.start_service(sb, "svc", healthcheck_timer=1, extra_commands="checkconfig",
                            functions=SICK % {"d": d} + "checkconfig() { :; }\n")
    wait_for(lambda: sb.value("svc", "healthcheck") == "hidden", 10, what="healthcheck=hidden")
    time.sleep(2.5)      # absence of restarts: give two more timer ticks a chance
    assert I.daemon_pid(sb, "svc") == first and sb.alive(first)
    assert len(I.starts(sb, "svc")) == 1
    assert not sb.exists(d + "/unhealthy-ran")
    assert sb.rc("svc", "stop").returncode == 0


def test_log_files_are_reopened_after_rotation(sandbox):
    """deliberately better than C: C keeps writing to the rotated file until
    the daemon restarts; ours reopens --stdout/--stderr files on SIGUSR1 to
    the supervisor (or "reopen" on the control fifo)."""
    sb = sandbox("ours")
    first = I.start_service(sb, "svc", output_log="/run/svc.out")
    wait_for(lambda: "from %d" % first in sb.read("/run/svc.out", ""), 5, what="first line")
    sb.run("mv", "/run/svc.out", "/run/svc.out.1", check=True)
    sup = I.supervisor_pid(sb, "svc")
    sb.run("kill", "-USR1", str(sup), check=True)
    wait_for(lambda: sb.exists("/run/svc.out"), 5, what="the reopened log file")
    sb.run("kill", "-9", str(first), check=True)
    second = I.wait_daemon(sb, "svc", other_than=first)
    wait_for(lambda: "from %d" % second in sb.read("/run/svc.out", ""), 5, what="a line in the new file")
    assert sb.read("/run/svc.out.1") == "stdout from %d\n" % first
    assert sb.rc("svc", "stop").returncode == 0


def test_stop_does_not_hang_on_a_stuck_supervisor(sandbox):
    """deliberately better than C: C's --stop loops on kill(pid, 0) for as
    long as its supervisor lives, so a stopped (SIGSTOP) supervisor hangs
    rc-service forever.  Ours gives it the stop schedule plus a margin, then
    kills it and stops the daemon itself."""
    sb = sandbox("ours")
    daemon = I.start_service(sb, "svc", retry="TERM/1/KILL/1")
    sup = I.supervisor_pid(sb, "svc")
    sb.run("kill", "-STOP", str(sup), check=True)
    took = time.monotonic()
    r = sb.rc("svc", "stop", timeout=60)
    took = time.monotonic() - took
    assert r.returncode == 0, r.stdout + r.stderr
    assert took < 20
    wait_for(lambda: not sb.alive(daemon) and not sb.alive(sup), 5, what="both gone")
    assert I.daemons(sb) == [] and sb.status("svc") == 3
