"""Adversarial review of the lean supervisor's own respawn
(leanstart.respawn_first, Supervisor.take_exit) and the fork server's
warm-up: the served supervisor must respawn as one forked by `--start`
does."""

import shlex

import pytest

import initscripts as I
from sandbox import FORKSERVER_SOCKET, our_script, wait_for
from test_review_lean_adversarial import make

pytestmark = pytest.mark.integration

LEAK_DIR = "/run/leak"


def fds_of(sb, pid):
    """{fd: target} of a sandbox process, from /proc."""
    r = sb.run("sh", "-c", "cd /proc/%d/fd && for f in *; do echo \"$f $(readlink $f)\"; done"
               % pid)
    assert r.returncode == 0, r.stdout + r.stderr
    return {int(n): t for n, t in (line.split(" ", 1) for line in r.stdout.splitlines())}


def test_a_lean_respawn_passes_on_no_fd_the_server_was_left(sandbox):
    """The fork server started by a careless starter that left fds open
    (a shell, an admin's terminal): `--start` forked by it, or the full
    supervisor, marks every fd close-on-exec (child.prepare_supervisor)
    before it spawns; the lean supervisor's own respawn comes before it
    has built that supervisor."""
    sb = sandbox("ours")
    if sb.exists(FORKSERVER_SOCKET):
        pytest.skip("this sandbox already runs a fork server")
    sb.run("mkdir", "-p", LEAK_DIR, check=True)
    sb.write(LEAK_DIR + "/file", "leaked\n", 0o600)
    sb.spawn("sh", "-c", "exec 7<>%s/file; exec %s" % (LEAK_DIR, shlex.quote(
        our_script("openrc-sv-forkserver"))))
    wait_for(lambda: sb.exists(FORKSERVER_SOCKET), 10, what="fork server socket")
    first = I.start_service(sb, "svc", respawn_delay="0")
    sup = I.supervisor_pid(sb, "svc")
    assert sb.read("/proc/%d/comm" % sup).strip() == "sv-svc"          # served
    assert 7 not in fds_of(sb, first)                                   # the worker's start
    sb.run("kill", "-9", str(first), check=True)
    second = I.wait_daemon(sb, "svc", other_than=first)
    fds = fds_of(sb, second)
    assert sorted(fds) == [0, 1, 2], "the respawned daemon holds %s" % fds
    assert sb.rc("svc", "stop").returncode == 0


@pytest.mark.parametrize("mode", ["direct", "served"])
def test_the_state_after_a_respawn_is_the_same_either_way(sandbox, mode):
    sb = make(sandbox, mode)
    first = I.start_service(sb, "svc", respawn_delay="0", respawn_max="5", respawn_period="60")
    assert sb.value("svc", "start_count") == "0"
    sb.run("kill", "-9", str(first), check=True)
    second = I.wait_daemon(sb, "svc", other_than=first)
    wait_for(lambda: sb.value("svc", "start_count") == "1", 10, what="start_count")
    assert sb.value("svc", "restarts") == "1"
    assert sb.value("svc", "last_exit") == "signal KILL"
    ident = sb.value("svc", "child_ident")
    assert ident and ident.split(":")[0] == str(second)
    assert sb.rc("svc", "stop").returncode == 0
    assert I.daemons(sb) == []


@pytest.mark.parametrize("mode", ["direct", "served"])
def test_a_group_left_behind_at_the_first_exit_is_stopped_either_way(sandbox, mode):
    """command_args_foreground forgotten: the daemon exits 0 and leaves
    its process group running.  The lean supervisor's own respawn handles
    the first such exit; the group must still be the supervisor's to stop."""
    sb = make(sandbox, mode)
    I.install_programs(sb)
    r = sb.run("supervise-daemon", "svc", "--start", "--respawn-delay", "0",
               "--respawn-max", "0", "/bin/sh", "--", "-c",
               "[ -e /run/once ] && exec sleep 2000; touch /run/once; sleep 1000 & exit 0",
               env={"RC_SVCNAME": "svc"})
    assert r.returncode == 0, r.stdout + r.stderr
    wait_for(lambda: [p for p, pp, st, a in sb.ps() if a == "sleep 2000"], 10,
             what="the respawned daemon")
    wait_for(lambda: "forked into the background" in (sb.value("svc", "last_exit") or ""), 10,
             what="the exit 0 with its group left behind, in last_exit")
    assert [p for p, pp, st, a in sb.ps() if a == "sleep 1000"]
    r = sb.run("supervise-daemon", "svc", "--stop", env={"RC_SVCNAME": "svc"})
    assert r.returncode == 0, r.stdout + r.stderr
    wait_for(lambda: not [p for p, pp, st, a in sb.ps() if a in ("sleep 1000", "sleep 2000")
                          and not st.startswith("Z")], 10, what="both groups stopped")
