"""The fork server: supervisors forked from one interpreter, each still a
process of its own that outlives the server."""

import pytest

from sandbox import our_script, wait_for

pytestmark = pytest.mark.integration

SCRIPT = """#!/sbin/openrc-run
supervisor=supervise-daemon
command=/bin/sleep
command_args=1000
"""
SOCK = "/run/openrc-sv/forkserver.sock"


def supervisor_pid(sb, svc):
    # /var/run is an absolute link to /run, which /proc/PID/root cannot follow
    return int(sb.read("/run/supervise-%s.pid" % svc).split()[0])


def comm(sb, pid):
    return sb.run("cat", "/proc/%d/comm" % pid).stdout.strip()


def ppid(sb, pid):
    return int(sb.run("cat", "/proc/%d/stat" % pid).stdout.rsplit(")", 1)[1].split()[1])


def test_services_started_through_the_fork_server_survive_it(sandbox):
    sb = sandbox("ours")
    server = sb.spawn(our_script("openrc-sv-forkserver"), "--socket", SOCK)
    wait_for(lambda: sb.exists(SOCK), 10, what="fork server socket")
    for svc in ("fa", "fb"):
        sb.install_script(svc, SCRIPT)
        r = sb.rc(svc, "start")
        assert r.returncode == 0, r.stdout + r.stderr
    sups = {svc: supervisor_pid(sb, svc) for svc in ("fa", "fb")}
    assert len(set(sups.values())) == 2                      # one supervisor per service
    for svc, pid in sups.items():
        assert comm(sb, pid) == "sv-" + svc                  # forked by the server...
        assert ppid(sb, pid) == 1                            # ...and adopted by init, like OpenRC's

    # Kill the server: the supervisors carry on and still respawn.
    server_pids = sb.pids_of("openrc-sv-forkserver --socket")
    sb.run("kill", "-9", *[str(p) for p in server_pids if p not in sups.values()])
    daemon = int(sb.value("fa", "child_pid"))
    sb.run("kill", "-9", str(daemon))
    wait_for(lambda: sb.value("fa", "child_pid") not in (None, str(daemon)), 10, what="respawn")
    assert sb.alive(sups["fa"]) and sb.alive(sups["fb"])

    # With the server gone (stale socket), a start forks its own supervisor.
    sb.install_script("fc", SCRIPT)
    assert sb.rc("fc", "start").returncode == 0
    assert comm(sb, supervisor_pid(sb, "fc")) != "sv-fc"
    for svc in ("fa", "fb", "fc"):
        assert sb.rc(svc, "stop").returncode == 0
    assert sb.pids_of("sleep 1000") == []
    server.kill()
