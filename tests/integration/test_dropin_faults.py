"""Ordinary faults an administrator meets, through rc-service and our
supervise-daemon (issue 8): a logger that cannot run, a full /run, and a
daemon that forks into the background.  Ours only: each is a place where
ours is deliberately better than OpenRC's C supervisor."""

import pytest

import initscripts as I
from sandbox import wait_for

pytestmark = pytest.mark.integration

BIGOUT = r'''#!/usr/bin/python3
import os, signal, sys
state = sys.argv[1]
me = os.getpid()
with open(os.path.join(state, "pid"), "w") as f:
    f.write(str(me))
line = b"x" * 1023 + b"\n"
for _ in range(int(sys.argv[2])):
    os.write(1, line)                 # blocks for ever if nobody drains
with open(os.path.join(state, "done.%d" % me), "w") as f:
    f.write("done")
while True:
    signal.pause()
'''


def _script(svc, command, command_args, extra=""):
    return ("#!/sbin/openrc-run\nsupervisor=supervise-daemon\ncommand=%s\ncommand_args=%s\n%s\n"
            % (command, command_args, extra))


def _install_bigout(sb, svc, kib, extra):
    I.install_programs(sb)
    sb.write(I.BIN + "/bigout", BIGOUT, 0o755)
    d = I.statedir(svc)
    sb.run("mkdir", "-p", "-m", "0777", d, check=True)
    sb.install_script(svc, _script(svc, I.BIN + "/bigout", "'%s %d'" % (d, kib), extra))
    return d


def test_a_logger_that_cannot_run_never_blocks_the_daemon(sandbox):
    """output_logger=/nonexistent: the daemon still writes 512 KiB (eight
    pipes full) and goes on; SIGUSR1 and "reopen" leave it running."""
    sb = sandbox("ours")
    d = _install_bigout(sb, "svc", 512, "supervise_daemon_args='--stdout-logger /nonexistent'")
    r = sb.rc("svc", "start")
    assert r.returncode == 0, r.stdout + r.stderr
    pid = wait_for(lambda: I.daemon_pid(sb, "svc"), 20, what="the daemon")
    wait_for(lambda: sb.exists("%s/done.%d" % (d, pid)), 30,
             what="the daemon to get its 512 KiB through")
    sup = I.supervisor_pid(sb, "svc")
    sb.run("kill", "-USR1", str(sup), check=True)
    sb.run("sh", "-c", "printf reopen > /run/openrc/supervise-svc.ctl", check=True)
    sb.run("kill", "-USR1", str(sup), check=True)
    # The fifo is read in order: a harmless WINCH written after them
    # comes after both reopens.
    sb.run("sh", "-c", "printf 'sig 28' > /run/openrc/supervise-svc.ctl", check=True)
    wait_for(lambda: sb.alive(pid) and sb.alive(sup) and sb.status("svc") == 0, 20,
             what="daemon and supervisor alive after the reopens")
    assert not sb.exists("/run/openrc/failed/svc")
    assert I.daemon_pid(sb, "svc") == pid and sb.alive(sup)


def test_a_logger_that_dies_is_restarted_and_gets_the_lines(sandbox):
    """A logger killed twice in a row comes back; lines the daemon writes
    while a logger runs all reach it."""
    sb = sandbox("ours")
    log = "/run/svc.log"
    first = I.start_service(sb, "svc",
                            supervise_daemon_args="--stdout-logger '%s %s'" % (I.LOGGER, log))
    wait_for(lambda: "stdout from %d" % first in sb.read(log, ""), 20, what="the first line")
    for n in (2, 3):
        pids = sb.read(log + ".pids").split()
        sb.run("kill", "-9", pids[-1], check=True)
        wait_for(lambda: len(sb.read(log + ".pids", "").split()) == n
                 and sb.alive(int(sb.read(log + ".pids").split()[-1])), 20,
                 what="logger number %d" % n)
    sb.run("kill", "-9", str(first), check=True)       # a respawn writes a line
    second = I.wait_daemon(sb, "svc", other_than=first, timeout=20)
    wait_for(lambda: "stdout from %d" % second in sb.read(log, ""), 20,
             what="the line written while the third logger runs")


