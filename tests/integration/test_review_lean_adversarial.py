"""Adversarial review of the lean served supervisors (leanstart, handoff;
commits 499d6d2, 2b26f01, 27f7df3).  Each test runs the same scenario with
a supervisor forked by `supervise-daemon --start` itself (the reference)
and with one forked by the fork server (lean until its first event); the
served case is expected to behave as the reference does."""

import shutil
import sys
import time

import pytest

import initscripts as I
from sandbox import FORKSERVER_SOCKET, wait_for

pytestmark = pytest.mark.integration

ENV = {"RC_SVCNAME": "svc"}


def make(sandbox, mode):
    sb = sandbox("ours")
    if mode == "served" and not sb.exists(FORKSERVER_SOCKET):
        sb.start_forkserver()
    if mode == "direct" and sb.exists(FORKSERVER_SOCKET):
        pytest.skip("this sandbox runs a fork server")
    return sb


def modes(was):
    """Both ways of forking the supervisor; `was`: the bug the review found
    in the served one (fixed since)."""
    return pytest.mark.parametrize("mode", ["direct", "served"])


# -- 1. the output file is opened again at the lean supervisor's first event --------

@modes("adopt_supervisor builds a new OutputPipes, which reopens --stdout as the daemon's "
       "user outside any try: a refusal kills the supervisor, the daemon runs on unsupervised")
def test_the_daemons_user_cannot_end_supervision_through_its_log_file(sandbox, mode):
    """The daemon runs as nobody and owns its log directory (as daemons
    usually do).  It swaps its --stdout file for a link to a root-only
    file, then writes a line.  The reference keeps the file it opened at
    the start; the lean supervisor opens it again when it wakes up, is
    refused, and dies: the daemon is init's child, nobody's to respawn."""
    sb = make(sandbox, mode)
    I.install_service(sb, "svc")
    sb.run("sh", "-c", "mkdir -p /run/logs && chown nobody /run/logs", check=True)
    script = ("sleep 2; rm -f /run/logs/out.log; ln -s /etc/shadow /run/logs/out.log; "
              "echo hello; exec sleep 1000")
    r = sb.run("supervise-daemon", "svc", "--start", "--user", "nobody", "--respawn-delay", "0",
               "--stdout", "/run/logs/out.log", "/bin/sh", "--", "-c", script, env=ENV)
    assert r.returncode == 0, r.stdout + r.stderr
    sup = I.supervisor_pid(sb, "svc")
    daemon = wait_for(lambda: [p for p, pp, st, a in sb.ps() if a == "sleep 1000"], 10,
                      what="the daemon to swap its log file")[0]
    time.sleep(1)
    assert sb.alive(sup), "the supervisor died"
    sb.run("kill", "-9", str(daemon), check=True)
    wait_for(lambda: [p for p, pp, st, a in sb.ps() if a.startswith("/bin/sh -c sleep 2")], 10,
             what="a respawn")
    r = sb.run("supervise-daemon", "svc", "--stop", env=ENV)
    assert r.returncode == 0, r.stdout + r.stderr


@modes("the lean supervisor's adoption reopens --stdout: a log directory removed since "
       "the start kills the supervisor and orphans the daemon")
def test_a_log_directory_removed_after_the_start_does_not_end_supervision(sandbox, mode):
    sb = make(sandbox, mode)
    I.install_service(sb, "svc")
    sb.run("mkdir", "-p", "/run/logs", check=True)
    r = sb.run("supervise-daemon", "svc", "--start", "--stdout", "/run/logs/out.log",
               "/bin/sh", "--", "-c", "sleep 2; echo hi; exec sleep 1000", env=ENV)
    assert r.returncode == 0, r.stdout + r.stderr
    sup = I.supervisor_pid(sb, "svc")
    sb.run("rm", "-rf", "/run/logs", check=True)
    daemon = wait_for(lambda: [(p, pp) for p, pp, st, a in sb.ps() if a == "sleep 1000"], 10,
                      what="the daemon's output")[0]
    time.sleep(1)
    assert sb.alive(sup) and daemon[1] == sup, (sup, sb.ps())
    r = sb.run("supervise-daemon", "svc", "--stop", env=ENV)
    assert r.returncode == 0, r.stdout + r.stderr


# -- 2. the start's OK is written after the hand-off --------------------------------

@modes("the worker writes OK after the hand-off; when that write fails (the client is gone) "
       "it exits without undoing the start and the supervisor never learns it: the daemon "
       "stays up although --start never said OK (the reference stops it and leaves nothing)")
