"""A supervisor forked by the fork server stays lean until something
happens (openrc_sv/leanstart.py): its worker reads the request, starts the
daemon and hands the Supervisor over as bytes and fds; the supervisor
only waits, and builds the full Supervisor at its first event.

What must hold: an idle one really has not built it (it owns far fewer
pages than one that has: compared with its twin in the same sandbox, not
with a number); and every kind of first event (a word on the control
fifo, a stop, the daemon's death) is handled as the full supervisor
handles it.  The drop-in's own tests run through the server as well
(OPENRC_SV_TEST_FORKSERVER=1, tools/run test)."""

import sys

import pytest

import initscripts as I
from sandbox import FORKSERVER_SOCKET, wait_for

pytestmark = pytest.mark.integration


def served(sandbox):
    sb = sandbox("ours")
    if not sb.exists("/run/openrc-sv/forkserver.sock"):
        sb.start_forkserver()
    return sb


def private_dirty_kb(sb, pid):
    for line in sb.read("/proc/%d/smaps_rollup" % pid, "").splitlines():
        if line.startswith("Private_Dirty:"):
            return int(line.split()[1])
    raise AssertionError("no smaps_rollup for %d" % pid)


def test_an_idle_supervisor_stays_lean_until_its_first_event(sandbox):
    sb = served(sandbox)
    I.start_service(sb, "idle")
    I.start_service(sb, "woken")
    # Output into a file is copied by the lean supervisor itself: no event.
    logged = I.start_service(sb, "logged", output_log="/run/logged.log")
    wait_for(lambda: "stdout from %d" % logged in sb.read("/run/logged.log", ""), 10,
             what="the daemon's line in its output_log")
    idle, woken = I.supervisor_pid(sb, "idle"), I.supervisor_pid(sb, "woken")
    for svc, pid in (("idle", idle), ("woken", woken)):
        assert sb.read("/proc/%d/comm" % pid).strip() == "sv-" + svc    # the server forked it
    # A word on the control fifo: the first event; the full supervisor
    # handles it (the signal reaches the daemon).
    daemon = I.daemon_pid(sb, "woken")
    r = sb.run("supervise-daemon", "woken", "--signal", "USR1", env={"RC_SVCNAME": "woken"})
    assert r.returncode == 0, r.stdout + r.stderr
    wait_for(lambda: (daemon, "SIGUSR1") in I.signals(sb, "woken"), 10,
             what="SIGUSR1 through the fifo of a lean supervisor")
    # Built now: it owns its Supervisor's pages, which the idle twin does
    # not (measured on 3.11: about 1 MB against 2 MB; the margin is half).
    wait_for(lambda: private_dirty_kb(sb, woken) - private_dirty_kb(sb, idle) > 400, 10,
             what="the woken supervisor to own more pages than the idle one")
    assert private_dirty_kb(sb, woken) - private_dirty_kb(sb, I.supervisor_pid(sb, "logged")) > 400
    # The idle ones are still whole: a stop is their first event.
    for svc in ("idle", "woken", "logged"):
        r = sb.rc(svc, "stop")
        assert r.returncode == 0, r.stdout + r.stderr
        assert sb.status(svc) == 3
    assert I.daemons(sb) == [] and I.supervisors(sb, "idle") == [] == I.supervisors(sb, "woken")
    assert "stdout from %d" % logged in sb.read("/run/logged.log")
    assert not sb.exists("/run/supervise-idle.pid") and not sb.exists("/run/openrc/options/idle/child_pid")


def test_a_lean_supervisor_respawns_a_daemon_that_died(sandbox):
    sb = served(sandbox)
    first = I.start_service(sb, "svc", respawn_delay="0")
    sup = I.supervisor_pid(sb, "svc")
    sb.run("kill", "-9", str(first), check=True)
    second = I.wait_daemon(sb, "svc", other_than=first)
    assert I.daemons(sb) == [(second, sup)]
    assert sb.value("svc", "child_pid") == str(second)
    assert sb.value("svc", "restarts") == "1"
    assert sb.rc("svc", "stop").returncode == 0
    assert I.daemons(sb) == []


def test_a_stop_right_after_the_start_leaves_nothing(sandbox):
    """The stop may reach the supervisor before its worker has handed the
    Supervisor over: the signal waits on its pipe and is handled once it has."""
    sb = served(sandbox)
    I.install_service(sb, "svc")
    r = sb.run("sh", "-c", "rc-service svc start && rc-service svc stop")
    assert r.returncode == 0, r.stdout + r.stderr
    assert sb.status("svc") == 3
    assert I.daemons(sb) == [] and I.supervisors(sb, "svc") == []
    assert sb.value("svc", "child_pid") is None
    assert not sb.exists("/run/supervise-svc.pid") and not sb.exists("/run/openrc/supervise-svc.ctl")


