"""sv_backend=monit through rc-service: what must match supervise-daemon.

The plugin is installed with `openrc-sv setup --plugin` and a real monit
runs in the sandbox with a 1-second cycle.  Besides the services, monit
runs a `tick` program every cycle that appends a line to TICKS: a test
that must show something did *not* happen waits for monit to have gone
round a few more cycles instead of sleeping.
"""

import shlex
import signal
import time

import pytest

import initscripts as I
from sandbox import wait_for
from test_monit_attacks import CONF, MONITRC as BASE_MONITRC, install, live_daemon

pytestmark = pytest.mark.integration

TICKS = "/run/monit/ticks"
# The attack tests' monit, plus a program check that counts monit's cycles.
MONITRC = BASE_MONITRC + """\
check program tick with path /run/testbin/tick
  every 1 cycles
  if status != 0 then alert
"""
TICK = "#!/bin/sh\necho tick >> %s\n" % TICKS


def start_monit(sb):
    sb.spawn("monit", "-I", "-c", CONF)
    wait_for(lambda: sb.run("monit", "-c", CONF, "summary").returncode == 0, 10,
             what="monit to answer")


@pytest.fixture
def msb(sandbox):
    sb = sandbox("ours")
    r = sb.run("openrc-sv", "setup", "--plugin")
    assert r.returncode == 0, r.stdout + r.stderr
    I.install_programs(sb)
    sb.write("/run/testbin/tick", TICK, 0o755)
    sb.run("mkdir", "-p", "/run/monit", "/run/openrc-monit", check=True)
    sb.write(CONF, MONITRC, 0o600)
    start_monit(sb)
    return sb


def ticks(sb):
    return len((sb.read(TICKS) or "").splitlines())


def monit_cycles(sb, n=3):
    """Wait until monit has gone round n more cycles."""
    base = ticks(sb)
    wait_for(lambda: ticks(sb) >= base + n, 10 + 3 * n, what="%d monit cycles" % n)


def monit_status(sb, name):
    return sb.run("monit", "-c", CONF, "-B", "status", name)


def nothing_left(sb, svc):
    assert sb.listdir("/run/openrc-monit") == []
    assert sb.listdir("/run/openrc-sv/monit") == []
    assert I.daemons(sb) == []
    assert monit_status(sb, svc).returncode != 0
    assert sb.value(svc, "child_pid") is None


def test_exported_variables_reach_the_daemon(msb):
    """conf.d's `export` and the script's reach the daemon, as under
    supervise-daemon; OpenRC's own RC_* do not; command_user sets HOME,
    USER and LOGNAME."""
    install(msb, "svc", command_user="nobody")
    msb.write("/etc/conf.d/svc", msb.read("/etc/conf.d/svc")
              + "export FROM_CONFD='a b $x'\nNOT_EXPORTED=1\n")
    script = msb.read("/etc/init.d/svc") + "export FROM_SCRIPT=yes\n"
    msb.write("/etc/init.d/svc", script, 0o755)
    r = msb.rc("svc", "start")
    assert r.returncode == 0, r.stdout + r.stderr
    pid = live_daemon(msb, "svc")
    env = I.environ(msb, "svc", pid)
    assert (env.get("FROM_CONFD"), env.get("FROM_SCRIPT")) == ("a b $x", "yes")
    assert "NOT_EXPORTED" not in env
    assert not [k for k in env if k.startswith(("RC_", "MONIT_", "EINFO_"))]
    assert (env["USER"], env["LOGNAME"], env["HOME"]) == ("nobody", "nobody", "/nonexistent")
    # A respawn gets the same environment.
    msb.run("kill", "-9", str(pid), check=True)
    second = live_daemon(msb, "svc", other_than=pid)
    assert I.environ(msb, "svc", second).get("FROM_CONFD") == "a b $x"
    assert msb.rc("svc", "stop").returncode == 0


def test_child_pid_names_the_live_daemon(msb):
    install(msb, "svc")
    assert msb.rc("svc", "start").returncode == 0
    first = live_daemon(msb, "svc")
    wait_for(lambda: msb.value("svc", "child_pid") == str(first), 10, what="child_pid")
    lib = msb.libexec
    r = msb.run("sh", "-c", ". %s/sh/functions.sh 2>/dev/null; "
                "RC_SVCNAME=svc %s/bin/service_get_value child_pid" % (lib, lib))
    assert r.stdout.strip() == str(first), r.stdout + r.stderr
    msb.run("kill", "-9", str(first), check=True)
    second = live_daemon(msb, "svc", other_than=first)
    wait_for(lambda: msb.value("svc", "child_pid") == str(second), 10, what="the new child_pid")
    assert msb.rc("svc", "stop").returncode == 0
    assert msb.value("svc", "child_pid") is None


def test_giving_up_after_respawn_max_leaves_what_supervise_daemon_leaves(msb):
    """respawn_max=2: the daemon runs 3 times (not one fewer), then the
    service is stopped and failed, `rc-service status` says 3, nothing
    runs, and monit starts nothing more however many cycles pass."""
    install(msb, "svc", flags={"exit-code": "3"}, respawn_max=2, respawn_period=60,
            monit_start_timeout=1)
    r = msb.rc("svc", "start")
    assert r.returncode == 0, r.stdout + r.stderr
    wait_for(lambda: msb.exists("/run/openrc/failed/svc"), 40, what="the service to give up")
    assert len(I.starts(msb, "svc")) == 3
    assert msb.status("svc") == 3
    assert not msb.exists("/run/openrc/started/svc")
    assert I.daemons(msb) == []
    monit_cycles(msb, 4)
    assert len(I.starts(msb, "svc")) == 3
    assert "Not monitored" in monit_status(msb, "svc").stdout
    # A new start begins afresh.
    msb.run("rm", "-f", I.statedir("svc") + "/exit-code", check=True)
    r = msb.rc("svc", "start")
    assert r.returncode == 0, r.stdout + r.stderr
    live_daemon(msb, "svc")
    assert msb.status("svc") == 0
    assert msb.rc("svc", "stop").returncode == 0
    nothing_left(msb, "svc")


