"""Our supervise-daemon as a drop-in for OpenRC's: start, status, stop.

Each scenario runs through the real rc-service/openrc-run with an init
script that says supervisor=supervise-daemon, once with OpenRC's C binary
("c") and once with ours linked in its place ("ours"), and the two must
behave the same.  Tests that run only "ours" say in their docstring how ours
is deliberately better than C.
"""

import os
import re
import stat

import pytest

import initscripts as I
from sandbox import wait_for

pytestmark = pytest.mark.integration

BOTH = pytest.mark.parametrize("supervisor", ["c", "ours"])


def _observe_started(sb, svc):
    """What a started service looks like, with pids replaced by their roles."""
    daemon = I.wait_daemon(sb, svc)
    sup = I.supervisor_pid(sb, svc)
    options = {k: sb.value(svc, k) for k in sb.listdir("/run/openrc/options/" + svc)}
    shape = {
        "option_keys": sorted(options),
        "child_pid_is_daemon": options.get("child_pid") == str(daemon),
        "start_time_format": bool(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d",
                                               options.get("start_time", ""))),
        "options": {k: v for k, v in options.items() if k not in ("child_pid", "start_time")},
        "daemons": {n: sb.read("/run/openrc/daemons/%s/%s" % (svc, n))
                    for n in sb.listdir("/run/openrc/daemons/" + svc)},
        "supervisors": I.supervisors(sb, svc) == [sup],
        "daemon_processes": [(pid == daemon, ppid == sup) for pid, ppid in I.daemons(sb)],
    }
    return shape


@BOTH
def test_start_reports_started_and_stop_removes_every_trace(sandbox, supervisor):
    sb = sandbox(supervisor)
    daemon = I.start_service(sb, "svc")
    sup = I.supervisor_pid(sb, "svc")
    assert sb.status("svc") == 0
    assert sup and sb.alive(sup)
    assert I.supervisors(sb, "svc") == [sup]
    assert I.daemons(sb) == [(daemon, sup)], "one daemon, a child of the supervisor"

    r = sb.rc("svc", "stop")
    assert r.returncode == 0, r.stdout + r.stderr
    assert sb.status("svc") == 3
    assert I.daemons(sb) == [] and I.supervisors(sb, "svc") == []
    assert not sb.alive(daemon) and not sb.alive(sup)
    assert (daemon, "SIGTERM") in I.signals(sb, "svc")
    assert not sb.exists("/run/openrc/supervise-svc.ctl")
    assert not sb.exists("/run/supervise-svc.pid")
    assert not sb.exists("/run/openrc/options/svc")
    assert not sb.exists("/run/openrc/daemons/svc")


def test_state_files_and_process_table_match_c(sandbox):
    """Same init script under both supervisors: every options/ key C writes,
    with the same value (child_pid naming the live daemon), the same
    daemons/SVC/001, one supervisor with one daemon as its child.  Ours may
    keep more keys (they go with options/SVC when the service stops)."""
    seen = {}
    for supervisor in ("c", "ours"):
        sb = sandbox(supervisor)
        I.start_service(sb, "svc", command_args='this "is a" test', respawn_max=7)
        seen[supervisor] = _observe_started(sb, "svc")
        sb.close()
    c, ours = seen["c"], seen["ours"]
    assert c["child_pid_is_daemon"] and c["start_time_format"]
    assert c["daemon_processes"] == [(True, True)] and c["supervisors"]
    missing = sorted(set(c["option_keys"]) - set(ours["option_keys"]))
    assert missing == []
    ours["options"] = {k: v for k, v in ours["options"].items() if k in c["options"]}
    for aspect in ("options", "child_pid_is_daemon", "start_time_format", "daemons",
                   "supervisors", "daemon_processes"):
        # one aspect at a time, so a failure says which
        assert (aspect, ours[aspect]) == (aspect, c[aspect])


@BOTH
@pytest.mark.parametrize("command_args, expected", [
    ('this "is a" test', ["this", "is a", "test"]),
    (r'''"a;b" "\$HOME" "\`id\`" "x > y" 'single' "quote\"inside" "a|b&c"''',
     ["a;b", "$HOME", "`id`", "x > y", "single", 'quote"inside', "a|b&c"]),
], ids=["quoted-words", "hostile"])
def test_command_args_reach_daemon_as_the_same_words(sandbox, supervisor, command_args, expected):
    sb = sandbox(supervisor)
    daemon = I.start_service(sb, "svc", command_args=command_args)
    got = wait_for(lambda: I.words(sb, "svc", daemon), what="the daemon's argv")
    assert got == expected
    argv = [sb.value("svc", "argv_%d" % i) for i in range(int(sb.value("svc", "argc")))]
    assert argv == [I.DAEMON, I.statedir("svc")] + expected
    assert sb.value("svc", "exec") == I.DAEMON


