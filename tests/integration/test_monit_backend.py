"""The monit backend against a real monit 5.33.

Each test starts a sandbox running `monit -I` with its own control file
(a 1-second poll cycle, the HTTP interface on a unix socket, and
`include /run/openrc-monit/*`), and drives the backend through its Python
API inside the sandbox (_drive_backend.py), so every file and process it
makes lives in the sandbox's private /run.  The daemon is
initscripts.testdaemon, which records its argv, ids, starts and signals.
"""

import json
import os
import sys

import pytest

import initscripts as I
from sandbox import wait_for

pytestmark = pytest.mark.integration

HERE = os.path.dirname(os.path.abspath(__file__))
DRIVER = os.path.join(HERE, "_drive_backend.py")
CONF = "/run/monit/monitrc"
INCLUDE = "/run/openrc-monit"
RUN = "/run/openrc-sv/monit"

MONITRC = """\
set daemon 1
set log /run/monit/monit.log
set pidfile /run/monit/monit.pid
set idfile /run/monit/monit.id
set statefile /run/monit/monit.state
set httpd unixsocket /run/monit/monit.sock allow openrc-sv:test-only
include %s/*
""" % INCLUDE

# Words a shell would love to interpret: each must reach the daemon as is.
HOSTILE = ["two words", "it's", 'say "hi"', "line\nbreak", "$HOME", "`id`", "a;b", "back\\slash", ""]

HEALTH = """
healthcheck() { [ ! -e %(d)s/sick ]; }
unhealthy() { echo ran >> %(d)s/unhealthy-ran; rm -f %(d)s/sick; }
"""


def start_monit(sb, monitrc=MONITRC):
    sb.write(CONF, monitrc, 0o600)      # monit refuses a control file others can read
    sb.spawn("monit", "-I", "-c", CONF)
    wait_for(lambda: monit(sb, "summary").returncode == 0, 10, what="monit to answer")


def monit(sb, *args):
    return sb.run("monit", "-c", CONF, "-B", *args)


def monit_knows(sb, name):
    return monit(sb, "status", name).returncode == 0


@pytest.fixture
def msb(sandbox):
    """A sandbox with monit running."""
    sb = sandbox()
    start_monit(sb)
    return sb


def service(sb, svc, args=(), flags=None, functions="", **variables):
    """Install the test daemon and an init script for svc; return the
    backend's input: the variables, the daemon's argv, the functions."""
    I.install_service(sb, svc, flags=flags, functions=functions)
    v = {"command": I.DAEMON, "sv_backend": "monit", "monit_conf": CONF}
    v.update({k: str(x) for k, x in variables.items()})
    return {"script": "/etc/init.d/" + svc, "variables": v,
            "args": [I.statedir(svc)] + list(args),
            "functions": ["healthcheck", "unhealthy"] if functions else []}


def drive(sb, svc, spec, action, *rest):
    r = sb.run(sys.executable, DRIVER, svc, action, *rest,
               env={"DRIVE_MODEL": json.dumps(spec)}, timeout=60)
    assert "Traceback" not in r.stderr, r.stderr
    return r


def start(sb, svc, spec):
    r = drive(sb, svc, spec, "start")
    assert r.returncode == 0, r.stderr
    return wait_for(lambda: _live_daemon(sb, svc), 10, what="%s's daemon" % svc)


def _live_daemon(sb, svc, other_than=None):
    pid = I.daemon_pid(sb, svc)
    return pid if pid and pid != other_than and sb.alive(pid) else None


def status(sb, svc, spec):
    r = drive(sb, svc, spec, "status")
    return json.loads(r.stdout)


def assert_nothing_left(sb, svc):
    assert sb.listdir(INCLUDE) == []
    assert sb.listdir(RUN) == []
    assert I.daemons(sb) == []
    assert not monit_knows(sb, svc)
    assert not monit_knows(sb, svc + "_health")


# -- start, signals, stop ---------------------------------------------------------

def test_start_runs_the_daemon_with_its_exact_argv_user_and_log(msb):
    spec = service(msb, "svc", HOSTILE, command_user="nobody",
                   output_log="/run/teststate/svc/out.log")
    pid = start(msb, "svc", spec)
    assert I.words(msb, "svc", pid) == HOSTILE
    assert I.ids(msb, "svc", pid) == (65534, 65534)
    wait_for(lambda: "stdout from %d" % pid in msb.read("/run/teststate/svc/out.log", ""), 5,
             what="the daemon's output in output_log")
    st = status(msb, "svc", spec)
    assert (st["state"], st["pid"], st["exit_code"]) == ("started", pid, 0)
    assert "Monitored" in monit(msb, "status", "svc").stdout
    # The environment monit gives its programs is not the daemon's.
    assert not [k for k in I.environ(msb, "svc", pid) if k.startswith("MONIT_")]


