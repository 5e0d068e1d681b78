"""The daemon's output (output_log/error_log, --stdout-logger) and its
readiness (--notify fd:N), through rc-service.

OpenRC 0.45's supervise-daemon.sh knows neither output_logger nor notify, so
the tests pass those through supervise_daemon_args, which it evals like the
rest of the command line.
"""

import os
import stat

import pytest

import initscripts as I
from sandbox import wait_for

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("supervisor", ["c", "ours"])
def test_output_and_error_log_receive_the_daemon_output_across_respawns(sandbox, supervisor):
    sb = sandbox(supervisor)
    first = I.start_service(sb, "svc", output_log="/run/svc.out", error_log="/run/svc.err")
    wait_for(lambda: "from %d" % first in sb.read("/run/svc.err", ""), 5, what="stderr in error_log")
    sb.run("kill", "-9", str(first), check=True)
    second = I.wait_daemon(sb, "svc", other_than=first)
    wait_for(lambda: "from %d" % second in sb.read("/run/svc.err", ""), 5, what="stderr after respawn")
    assert sb.read("/run/svc.out") == "stdout from %d\nstdout from %d\n" % (first, second)
    assert sb.read("/run/svc.err") == "stderr from %d\nstderr from %d\n" % (first, second)
    for log in ("/run/svc.out", "/run/svc.err"):
        assert stat.S_IMODE(os.stat(sb.host_path(log)).st_mode) == 0o600


def test_output_logger_is_kept_across_respawns(sandbox):
    """deliberately better than C: upstream OpenRC starts a new logger with
    every respawn (and 0.45 has none); ours keeps one logger for the life of
    the supervisor, so lines before and after a crash reach the same one."""
    sb = sandbox("ours")
    log = "/run/svc.log"
    first = I.start_service(
        sb, "svc", supervise_daemon_args="--stdout-logger '%s %s'" % (I.LOGGER, log))
    wait_for(lambda: "stdout from %d" % first in sb.read(log, ""), 5, what="the first line logged")
    logger = int(sb.read(log + ".pids").split()[0])
    assert sb.alive(logger)
    sb.run("kill", "-9", str(first), check=True)
    second = I.wait_daemon(sb, "svc", other_than=first)
    wait_for(lambda: "stdout from %d" % second in sb.read(log, ""), 5, what="the line after respawn")
    assert sb.read(log) == "stdout from %d\nstdout from %d\n" % (first, second)
    assert sb.read(log + ".pids").split() == [str(logger)] and sb.alive(logger)


def test_notify_fd_start_returns_once_the_daemon_is_ready(sandbox):
    """--notify fd:3: the start waits for the daemon's newline on fd 3 (an
    upstream option C 0.45 lacks)."""
    sb = sandbox("ours")
    I.install_service(sb, "svc", flags={"notify-delay": "1"}, supervise_daemon_args="--notify fd:3")
    r, took = I.stopwatch(sb.rc, "svc", "start")
    assert r.returncode == 0, r.stdout + r.stderr
    daemon = I.daemon_pid(sb, "svc")
    assert daemon and sb.exists("%s/ready.%d" % (I.statedir("svc"), daemon))
    assert took >= 1.0
    assert sb.status("svc") == 0
    assert sb.value("svc", "child_pid") == str(daemon)


def test_notify_fd_start_fails_when_the_daemon_never_becomes_ready(sandbox):
    """--notify fd:3 with our --notify-timeout 1: a daemon that never writes
    its newline fails the start after the timeout, and is not left running."""
    sb = sandbox("ours")
    I.install_service(sb, "svc", supervise_daemon_args="--notify fd:3 --notify-timeout 1")
    r, took = I.stopwatch(sb.rc, "svc", "start")
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    assert 1.0 <= took < 10.0
    assert [line for line in out.splitlines() if "ready" in line.lower() or "notif" in line.lower()], out
    wait_for(lambda: not I.daemons(sb) and not I.supervisors(sb, "svc"), 5,
             what="the never-ready daemon and its supervisor to be gone")
    assert sb.status("svc") == 3
    assert not sb.exists("/run/openrc/supervise-svc.ctl")
    assert sb.listdir("/run/openrc/options/svc") == []