def _fill(sb):
    """Fill the tiny file system under /run/openrc to the last byte."""
    sb.run("sh", "-c", "dd if=/dev/zero of=/run/openrc/zz-fill bs=4096 2>/dev/null; "
           "dd if=/dev/zero of=/run/openrc/zz-fill2 bs=1 2>/dev/null; true")
    r = sb.run("sh", "-c", "echo x > /run/openrc/zz-probe")
    assert r.returncode != 0, "the file system is not full"


def test_a_full_run_does_not_end_supervision(sandbox):
    """ENOSPC on the state files: the crashed daemon is still respawned,
    the supervisor lives on, and once there is room again the state is
    written (child_pid names the new daemon)."""
    sb = sandbox("ours")
    sb.run("sh", "-c", "cp -a /run/openrc /run/openrc.copy && "
           "mount -t tmpfs -o size=256k tmpfs /run/openrc && cp -a /run/openrc.copy/. /run/openrc/",
           check=True)
    first = I.start_service(sb, "svc")
    sup = I.supervisor_pid(sb, "svc")
    _fill(sb)
    sb.run("kill", "-9", str(first), check=True)
    second = wait_for(lambda: (I.daemon_pid(sb, "svc") != first and sb.alive(I.daemon_pid(sb, "svc"))
                               and I.daemon_pid(sb, "svc")), 20, what="a respawn on a full /run")
    assert sb.alive(sup)
    assert sb.value("svc", "child_pid") == str(first)        # could not be written yet
    sb.run("rm", "-f", "/run/openrc/zz-fill", "/run/openrc/zz-fill2", check=True)
    wait_for(lambda: sb.value("svc", "child_pid") == str(second), 30,
             what="the state written once there is room")
    assert sb.alive(sup) and sb.alive(second) and sb.status("svc") == 0
    r = sb.rc("svc", "stop")
    assert r.returncode == 0, r.stdout + r.stderr
    wait_for(lambda: not sb.alive(second) and not sb.alive(sup), 20, what="the stop")


def test_a_daemon_that_forks_away_is_named_and_its_leftovers_stopped(sandbox):
    """No command_args_foreground: the command exits 0 at once and leaves
    its process group behind (OpenRC's C supervisor orphans a copy with
    every respawn).  Ours says so, in the state `openrc-sv status` shows,
    and stop leaves none of the copies."""
    sb = sandbox("ours")
    d = I.statedir("svc")
    sb.run("mkdir", "-p", "-m", "0777", d, check=True)
    sb.install_script("svc", _script(
        "svc", "/bin/sh", "\"-c 'sleep 1000 & echo \\$! >> %s/bg'\"" % d,
        "respawn_max=0\nrespawn_delay=2"))
    r = sb.rc("svc", "start")
    assert r.returncode == 0, r.stdout + r.stderr
    wait_for(lambda: "forked into the background" in (sb.value("svc", "last_exit") or ""), 30,
             what="the fork to be named in last_exit")
    assert "command_args_foreground" in sb.value("svc", "last_exit")
    left = wait_for(lambda: [int(p) for p in sb.read(d + "/bg", "").split()][:2]
                    if len(sb.read(d + "/bg", "").split()) >= 2 else None, 30,
                    what="two copies left behind")
    assert all(sb.alive(p) for p in left)
    sb.rc("svc", "stop")
    wait_for(lambda: not I.supervisors(sb, "svc"), 30, what="the supervisor to end")
    every = [int(p) for p in sb.read(d + "/bg", "").split()]
    wait_for(lambda: not any(sb.alive(p) for p in every), 30,
             what="every copy left behind to be stopped")