def test_reload_sends_sighup_and_signal_sends_any_signal(msb):
    spec = service(msb, "svc")
    pid = start(msb, "svc", spec)
    assert drive(msb, "svc", spec, "reload").returncode == 0
    assert drive(msb, "svc", spec, "signal", "USR1").returncode == 0
    wait_for(lambda: I.signals(msb, "svc") == [(pid, "SIGHUP"), (pid, "SIGUSR1")], 5,
             what="SIGHUP then SIGUSR1")
    assert _live_daemon(msb, "svc") == pid


def test_stop_leaves_nothing_behind(msb):
    spec = service(msb, "svc", healthcheck_timer=1, functions=HEALTH % {"d": I.statedir("svc")})
    start(msb, "svc", spec)
    assert monit_knows(msb, "svc_health")
    r = drive(msb, "svc", spec, "stop")
    assert r.returncode == 0, r.stderr
    assert_nothing_left(msb, "svc")
    st = status(msb, "svc", spec)
    assert (st["state"], st["exit_code"]) == ("stopped", 3)


def test_stop_follows_the_retry_schedule_to_kill(msb):
    spec = service(msb, "svc", flags={"ignore-term": ""}, retry="TERM/1/KILL/5")
    pid = start(msb, "svc", spec)
    r = drive(msb, "svc", spec, "stop")
    assert r.returncode == 0, r.stderr
    assert I.signals(msb, "svc") == [(pid, "SIGTERM")]     # then KILL, which it cannot catch
    assert_nothing_left(msb, "svc")


# -- what monit does on its own -----------------------------------------------------

def test_crashed_daemon_is_restarted_by_monit(msb):
    spec = service(msb, "svc")
    first = start(msb, "svc", spec)
    msb.run("kill", "-9", str(first), check=True)
    second = wait_for(lambda: _live_daemon(msb, "svc", other_than=first), 10,
                      what="monit to restart the daemon")
    st = status(msb, "svc", spec)
    assert (st["state"], st["pid"], st["restarts"]) == ("started", second, 1)


def test_respawn_stops_after_respawn_max_within_period(msb):
    """A daemon that exits at once, respawn_max=1: as under supervise-daemon
    it runs respawn_max+1 times, then the service gives up: failed (status
    32 here; OpenRC's own state says stopped and failed), no process left,
    and monit no longer watches it.  (monit waits monit_start_timeout for a
    process that is already dead at each start: 1 second keeps the test
    short.)"""
    spec = service(msb, "svc", flags={"exit-code": "3"}, respawn_max=1, respawn_period=30,
                   monit_start_timeout=1)
    assert drive(msb, "svc", spec, "start").returncode == 0
    wait_for(lambda: status(msb, "svc", spec)["state"] == "failed", 20,
             what="the service to give up")
    st = status(msb, "svc", spec)
    assert st["exit_code"] == 32 and st["pid"] is None
    assert "too many times" in st["monit"]
    wait_for(lambda: "Not monitored" in monit(msb, "status", "svc").stdout, 10,
             what="monit to stop watching the service")
    assert len(I.starts(msb, "svc")) == 1 + 1
    assert I.daemons(msb) == []
    assert msb.exists("/run/openrc/failed/svc")
    assert drive(msb, "svc", spec, "stop").returncode == 0
    assert_nothing_left(msb, "svc")


def test_start_after_monit_stopped_supervising_begins_afresh(msb):
    """What monit does when respawn_max is reached (`stop`), done by hand:
    the service is failed; a new start tears the old one down and starts
    the daemon anew, with its restart count back to 0."""
    spec = service(msb, "svc")
    first = start(msb, "svc", spec)
    assert monit(msb, "stop", "svc").returncode == 0
    wait_for(lambda: status(msb, "svc", spec)["state"] == "failed", 10, what="monit to stop it")
    assert not msb.alive(first)
    second = start(msb, "svc", spec)
    st = status(msb, "svc", spec)
    assert (st["state"], st["pid"], st["restarts"]) == ("started", second, 0)


def test_daemon_survives_a_crash_of_monit_which_then_supervises_it_again(msb):
    """Even a monit killed before it saved its state file (right after the
    start) takes the service over again when init restarts it."""
    spec = service(msb, "svc")
    first = start(msb, "svc", spec)
    monit_pid = int(msb.read("/run/monit/monit.pid"))
    msb.run("kill", "-9", str(monit_pid), check=True)
    wait_for(lambda: not msb.alive(monit_pid), 5, what="monit to exit")
    assert msb.alive(first)
    start_monit(msb)
    wait_for(lambda: status(msb, "svc", spec)["state"] == "started", 10,
             what="the new monit to take the service over")
    msb.run("kill", "-9", str(first), check=True)
    wait_for(lambda: _live_daemon(msb, "svc", other_than=first), 10,
             what="the new monit to restart the daemon")


