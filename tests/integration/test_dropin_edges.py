"""Faults an administrator meets: starts at once, zap after a killed
supervisor, a pidfile that is a FIFO, OpenRC's state wiped while running,
and the documented commands of the man page."""

import pytest

import initscripts as I
from sandbox import wait_for

pytestmark = pytest.mark.integration

ENV = {"RC_SVCNAME": "svc"}


def _live_daemons(sb):
    return [pid for pid, _ in I.daemons(sb)]


@pytest.mark.parametrize("how", ["supervise-daemon", "openrc-sv"])
def test_parallel_starts_give_one_daemon_and_one_stop_leaves_none(sandbox, how):
    sb = sandbox("ours")
    I.install_service(sb, "svc")
    n = 6
    if how == "supervise-daemon":
        one = "supervise-daemon svc --start %s -- %s" % (I.DAEMON, I.statedir("svc"))
    else:
        one = "openrc-sv start svc"
    script = ("for i in $(seq %d); do ( %s >/dev/null 2>&1; echo \"rc=$?\" >> /run/rcs ) & done; wait"
              % (n, one))
    r = sb.run("sh", "-c", script, env=ENV, timeout=180)
    assert r.returncode == 0, r.stderr
    rcs = sb.read("/run/rcs").split()
    assert len(rcs) == n
    assert rcs.count("rc=0") >= 1
    daemon = wait_for(lambda: _live_daemons(sb), 30, what="a daemon")
    sup = I.supervisors(sb, "svc") or wait_for(lambda: I.supervisors(sb, "svc"), 30,
                                                what="a supervisor")
    # Every start has returned: whatever it started is up by now.
    assert len(I.starts(sb, "svc")) == 1, I.starts(sb, "svc")
    assert len(daemon) == 1 and len(sup) == 1
    if how == "supervise-daemon":
        r = sb.run("supervise-daemon", "svc", "--stop", env=ENV, timeout=120)
    else:
        r = sb.run("openrc-sv", "stop", "svc", env=ENV, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert _live_daemons(sb) == [] and I.supervisors(sb, "svc") == []


def _orphaned(sandbox):
    """A service whose supervisor was SIGKILLed: (sandbox, its daemon)."""
    sb = sandbox("ours")
    old = I.start_service(sb, "svc")
    sup = I.supervisor_pid(sb, "svc")
    sb.run("kill", "-9", str(sup), check=True)
    wait_for(lambda: not sb.alive(sup), 30, what="the supervisor to die")
    assert sb.alive(old)
    return sb, old


def test_zap_after_a_killed_supervisor_then_start_gives_one_daemon(sandbox):
    sb, old = _orphaned(sandbox)
    r = sb.rc("svc", "zap")
    assert r.returncode == 0, r.stdout + r.stderr
    assert not sb.exists("/run/openrc/options/svc/child_ident")
    r = sb.rc("svc", "start")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "left running by a supervisor that died" in r.stdout + r.stderr
    new = I.wait_daemon(sb, "svc", other_than=old, timeout=30)
    assert not sb.alive(old)
    assert _live_daemons(sb) == [new]
    assert (old, "SIGTERM") in I.signals(sb, "svc")
    r = sb.rc("svc", "stop")
    assert r.returncode == 0, r.stdout + r.stderr
    assert _live_daemons(sb) == [] and I.supervisors(sb, "svc") == []


def test_a_daemon_whose_supervisor_was_killed_is_stopped_by_stop_after_zap(sandbox):
    sb, old = _orphaned(sandbox)
    sb.rc("svc", "zap")
    r = sb.run("supervise-daemon", "svc", "--stop", env=ENV, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert not sb.alive(old) and _live_daemons(sb) == []


def test_an_unrelated_process_with_the_same_command_is_left_alone(sandbox):
    """The orphan search matches a session leader adopted by init that
    started after the dead supervisor: a copy the administrator runs under
    its own parent is not one."""
    sb = sandbox("ours")
    old = I.start_service(sb, "svc")
    sup = I.supervisor_pid(sb, "svc")
    sb.run("kill", "-9", str(sup), check=True)
    wait_for(lambda: not sb.alive(sup), 30, what="the supervisor to die")
    other = sb.spawn("sh", "-c", "%s %s; :" % (I.DAEMON, I.statedir("svc")))
    try:
        mine = wait_for(lambda: [p for p in _live_daemons(sb) if p != old], 30, what="a copy")
        sb.rc("svc", "zap")
        r = sb.rc("svc", "start")
        assert r.returncode == 0, r.stdout + r.stderr
        new = I.wait_daemon(sb, "svc", other_than=old, timeout=30)
        assert not sb.alive(old)
        assert sb.alive(mine[0]) and new != mine[0]
        sb.rc("svc", "stop")
        assert sb.alive(mine[0])
    finally:
        other.kill()


def test_a_fifo_pidfile_is_refused_at_once_with_one_line(sandbox):
    sb = sandbox("ours")
    I.install_service(sb, "svc", pidfile="/run/svc.pid")
    sb.run("mkfifo", "/run/svc.pid", check=True)
    r = sb.rc("svc", "start", timeout=60)
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    lines = [l for l in out.splitlines() if "/run/svc.pid" in l]
    assert len(lines) == 1 and "not a regular file" in lines[0], out
    assert "Traceback" not in out
    assert _live_daemons(sb) == [] and I.supervisors(sb, "svc") == []


def test_state_wiped_while_running_start_takes_it_back_and_stop_stops_it(sandbox):
    """Decided: OpenRC's state lost under a live supervisor (a wiped
    /run/openrc) is not a second daemon and not a refusal: start takes the
    running supervisor back (OpenRC then sees the service started), and a
    stop stops it."""
    sb = sandbox("ours")
    daemon = I.start_service(sb, "svc")
    sup = I.supervisor_pid(sb, "svc")
    for d in ("started", "options", "daemons"):
        sb.run("rm", "-rf", "/run/openrc/%s/svc" % d, check=True)
    sb.run("rm", "-f", "/run/supervise-svc.pid", check=True)
    assert sb.status("svc") != 0
    r = sb.rc("svc", "start")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "taken back" in r.stdout + r.stderr
    assert _live_daemons(sb) == [daemon] and I.supervisors(sb, "svc") == [sup]
    assert sb.value("svc", "child_pid") == str(daemon)
    assert sb.status("svc") == 0
    r = sb.rc("svc", "stop")
    assert r.returncode == 0, r.stdout + r.stderr
    assert _live_daemons(sb) == [] and I.supervisors(sb, "svc") == []
    assert not sb.alive(daemon) and not sb.alive(sup)


def _documented(signame):
    """The man page's command that sends signame to exampled's supervisor."""
    import os
    man = os.path.join(os.path.dirname(__file__), "..", "..", "man", "supervise-daemon.8")
    with open(man) as f:
        lines = [l.strip() for l in f if l.strip().startswith("kill -%s " % signame)]
    assert len(lines) == 1, lines
    return lines[0].replace("exampled", "svc")


def test_the_documented_logrotate_postrotate_command_works(sandbox):
    sb = sandbox("ours")
    old = I.start_service(sb, "svc", output_log="/run/svc.log")
    wait_for(lambda: "stdout from %d" % old in sb.read("/run/svc.log", ""), 30, what="output")
    sb.run("mv", "/run/svc.log", "/run/svc.log.1", check=True)
    r = sb.run("sh", "-c", _documented("USR1"))
    assert r.returncode == 0, r.stdout + r.stderr
    wait_for(lambda: sb.exists("/run/svc.log"), 30, what="the log to be reopened")
    sb.run("kill", str(old), check=True)
    new = I.wait_daemon(sb, "svc", other_than=old, timeout=30)
    wait_for(lambda: "stdout from %d" % new in sb.read("/run/svc.log", ""), 30,
             what="the respawned daemon's output in the new file")
    assert "stdout from %d" % new not in sb.read("/run/svc.log.1")


def test_the_documented_supervisor_restart_command_keeps_the_daemon(sandbox):
    sb = sandbox("ours")
    daemon = I.start_service(sb, "svc")
    sup = I.supervisor_pid(sb, "svc")
    r = sb.run("sh", "-c", _documented("HUP"))
    assert r.returncode == 0, r.stdout + r.stderr
    # The re-executed supervisor (same pid) records itself again.
    wait_for(lambda: "--reexec" in " ".join(sb.run("cat", "/proc/%d/cmdline" % sup).stdout.split("\0"))
             or "-3" in sb.run("cat", "/proc/%d/cmdline" % sup).stdout.split("\0"), 30,
             what="the supervisor to re-execute")
    assert sb.alive(daemon) and sb.alive(sup) and _live_daemons(sb) == [daemon]
    r = sb.rc("svc", "stop")
    assert r.returncode == 0, r.stdout + r.stderr
    assert _live_daemons(sb) == [] and not sb.alive(sup)
