"""Bad input through rc-service: the start fails with one clear line, and
leaves nothing behind (no process, no control fifo, no pidfile, no options).
"""

import time

import pytest

import initscripts as I
from sandbox import wait_for

pytestmark = pytest.mark.integration

# case: (variables, the bad value, the part of it C names too,
#        the option/variable names a message may use)
BAD = {
    "respawn_delay": (dict(respawn_delay="abc"), "abc", "abc", ("respawn-delay", "respawn_delay")),
    "respawn_max": (dict(respawn_max="-1"), "-1", "-1", ("respawn-max", "respawn_max")),
    "command_user": (dict(command_user="nosuchuser"), "nosuchuser", "nosuchuser", ("user",)),
    "retry": (dict(retry="TERM/bogus"), "TERM/bogus", "bogus", ("retry",)),
    "command_missing": (dict(command="/run/testbin/nosuch"), "/run/testbin/nosuch",
                        "/run/testbin/nosuch", ("command", "nosuch")),
}

# C creates its control fifo before it looks at these, and leaves it behind.
C_LEAVES_FIFO = {"retry", "command_missing"}


def _lines_naming(output, value):
    return [line for line in output.splitlines() if value in line]


def _assert_nothing_left(sb, svc):
    time.sleep(0.2)   # a supervisor that slipped away would show up by now
    assert I.daemons(sb) == [] and I.supervisors(sb, svc) == []
    assert sb.status(svc) == 3
    assert not sb.exists("/run/openrc/started/" + svc)
    assert not sb.exists("/run/supervise-%s.pid" % svc)
    assert sb.listdir("/run/openrc/options/" + svc) == []
    assert sb.listdir("/run/openrc/daemons/" + svc) == []


@pytest.mark.parametrize("case", sorted(BAD))
@pytest.mark.parametrize("supervisor", ["c", "ours"])
def test_bad_input_fails_the_start_and_leaves_nothing_behind(sandbox, supervisor, case):
    variables, _, named_by_both, _ = BAD[case]
    sb = sandbox(supervisor)
    I.install_service(sb, "svc", **variables)
    r = sb.rc("svc", "start")
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    assert _lines_naming(out, named_by_both), out
    _assert_nothing_left(sb, "svc")
    if supervisor == "c" and case in C_LEAVES_FIFO:
        return
    assert not sb.exists("/run/openrc/supervise-svc.ctl")


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_message_is_one_line_naming_option_and_value(sandbox, case):
    """deliberately better than C: C names the value but not always the
    option ("`x' is not a valid signal"); ours names both, on one line."""
    variables, value, _, names = BAD[case]
    sb = sandbox("ours")
    I.install_service(sb, "svc", **variables)
    r = sb.rc("svc", "start")
    out = r.stdout + r.stderr
    lines = _lines_naming(out, value)
    assert len(lines) == 1, out
    assert any(n in lines[0] for n in names), out
    assert "Traceback" not in out


@pytest.mark.parametrize("command", ["/etc/passwd", "/run/testbin"], ids=["not-executable", "directory"])
def test_command_that_cannot_be_executed_fails_the_start(sandbox, command):
    """deliberately better than C: C only checks that the command exists,
    reports the service started, then burns through respawn_max failed execs;
    ours fails the start with the reason."""
    sb = sandbox("ours")
    I.install_service(sb, "svc", command=command)
    r = sb.rc("svc", "start")
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    assert len(_lines_naming(out, command)) == 1, out
    _assert_nothing_left(sb, "svc")
    assert not sb.exists("/run/openrc/supervise-svc.ctl")


@pytest.mark.parametrize("command", ["/etc/passwd", "/run/testbin"], ids=["not-executable", "directory"])
def test_c_reports_a_command_that_cannot_be_executed_as_started(sandbox, command):
    """The C behaviour the test above improves on, pinned: start succeeds,
    the supervisor gives up on its own and marks the service failed."""
    sb = sandbox("c")
    I.install_service(sb, "svc", command=command)
    r = sb.rc("svc", "start")
    assert r.returncode == 0
    # C respawns respawn_max (10) times first, each a fork and exec that
    # a busy machine slows down: the deadline is for a loaded 2-core box,
    # the wait ends as soon as it gives up.
    wait_for(lambda: not I.supervisors(sb, "svc"), 90, what="C's supervisor to give up")
    assert sb.exists("/run/openrc/failed/svc") and sb.status("svc") == 3


# More bad input, ours only (each a one-line error that names the value, and
# nothing left behind): the rest of what the drop-in issue lists.
BAD_OURS = {
    "umask": (dict(umask="999"), "999"),
    "group": (dict(command_user="root:nosuchgroup"), "nosuchgroup"),
    "pidfile_dir": (dict(pidfile="/nonexistent/dir/svc.pid"), "/nonexistent/dir/svc.pid"),
    "healthcheck_timer": (dict(healthcheck_timer="often"), "often"),
    "respawn_period": (dict(respawn_period="-5"), "-5"),
    "retry_signal": (dict(retry="SIGBOGUS/5"), "SIGBOGUS/5"),
}


@pytest.mark.parametrize("case", sorted(BAD_OURS))
def test_more_bad_input_is_one_line_and_leaves_nothing(sandbox, case):
    variables, value = BAD_OURS[case]
    sb = sandbox("ours")
    I.install_service(sb, "svc", **variables)
    r = sb.rc("svc", "start")
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    assert len(_lines_naming(out, value)) == 1, out
    assert "Traceback" not in out
    _assert_nothing_left(sb, "svc")
    assert not sb.exists("/run/openrc/supervise-svc.ctl")


def test_missing_rc_svcname_is_refused_with_nothing_started(sandbox):
    sb = sandbox("ours")
    r = sb.run("supervise-daemon", "svc", "--start", "/bin/sleep", "--", "100")
    assert r.returncode == 1
    assert r.stderr.splitlines() == [
        " * supervise-daemon: RC_SVCNAME is not set: supervise-daemon is run by openrc-run "
        "(or set RC_SVCNAME=SVCNAME and pass SVCNAME first)"]
    assert [p for p, _, _, args in sb.ps() if "sleep 100" in args] == []
    assert not sb.exists("/run/openrc/supervise-svc.ctl")


def test_stop_by_a_user_who_is_not_root_is_one_line_and_stops_nothing(sandbox):
    sb = sandbox("ours")
    pid = I.start_service(sb, "svc")
    sup = I.supervisor_pid(sb, "svc")
    r = sb.run("setpriv", "--reuid", "nobody", "--regid", "nogroup", "--clear-groups",
               "env", "RC_SVCNAME=svc", "supervise-daemon", "svc", "--stop")
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    assert "Traceback" not in out
    assert len([line for line in out.splitlines() if line.strip()]) == 1, out
    assert sb.alive(pid) and sb.alive(sup)
    assert sb.rc("svc", "stop").returncode == 0