def test_a_daemon_that_cannot_run_fails_the_start_as_without_the_server(sandbox):
    out = {}
    for mode in ("direct", "served"):
        sb = sandbox("ours") if mode == "direct" else served(sandbox)
        I.install_service(sb, "svc", command="/nonexistent/daemon")
        r = sb.rc("svc", "start")
        out[mode] = (r.returncode != 0, [l for l in (r.stdout + r.stderr).splitlines()
                                         if "nonexistent" in l])
        assert I.supervisors(sb, "svc") == [] and I.daemons(sb) == []
        assert not sb.exists("/run/supervise-svc.pid")
        assert not sb.exists("/run/openrc/supervise-svc.ctl")
    assert out["served"] == out["direct"] and out["direct"][0] and out["direct"][1]


def test_ps_shows_the_supervisor_as_supervise_daemon_of_its_service(sandbox):
    sb = served(sandbox)
    I.start_service(sb, "svc")
    sup = I.supervisor_pid(sb, "svc")
    words = sb.read("/proc/%d/cmdline" % sup).split("\0")
    lead = [i for i, w in enumerate(words) if w.endswith("supervise-daemon")]
    assert lead and words[lead[0] + 1:lead[0] + 3] == ["svc", "--start"], words
    assert I.supervisors(sb, "svc") == [sup]
    assert sb.rc("svc", "stop").returncode == 0


def test_without_a_subreaper_the_supervisor_starts_its_daemon_itself(sandbox):
    """Where the kernel will not make the supervisor a subreaper (a seccomp
    filter may forbid prctl), a daemon its worker started would go to
    init: the supervisor starts it itself, as `--start` would."""
    sb = sandbox("ours")
    if sb.exists(FORKSERVER_SOCKET):
        pytest.skip("this sandbox already runs a fork server")
    code = ("import sys; from openrc_sv import subreaper; subreaper.set = lambda on: False; "
            "from openrc_sv.forkserver import main; sys.argv[0] = 'openrc-sv-forkserver'; "
            "sys.exit(main())")
    sb.spawn(sys.executable, "-c", code)
    wait_for(lambda: sb.exists(FORKSERVER_SOCKET), 10, what="fork server socket")
    first = I.start_service(sb, "svc")
    sup = I.supervisor_pid(sb, "svc")
    assert sb.read("/proc/%d/comm" % sup).strip() == "sv-svc"       # the server forked it
    assert I.daemons(sb) == [(first, sup)]
    sb.run("kill", "-9", str(first), check=True)
    second = I.wait_daemon(sb, "svc", other_than=first)
    assert I.daemons(sb) == [(second, sup)]
    assert sb.rc("svc", "stop").returncode == 0
    assert I.daemons(sb) == [] and I.supervisors(sb, "svc") == []