HEALTH = """
healthcheck() {
    %(fork)s
    [ ! -e %(d)s/sick ]
}
unhealthy() { echo ran >> %(d)s/unhealthy-ran; }
"""


def test_one_failing_health_check_runs_unhealthy_once_and_leaks_no_child(msb):
    d = I.statedir("svc")
    # The check leaves a child behind: it must die with the check.
    fork = "sleep 1000 >/dev/null 2>&1 & echo $! >> %s/check-children" % d
    install(msb, "svc", healthcheck_timer=1, functions=HEALTH % {"d": d, "fork": fork})
    assert msb.rc("svc", "start").returncode == 0
    first = live_daemon(msb, "svc")
    wait_for(lambda: len((msb.read(d + "/check-children") or "").split()) >= 2, 20,
             what="two health checks")
    msb.write(d + "/sick", "")
    second = live_daemon(msb, "svc", other_than=first)
    msb.run("rm", "-f", d + "/sick", check=True)
    # Let the checks run a few more times against the new daemon.
    base = len((msb.read(d + "/check-children") or "").split())
    wait_for(lambda: len((msb.read(d + "/check-children") or "").split()) >= base + 3, 30,
             what="three more health checks")
    assert msb.read(d + "/unhealthy-ran") == "ran\n"
    assert live_daemon(msb, "svc") == second
    children = [int(p) for p in msb.read(d + "/check-children").split()]
    wait_for(lambda: not [p for p in children[:-1] if msb.alive(p)], 10,
             what="the checks' children to be gone")
    assert msb.rc("svc", "stop").returncode == 0


def test_a_hidden_healthcheck_is_not_a_failure(msb):
    """extra_commands without healthcheck: openrc-run refuses the command;
    that is no failure, the daemon is never restarted for it."""
    d = I.statedir("svc")
    install(msb, "svc", healthcheck_timer=1, extra_commands="other",
            functions="healthcheck() { false; }\nunhealthy() { echo ran >> %s/unhealthy-ran; }\n"
            "other() { :; }\n" % d)
    assert msb.rc("svc", "start").returncode == 0
    pid = live_daemon(msb, "svc")
    wait_for(lambda: (msb.read("/run/openrc-sv/monit/svc/health") or "").strip() == "hidden",
             20, what="a health check to have run")
    monit_cycles(msb, 4)
    assert live_daemon(msb, "svc") == pid
    assert len(I.starts(msb, "svc")) == 1
    assert not msb.exists(d + "/unhealthy-ran")
    assert msb.rc("svc", "stop").returncode == 0


def test_stop_during_a_pending_respawn_delay_returns_at_once(msb):
    install(msb, "svc", respawn_delay=60)
    assert msb.rc("svc", "start").returncode == 0
    first = live_daemon(msb, "svc")
    msb.run("kill", "-9", str(first), check=True)
    wait_for(lambda: msb.exists("/run/openrc-sv/monit/svc/starting"), 15,
             what="monit to start the respawn (waiting out respawn_delay)")
    t0 = time.monotonic()
    r = msb.rc("svc", "stop", timeout=120)
    took = time.monotonic() - t0
    assert r.returncode == 0, r.stdout + r.stderr
    assert took < 10, took
    assert len(I.starts(msb, "svc")) == 1
    nothing_left(msb, "svc")
    monit_cycles(msb, 3)
    assert len(I.starts(msb, "svc")) == 1 and I.daemons(msb) == []


def test_a_pidfile_that_cannot_be_written_fails_the_start_and_leaves_nothing(msb):
    install(msb, "svc", pidfile="/nonexistent/dir/svc.pid", monit_start_timeout=1)
    r = msb.rc("svc", "start")
    assert r.returncode != 0
    out = r.stdout + r.stderr
    assert "Traceback" not in out
    errors = [l for l in out.splitlines() if "pidfile" in l and "/nonexistent/dir/svc.pid" in l]
    assert len(errors) == 1, out
    nothing_left(msb, "svc")
    monit_cycles(msb, 3)
    assert I.daemons(msb) == []
    assert len(I.starts(msb, "svc")) <= 1
    assert msb.status("svc") == 3


def test_a_monit_stopped_and_continued_leaves_a_service_that_starts_again(msb):
    install(msb, "svc", monit_timeout=3)
    assert msb.rc("svc", "start").returncode == 0
    first = live_daemon(msb, "svc")
    monit_pid = int(msb.read("/run/monit/monit.pid"))
    msb.run("kill", "-STOP", str(monit_pid), check=True)
    try:
        # monit does not answer: the daemon is stopped all the same (its
        # identity is ours), but monit keeps the service it cannot be
        # told to forget.
        r = msb.rc("svc", "stop", timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        assert not msb.alive(first)
    finally:
        msb.run("kill", "-CONT", str(monit_pid), check=True)
    assert monit_status(msb, "svc").returncode == 0      # still known to monit
    r = msb.rc("svc", "start")
    assert r.returncode == 0, r.stdout + r.stderr
    second = live_daemon(msb, "svc", other_than=first)
    assert msb.status("svc") == 0
    assert msb.rc("svc", "stop").returncode == 0
    nothing_left(msb, "svc")
    assert not msb.alive(second)