@BOTH
def test_stop_escalates_to_kill_for_a_daemon_that_ignores_term(sandbox, supervisor):
    """retry=TERM/1/KILL/5: TERM, one second, then KILL; the stop returns
    once the supervisor and daemon are gone, without waiting beyond that."""
    sb = sandbox(supervisor)
    daemon = I.start_service(sb, "svc", flags={"ignore-term": ""}, retry="TERM/1/KILL/5")
    sup = I.supervisor_pid(sb, "svc")
    r, took = I.stopwatch(sb.rc, "svc", "stop")
    assert r.returncode == 0, r.stdout + r.stderr
    assert (daemon, "SIGTERM") in I.signals(sb, "svc")
    assert took >= 1.0, "stop returned before the TERM timeout, with the daemon alive"
    assert took < 3.5, "stop took %.1fs: it should return once the daemon is killed" % took
    assert not sb.alive(daemon) and not sb.alive(sup)
    assert sb.status("svc") == 3


@BOTH
def test_daemon_runs_as_command_user_with_a_scrubbed_environment(sandbox, supervisor):
    """command_user=nobody: uid/gid, HOME and USER are nobody's; OpenRC's
    RC_* (except RC_SVCNAME/RC_SERVICE, which C keeps) and SSD_* variables
    do not reach the daemon, and SSD_NICELEVEL is applied."""
    sb = sandbox(supervisor)
    daemon = I.start_service(sb, "svc", command_user="nobody",
                             functions="export SSD_NICELEVEL=5 RC_TESTVAR=leak")
    wait_for(lambda: sb.exists("%s/ids.%d" % (I.statedir("svc"), daemon)))
    assert I.ids(sb, "svc", daemon) == (65534, 65534)
    raw = sb.read("/proc/%d/environ" % daemon)
    env = dict(kv.split("=", 1) for kv in raw.split("\0") if "=" in kv)
    assert env["HOME"] == "/nonexistent" and env["USER"] == "nobody"
    assert set(k for k in env if k.startswith("RC_")) <= {"RC_SVCNAME", "RC_SERVICE"}
    assert not [k for k in env if k.startswith("SSD_")]
    nice = int(sb.read("/proc/%d/stat" % daemon).rsplit(")", 1)[1].split()[16])
    assert nice == 5


def test_daemon_environment_is_cs_without_openrc_variables(sandbox):
    """The daemon's environment under ours is C's, minus OpenRC's own
    variables (RC_*, SSD_*, EINFO_*, SVCNAME) that ours scrubs as well: in
    particular C fills in HOME and USER from the password file when
    openrc-run's environment lacks them."""
    seen = {}
    for supervisor in ("c", "ours"):
        sb = sandbox(supervisor)
        daemon = I.start_service(sb, "svc")
        raw = sb.read("/proc/%d/environ" % daemon)
        seen[supervisor] = dict(kv.split("=", 1) for kv in raw.split("\0") if "=" in kv)
        sb.close()
    openrc_own = ("RC_", "SSD_", "EINFO_")
    expected = {k: v for k, v in seen["c"].items()
                if not k.startswith(openrc_own) and k != "SVCNAME"}
    assert "HOME" in expected and "USER" in expected
    assert seen["ours"] == expected


def test_daemon_environment_has_no_einfo_variables(sandbox):
    """deliberately better than C: C passes openrc-run's EINFO_LOG,
    EINFO_LASTCMD ... on to the daemon; ours scrubs EINFO_* as well."""
    sb = sandbox("ours")
    daemon = I.start_service(sb, "svc")
    raw = sb.read("/proc/%d/environ" % daemon)
    names = [kv.split("=", 1)[0] for kv in raw.split("\0") if kv]
    assert not [n for n in names if n.startswith("EINFO_")]


@BOTH
def test_control_fifo_is_private_to_root(sandbox, supervisor):
    sb = sandbox(supervisor)
    I.start_service(sb, "svc")
    st = os.lstat(sb.host_path("/run/openrc/supervise-svc.ctl"))
    assert stat.S_ISFIFO(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == 0