def test_a_large_environment_reaches_the_daemon_through_the_hand_off(sandbox):
    """The hand-off carries the request's environment in one message: one
    of 600 kB (more than a socket buffer holds by default) gets there."""
    sb = served(sandbox)
    # (One string may be at most 128 kB long: six of 100 kB.)
    big = {"OPENRC_SV_TEST_BIG%d" % i: str(i) * 100000 for i in range(6)}
    I.install_service(sb, "svc")
    env = dict(big, RC_SVCNAME="svc")
    r = sb.run("supervise-daemon", "svc", "--start", I.DAEMON, "--", I.statedir("svc"), env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    daemon = I.wait_daemon(sb, "svc")
    got = I.environ(sb, "svc", daemon)
    assert {k: got.get(k) for k in big} == big
    assert sb.read("/proc/%d/comm" % I.supervisor_pid(sb, "svc")).strip() == "sv-svc"
    r = sb.run("supervise-daemon", "svc", "--stop", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert I.daemons(sb) == []


@pytest.mark.parametrize("given", [None, "C.UTF-8"], ids=["not-given", "given"])
def test_the_daemons_lc_ctype_is_the_same_with_and_without_the_server(sandbox, given):
    """PEP 538: our interpreter sets LC_CTYPE for itself in a C locale; the
    daemon must get it only if the init script gave it.  A served
    supervisor cannot tell that from its own /proc/self/environ (the
    server's): the worker reads the client's."""
    functions = "export LC_CTYPE=%s\nunset LC_ALL LANG" % given if given else "unset LC_CTYPE LC_ALL LANG"
    seen = {}
    for mode in ("direct", "served"):
        sb = sandbox("ours") if mode == "direct" else served(sandbox)
        if mode == "direct" and sb.exists(FORKSERVER_SOCKET):
            pytest.skip("this sandbox runs a fork server")
        daemon = I.start_service(sb, "svc", functions=functions)
        # As exec gave it (the test daemon, Python too, coerces its own).
        env = dict(item.split("=", 1) for item in
                   sb.read("/proc/%d/environ" % daemon, "").split("\0") if "=" in item)
        seen[mode] = env.get("LC_CTYPE")
        assert sb.rc("svc", "stop").returncode == 0
    assert seen["served"] == seen["direct"] == given, seen


def test_every_daemon_killed_at_once_comes_back_as_without_the_server(sandbox):
    """A lean supervisor whose first event is its daemon's death respawns
    it before it builds its Supervisor (leanstart.respawn_first): what
    OpenRC and the daemon see is what a supervisor forked by --start gives."""
    seen = {}
    for mode in ("direct", "served"):
        sb = sandbox("ours") if mode == "direct" else served(sandbox)
        svcs = ["a", "b", "c"]
        first = {s: I.start_service(sb, s, output_log="/run/%s.log" % s) for s in svcs}
        sups = {s: I.supervisor_pid(sb, s) for s in svcs}
        sb.run("kill", "-9", *[str(p) for p in first.values()], check=True)
        for s in svcs:
            second = I.wait_daemon(sb, s, other_than=first[s])
            assert (second, sups[s]) in I.daemons(sb)
            # Its output still goes where the first one's went.
            wait_for(lambda: "stdout from %d" % second in sb.read("/run/%s.log" % s, ""), 10,
                     what="the respawned daemon's line in its output_log")
            assert I.environ(sb, s, second) == I.environ(sb, s, first[s])
            assert I.words(sb, s, second) == I.words(sb, s, first[s])
        seen[mode] = {(k, sb.value("a", k)) for k in ("restarts", "start_count", "last_exit")}
        # The supervisor goes on as the full one: a second death, a stop.
        again = I.daemon_pid(sb, "a")
        sb.run("kill", "-9", str(again), check=True)
        I.wait_daemon(sb, "a", other_than=again)
        assert sb.value("a", "restarts") == "2"
        for s in svcs:
            assert sb.rc(s, "stop").returncode == 0
        assert I.daemons(sb) == []
    assert seen["served"] == seen["direct"]
    assert ("restarts", "1") in seen["direct"] and ("last_exit", "signal KILL") in seen["direct"]


def test_a_stop_as_the_daemon_dies_leaves_nothing(sandbox):
    """SIGTERM to the supervisor just after its daemon died: whichever the
    lean supervisor saw first, the respawn it may have made is stopped too."""
    sb = served(sandbox)
    for i in range(6):
        svc = "race%d" % i
        first = I.start_service(sb, svc)
        sup = I.supervisor_pid(sb, svc)
        # Both in one process, a hair apart; odd rounds the other way round.
        order = ["kill -KILL %d" % first, "kill -TERM %d" % sup]
        sb.run("sh", "-c", "; ".join(order if i % 2 == 0 else order[::-1]), check=True)
        wait_for(lambda: I.supervisors(sb, svc) == [], 20, what="the supervisor to exit")
        wait_for(lambda: I.daemons(sb) == [], 20, what="no daemon left")
        assert not sb.exists("/run/supervise-%s.pid" % svc)


def test_a_second_death_while_the_supervisor_settles_is_respawned_too(sandbox):
    """After a lean supervisor's own respawn it builds its Supervisor only
    once something happens or leanstart.SETTLE has passed: the respawned
    daemon dying in that time is such a thing."""
    sb = served(sandbox)
    first = I.start_service(sb, "svc")
    sup = I.supervisor_pid(sb, "svc")
    sb.run("kill", "-9", str(first), check=True)
    # The daemon's own record, written before the supervisor's state is.
    second = wait_for(lambda: (I.daemon_pid(sb, "svc") or first) != first and I.daemon_pid(sb, "svc"),
                      10, what="the respawned daemon")
    sb.run("kill", "-9", str(second), check=True)
    third = I.wait_daemon(sb, "svc", other_than=second)
    assert third != first and I.daemons(sb) == [(third, sup)]
    wait_for(lambda: sb.value("svc", "restarts") == "2", 10, what="restarts=2")
    assert [p for p, _ in I.starts(sb, "svc")] == [first, second, third]
    assert sb.rc("svc", "stop").returncode == 0
    assert I.daemons(sb) == []
