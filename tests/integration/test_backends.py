"""One init script, three backends, the same behaviour through rc-service.

The plugin is installed with `openrc-sv setup --plugin`; a real runsvdir
and a real monit run in the sandbox; conf.d picks the backend with
sv_backend=.  Every assertion below holds for native, runit and monit alike.
"""

import json
import re
import shlex

import pytest

import initscripts as I
from sandbox import wait_for

pytestmark = pytest.mark.integration

BACKENDS = ["native", "runit", "monit"]
MONITRC = """\
set daemon 1
set pidfile /run/monit/monit.pid
set idfile /run/monit/monit.id
set statefile /run/monit/monit.state
set httpd unixsocket /run/monit/monit.sock allow openrc-sv:test-only
include /run/openrc-monit/*
"""
HOSTILE = ["two  spaces", "it's", 'say "hi"', "$HOME", "`id`", "a;b", "x > y"]


def world(sb, backend):
    """What each backend needs running: a runsvdir, or a monit."""
    r = sb.run("openrc-sv", "setup", "--plugin")
    assert r.returncode == 0, r.stdout + r.stderr
    I.install_programs(sb)
    if backend == "runit":
        sb.run("mkdir", "-p", "/run/openrc/sv", check=True)
        sb.spawn("runsvdir", "-P", "/run/openrc/sv")
    elif backend == "monit":
        sb.run("mkdir", "-p", "/run/monit", "/run/openrc-monit", check=True)
        sb.write("/run/monit/monitrc", MONITRC, 0o600)
        sb.spawn("monit", "-I", "-c", "/run/monit/monitrc")
        wait_for(lambda: sb.run("monit", "-c", "/run/monit/monitrc", "summary").returncode == 0,
                 10, what="monit to answer")


def install(sb, backend, svc, args=(), functions="", flags=None, **variables):
    d = I.statedir(svc)
    sb.run("mkdir", "-p", "-m", "0777", d, check=True)
    for name, value in (flags or {}).items():
        sb.write("%s/%s" % (d, name), value)
    words = " ".join(shlex.quote(w) for w in [d] + list(args))
    lines = ["#!/sbin/openrc-run", "supervisor=openrc-sv", "command=%s" % I.DAEMON,
             "command_args=%s" % shlex.quote(words), "extra_started_commands=reload"]
    lines += ["%s=%s" % (k, shlex.quote(str(v))) for k, v in variables.items()]
    conf = "sv_backend=%s\n" % backend
    if backend == "monit":
        conf += "monit_conf=/run/monit/monitrc\n"
    sb.install_script(svc, "\n".join(lines + [functions]) + "\n", conf)


def live_daemon(sb, svc, other_than=None):
    """The pid the daemon recorded, once it is alive (and not other_than)."""
    def up():
        pid = I.daemon_pid(sb, svc)
        return pid if pid and pid != other_than and sb.alive(pid) else None
    return wait_for(up, 20, what="%s's daemon" % svc)


def status_json(sb, svc):
    r = sb.run("openrc-sv", "status", svc, "--json")
    data = json.loads(r.stdout)
    return data[0]


@pytest.fixture(params=BACKENDS)
def bsb(request, sandbox):
    sb = sandbox("ours")
    world(sb, request.param)
    sb.backend = request.param
    return sb


def test_start_status_stop_and_nothing_left(bsb):
    install(bsb, bsb.backend, "svc", args=HOSTILE)
    r = bsb.rc("svc", "start")
    assert r.returncode == 0, r.stdout + r.stderr
    assert " * Starting svc ..." in r.stdout
    pid = live_daemon(bsb, "svc")
    # As openrc-run delivers them: its eval of the unquoted command_args
    # joins a quoted word's runs of white space into one space.
    assert I.words(bsb, "svc", pid) == [re.sub(r"[ \t\n]+", " ", w) for w in HOSTILE]
    assert bsb.status("svc") == 0
    st = status_json(bsb, "svc")
    assert (st["backend"], st["state"], st["pid"]) == (bsb.backend, "started", pid)

    r = bsb.rc("svc", "stop")
    assert r.returncode == 0, r.stdout + r.stderr
    assert bsb.status("svc") == 3
    wait_for(lambda: I.daemons(bsb) == [], 10, what="no daemon left")
    assert bsb.listdir("/run/openrc/options/svc") == []
    assert [n for n in bsb.listdir("/run/openrc/sv")] == []
    assert bsb.listdir("/run/openrc-monit") == []
    assert not bsb.exists("/run/openrc/supervise-svc.ctl")