def test_failing_healthcheck_runs_unhealthy_then_restarts(msb):
    d = I.statedir("svc")
    spec = service(msb, "svc", healthcheck_timer=1, functions=HEALTH % {"d": d})
    first = start(msb, "svc", spec)
    wait_for(lambda: status(msb, "svc", spec)["health"] == "ok", 10, what="a passing check")
    msb.write(d + "/sick", "")
    second = wait_for(lambda: _live_daemon(msb, "svc", other_than=first), 15,
                      what="the restart after a failed health check")
    assert msb.read(d + "/unhealthy-ran") == "ran\n"
    assert not msb.alive(first)
    assert status(msb, "svc", spec)["state"] == "started"
    assert second != first


# -- monit_type=native ---------------------------------------------------------------

NATIVE = """\
check process nat with pidfile /run/nat.pid
  start program = "/bin/sh -c 'setsid sleep 1000 </dev/null >/dev/null 2>&1 & echo $! > /run/nat.pid'"
  stop program = "/bin/sh -c 'kill `cat /run/nat.pid`'"
"""


def test_native_type_uses_the_administrators_own_file(msb):
    msb.write("/etc/conf.d/monit-files/nat", NATIVE)
    spec = {"script": "/etc/init.d/nat", "args": [], "variables": {
        "command": "/bin/sleep", "sv_backend": "monit", "monit_type": "native", "monit_conf": CONF}}
    assert drive(msb, "nat", spec, "start").returncode == 0
    assert msb.read(INCLUDE + "/nat.monitrc") == NATIVE
    pid = int(msb.read("/run/nat.pid"))
    st = status(msb, "nat", spec)
    assert (st["state"], st["pid"]) == ("started", pid)
    assert drive(msb, "nat", spec, "stop").returncode == 0
    wait_for(lambda: not msb.alive(pid), 5, what="monit's stop program")
    assert msb.listdir(INCLUDE) == [] and not monit_knows(msb, "nat")


# -- bad configuration: one clear line, nothing left -------------------------------

def _fails_with_one_line(r, *words):
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 1 and len(lines) == 1, r.stderr
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


def test_start_without_a_running_monit_fails_and_leaves_nothing(sandbox):
    sb = sandbox()
    spec = service(sb, "svc")
    line = _fails_with_one_line(drive(sb, "svc", spec, "start"), "monit is not running", CONF)
    assert "monit -I -c %s" % CONF in line
    assert sb.listdir(INCLUDE) == [] and sb.listdir(RUN) == [] and I.daemons(sb) == []


@pytest.mark.parametrize("variables, words", [
    ({"monit_type": "native"}, ("monit_type=native", "/etc/conf.d/monit-files/svc")),
    ({"monit_run_dir": "/run/x\ny"}, ("monit_run_dir",)),
    ({"command": "/run/testbin/nosuch"}, ("/run/testbin/nosuch",)),
    # The launcher fails; monit still waits its start timeout for a process.
    ({"directory": "/nonexistent", "monit_start_timeout": "1"}, ("chdir", "/nonexistent")),
], ids=["native-file-missing", "newline-in-run-dir", "command-missing",
        "directory-missing"])
def test_bad_configuration_fails_with_one_line_and_leaves_nothing(msb, variables, words):
    spec = service(msb, "svc", **variables)
    _fails_with_one_line(drive(msb, "svc", spec, "start"), *words)
    assert_nothing_left(msb, "svc")


def test_native_file_without_the_services_check_is_refused(msb):
    msb.write("/etc/conf.d/monit-files/nat", NATIVE.replace("check process nat", "check process other"))
    spec = {"script": "/etc/init.d/nat", "args": [], "variables": {
        "command": "/bin/sleep", "sv_backend": "monit", "monit_type": "native", "monit_conf": CONF}}
    _fails_with_one_line(drive(msb, "nat", spec, "start"), "no check named 'nat'", "monit_name")
    assert msb.listdir(INCLUDE) == [] and not monit_knows(msb, "other")


def test_monit_without_our_include_is_named_in_the_error(sandbox):
    sb = sandbox()
    start_monit(sb, MONITRC.replace("include %s/*" % INCLUDE, ""))
    spec = service(sb, "svc")
    _fails_with_one_line(drive(sb, "svc", spec, "start"), "include %s/*" % INCLUDE, CONF)
    assert_nothing_left(sb, "svc")
