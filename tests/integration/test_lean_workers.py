"""A supervisor forked by the fork server starts its daemon and loggers
from short-lived workers (openrc_sv/worker.py): OpenRC and the daemon must
not see the difference.  The daemon and the logger are the supervisor's
own children, child_pid/child_ident name the live daemon after every
respawn, nothing is left as a zombie, and a command that cannot run fails
the start with the same one line as without workers."""

import pytest

import initscripts as I
from sandbox import our_script, wait_for

pytestmark = pytest.mark.integration

SOCK = "/run/openrc-sv/forkserver.sock"


def start_server(sb):
    server = sb.spawn(our_script("openrc-sv-forkserver"), "--socket", SOCK)
    wait_for(lambda: sb.exists(SOCK), 10, what="fork server socket")
    return server


def stat(sb, pid):
    r = sb.run("cat", "/proc/%d/stat" % pid)
    assert r.returncode == 0, r.stderr
    return r.stdout.rsplit(")", 1)[1].split()


def children(sb, pid):
    """[(pid, state)] of pid's children."""
    return [(p, st) for p, ppid, st, _ in sb.ps() if ppid == pid]


def test_served_daemon_and_logger_are_the_supervisors_children_across_respawns(sandbox):
    sb = sandbox("ours")
    server = start_server(sb)
    log = "/run/svc.log"
    first = I.start_service(sb, "svc", supervise_daemon_args="--stdout-logger '%s %s'"
                            % (I.LOGGER, log))
    sup = I.supervisor_pid(sb, "svc")
    assert sb.read("/proc/%d/comm" % sup).strip() == "sv-svc"       # the server forked it
    wait_for(lambda: "stdout from %d" % first in sb.read(log, ""), 5, what="the first line logged")
    logger = int(sb.read(log + ".pids").split()[0])
    shell = int(stat(sb, logger)[1])            # OpenRC's `sh -c LOGGER`
    for pid in (first, shell):
        assert int(stat(sb, pid)[1]) == sup
    for n in range(3):
        daemon = I.daemon_pid(sb, "svc")
        sb.run("kill", "-9", str(daemon), check=True)
        new = I.wait_daemon(sb, "svc", other_than=daemon)
        assert int(stat(sb, new)[1]) == sup
        assert sb.value("svc", "child_ident") == "%d:%s" % (new, stat(sb, new)[19])
        wait_for(lambda: "stdout from %d" % new in sb.read(log, ""), 5, what="the line after respawn")
    # The workers are gone, reaped; so is every daemon killed above.
    wait_for(lambda: sorted(p for p, _ in children(sb, sup)) == sorted([new, shell]), 5,
             what="only the daemon and the logger under the supervisor")
    assert [st for _, st in children(sb, sup) if st.startswith("Z")] == []
    assert sb.read(log + ".pids").split() == [str(logger)]
    assert sb.rc("svc", "stop").returncode == 0
    wait_for(lambda: not sb.alive(sup), 10, what="supervisor exit")
    assert I.daemons(sb) == []
    server.kill()


def test_served_command_that_cannot_be_executed_fails_the_start_in_one_line(sandbox):
    """A program whose interpreter is missing passes --start's checks and
    fails at exec, in the worker: the start fails with exec's reason."""
    sb = sandbox("ours")
    server = start_server(sb)
    command = I.BIN + "/badinterp"
    I.install_service(sb, "svc", command=command)
    sb.write(command, "#!/nonexistent/interpreter\n", 0o755)
    r = sb.rc("svc", "start")
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    lines = [line for line in out.splitlines()
             if "unable to exec '%s': No such file or directory" % command in line]
    assert len(lines) == 1, out
    assert "Traceback" not in out
    wait_for(lambda: not sb.exists("/run/supervise-svc.pid"), 5, what="no pidfile")
    assert not sb.exists("/run/openrc/supervise-svc.ctl")
    assert sb.listdir("/run/openrc/options/svc") == []
    # The server is still there, and the next start through it works.
    I.install_service(sb, "svc2")
    assert sb.rc("svc2", "start").returncode == 0
    assert sb.read("/proc/%d/comm" % I.supervisor_pid(sb, "svc2")).strip() == "sv-svc2"
    assert sb.rc("svc2", "stop").returncode == 0
    server.kill()


def test_served_supervisor_stopped_right_after_a_respawn_leaves_nothing(sandbox):
    """SIGTERM while a worker may be starting the next daemon: the stop is
    handled once the start is over, and stops the new daemon."""
    sb = sandbox("ours")
    server = start_server(sb)
    first = I.start_service(sb, "svc", respawn_delay="0")
    sup = I.supervisor_pid(sb, "svc")
    sb.run("sh", "-c", "kill -9 %d; kill -TERM %d" % (first, sup), check=True)
    wait_for(lambda: not sb.alive(sup), 10, what="supervisor exit")
    wait_for(lambda: I.daemons(sb) == [], 10, what="no daemon left")
    server.kill()