def test_a_start_whose_client_died_leaves_nothing(sandbox, mode):
    sb = make(sandbox, mode)
    I.install_service(sb, "svc", flags={"notify-delay": "3"})
    r = sb.run("sh", "-c", "supervise-daemon svc --start --notify fd:3 %s -- %s & p=$!; "
               "sleep 1; kill -9 $p; sleep 5" % (I.DAEMON, I.statedir("svc")), env=ENV)
    assert r.returncode == 0, r.stdout + r.stderr
    time.sleep(1)
    assert I.daemons(sb) == [] and I.supervisors(sb, "svc") == []
    assert not sb.exists("/run/supervise-svc.pid")
    assert sb.value("svc", "child_pid") is None


# -- 3. the requester's ignored signals reach the lean supervisor ------------------

IGNORING = ("import os, signal, sys; "
            "[signal.signal(getattr(signal, s), signal.SIG_IGN) for s in sys.argv[1].split(',')]; "
            "os.execvp(sys.argv[2], sys.argv[2:])")


def start_ignoring(sb, signals, *options):
    I.install_service(sb, "svc")
    r = sb.run(sys.executable, "-c", IGNORING, signals, "supervise-daemon", "svc", "--start",
               *options, I.DAEMON, "--", I.statedir("svc"), env=ENV)
    assert r.returncode == 0, r.stdout + r.stderr
    return I.wait_daemon(sb, "svc")


@modes("take_own gives the lean supervisor the requester's SIG_IGN for SIGCHLD (Context "
       "compares with the worker's dispositions): the kernel reaps the daemon, no SIGCHLD, "
       "no respawn; the adopted supervisor then still names the dead (reusable) pid")
def test_a_requester_ignoring_sigchld_does_not_stop_respawns(sandbox, mode):
    sb = make(sandbox, mode)
    first = start_ignoring(sb, "SIGCHLD", "--respawn-delay", "0")
    sb.run("kill", "-9", str(first), check=True)
    I.wait_daemon(sb, "svc", other_than=first)
    r = sb.run("supervise-daemon", "svc", "--stop", env=ENV)
    assert r.returncode == 0, r.stdout + r.stderr


@modes("take_own gives the lean supervisor the requester's SIG_IGN for SIGTERM: --stop's "
       "SIGTERM is lost, the stop waits 20 s and SIGKILLs the supervisor")
def test_a_requester_ignoring_sigterm_does_not_slow_the_stop(sandbox, mode):
    sb = make(sandbox, mode)
    start_ignoring(sb, "SIGTERM")
    t0 = time.monotonic()
    r = sb.run("supervise-daemon", "svc", "--stop", env=ENV, timeout=120)
    took = time.monotonic() - t0
    assert r.returncode == 0, r.stdout + r.stderr
    assert "did not stop" not in r.stdout + r.stderr
    assert took < 10 and I.daemons(sb) == []


# -- 4. respawns after the adoption ----------------------------------------------

@modes("lean_adopt builds child.Prepared before adopt_supervisor sets sup.fast, so "
       "Prepared.fast is False: every respawn forks and builds a Setup instead of posix_spawn")
def test_a_respawn_after_adoption_uses_posix_spawn(sandbox, mode):
    if shutil.which("strace") is None:
        pytest.skip("needs strace")
    sb = make(sandbox, mode)
    first = I.start_service(sb, "svc", respawn_delay="0")
    sup = I.supervisor_pid(sb, "svc")
    # Wake a lean supervisor first (the reference is awake anyway).
    sb.run("supervise-daemon", "svc", "--signal", "USR2", env=ENV, check=True)
    wait_for(lambda: (first, "SIGUSR2") in I.signals(sb, "svc"), 10, what="SIGUSR2")
    sb.spawn("strace", "-f", "-o", "/run/strace.out", "-e", "trace=clone,clone3,vfork", "-p", str(sup))
    wait_for(lambda: sb.exists("/run/strace.out"), 10, what="strace")
    time.sleep(0.5)
    sb.run("kill", "-9", str(first), check=True)
    I.wait_daemon(sb, "svc", other_than=first)
    wait_for(lambda: "clone" in sb.read("/run/strace.out", ""), 10, what="the respawn's clone")
    sb.run("sh", "-c", "kill -INT $(pidof strace)")
    trace = sb.read("/run/strace.out", "")
    assert "CLONE_VFORK" in trace, trace
    assert sb.rc("svc", "stop").returncode == 0