def test_a_crashed_daemon_is_respawned(bsb):
    install(bsb, bsb.backend, "svc")
    assert bsb.rc("svc", "start").returncode == 0
    first = live_daemon(bsb, "svc")
    bsb.run("kill", "-9", str(first))
    second = live_daemon(bsb, "svc", other_than=first)
    assert second != first
    assert bsb.status("svc") == 0
    assert bsb.rc("svc", "stop").returncode == 0


def test_a_failing_health_check_runs_unhealthy_then_restarts(bsb):
    d = I.statedir("svc")
    install(bsb, bsb.backend, "svc", healthcheck_timer=1, healthcheck_delay=1, functions="""
healthcheck() { [ ! -e %(d)s/sick ]; }
unhealthy() { echo ran >> %(d)s/unhealthy-ran; rm -f %(d)s/sick; }
""" % {"d": d})
    assert bsb.rc("svc", "start").returncode == 0
    first = live_daemon(bsb, "svc")
    bsb.write(d + "/sick", "")
    second = live_daemon(bsb, "svc", other_than=first)
    assert bsb.read(d + "/unhealthy-ran", "").startswith("ran")
    assert second != first
    assert bsb.rc("svc", "stop").returncode == 0


def test_the_respawn_limit_takes_the_service_down(bsb):
    """A daemon that always exits: the backend gives up after respawn_max.
    (runit's backend notices the death during the start itself and fails
    the start instead: also a clean "down", with nothing left running.)"""
    install(bsb, bsb.backend, "svc", flags={"exit-code": "3"}, respawn_max=2, respawn_period=60)
    r = bsb.rc("svc", "start")
    if r.returncode == 0:
        wait_for(lambda: len(I.starts(bsb, "svc")) >= 3, 30, what="three starts")
        wait_for(lambda: status_json(bsb, "svc")["state"] in ("failed", "stopped"), 30,
                 what="the backend to give up")
    else:
        assert "ERROR" in r.stdout + r.stderr or "failed" in r.stdout + r.stderr
    assert I.daemons(bsb) == []
    assert bsb.status("svc") != 0
    n = len(I.starts(bsb, "svc"))
    assert n <= 4                 # respawn_max + 1 starts, + one for monit's own count


def test_reload_delivers_sighup_to_the_daemon(bsb):
    install(bsb, bsb.backend, "svc")
    assert bsb.rc("svc", "start").returncode == 0
    pid = live_daemon(bsb, "svc")
    r = bsb.rc("svc", "reload")
    assert r.returncode == 0, r.stdout + r.stderr
    wait_for(lambda: (pid, "SIGHUP") in I.signals(bsb, "svc"), 10, what="SIGHUP")
    assert bsb.rc("svc", "stop").returncode == 0


def test_status_spells_the_last_exit_the_same_on_every_backend(bsb):
    """issue 11 §5: "signal KILL" on native and runit alike (runit's
    ./finish records "signal 9"); monit's launcher does not reap its
    daemon, so monit has no last exit to tell ("-", null), never a guess."""
    install(bsb, bsb.backend, "svc")
    assert bsb.rc("svc", "start").returncode == 0
    first = live_daemon(bsb, "svc")
    bsb.run("kill", "-9", str(first), check=True)
    live_daemon(bsb, "svc", other_than=first)
    st = wait_for(lambda: (lambda s: s if s["restarts"] else None)(status_json(bsb, "svc")),
                  20, what="the respawn counted")
    assert st["last_exit"] == (None if bsb.backend == "monit" else "signal KILL"), st
    assert st["down_reason"] is None and st["started_at"] > 0
    for key in ("health", "health_runs", "health_failures", "watchdog_misses", "down_detail"):
        assert key in st
    assert bsb.rc("svc", "stop").returncode == 0
