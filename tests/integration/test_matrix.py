"""The cross-backend matrix: one init script, the same behaviour everywhere.

Each scenario runs under every way openrc-sv can supervise a service:

  c        OpenRC's own C supervise-daemon (supervisor=supervise-daemon):
           the reference, where it does what the scenario asks
  dropin   our supervise-daemon in its place (supervisor=supervise-daemon)
  native   supervisor=openrc-sv, sv_backend=native
  runit    supervisor=openrc-sv, sv_backend=runit (a real runsvdir)
  monit    supervisor=openrc-sv, sv_backend=monit (a real monit)

A scenario that a column cannot carry is listed in REFUSED with the reason
(they are also in the README's backend table); everything else must pass
on every column.  Where C is the reference, the scenario compares with
what C does rather than with a value written down here.
"""

import shlex
import time

import pytest

import initscripts as I
from sandbox import wait_for
from test_backends import world as backend_world

pytestmark = pytest.mark.integration

COLUMNS = ["c", "dropin", "native", "runit", "monit"]

# (scenario, column): why that column is not asked.
REFUSED = {
    ("hung_check_is_killed_with_its_children", "c"):
        "OpenRC's C supervisor has no health-check timeout: a hung check hangs it",
    ("capabilities_and_no_new_privs", "c"):
        "Debian's OpenRC 0.45 is built without capabilities support (and its C binary "
        "refuses the --no_new_privs its own script passes)",
    ("stopgroup_stops_what_the_daemon_started", "c"):
        "OpenRC 0.45's supervise-daemon.sh does not pass stopgroup",
    ("stopgroup_stops_what_the_daemon_started", "dropin"):
        "OpenRC 0.45's supervise-daemon.sh does not pass stopgroup",
}


class Column:
    def __init__(self, sb, name):
        self.sb = sb
        self.name = name

    def install(self, svc, args=(), functions="", flags=None, conf="", **variables):
        sb = self.sb
        I.install_programs(sb)
        d = I.statedir(svc)
        sb.run("mkdir", "-p", "-m", "0777", d, check=True)
        sb.run("chmod", "0777", d, check=True)
        for name, value in (flags or {}).items():
            sb.write("%s/%s" % (d, name), value)
        words = " ".join(shlex.quote(w) for w in [d] + list(args))
        supervisor = "supervise-daemon" if self.name in ("c", "dropin") else "openrc-sv"
        lines = ["#!/sbin/openrc-run", "supervisor=%s" % supervisor, "command=%s" % I.DAEMON,
                 "command_args=%s" % shlex.quote(words), "extra_started_commands=reload"]
        lines += ["%s=%s" % (k, shlex.quote(str(v))) for k, v in variables.items()]
        if supervisor == "openrc-sv":
            conf += "\nsv_backend=%s\n" % self.name
            if self.name == "monit":
                conf += "monit_conf=/run/monit/monitrc\n"
        sb.install_script(svc, "\n".join(lines + [functions]) + "\n", conf or None)

    def start(self, svc):
        r = self.sb.rc(svc, "start")
        assert r.returncode == 0, "%s: start failed:\n%s%s" % (self.name, r.stdout, r.stderr)
        return self.daemon(svc)

    def daemon(self, svc, other_than=None, timeout=30):
        def up():
            pid = I.daemon_pid(self.sb, svc)
            return pid if pid and pid != other_than and self.sb.alive(pid) else None
        return wait_for(up, timeout, what="%s: %s's daemon" % (self.name, svc))

    def stop(self, svc):
        r = self.sb.rc(svc, "stop")
        assert r.returncode == 0, "%s: stop failed:\n%s%s" % (self.name, r.stdout, r.stderr)
        wait_for(lambda: I.daemons(self.sb) == [], 20, what="%s: no daemon left" % self.name)


@pytest.fixture(params=COLUMNS)
def col(request, sandbox):
    name = request.param
    scenario = request.node.originalname[len("test_"):]
    if (scenario, name) in REFUSED:
        pytest.skip("%s: %s" % (name, REFUSED[(scenario, name)]))
    sb = sandbox("c" if name == "c" else "ours")
    if name in ("native", "runit", "monit"):
        backend_world(sb, name)
    else:
        I.install_programs(sb)
    return Column(sb, name)


def test_exported_env_user_umask_and_directory(col):
    d = I.statedir("svc")
    col.install("svc", conf="export MATRIX_VAR='a b  c'\nexport SSD_NICELEVEL=5\n",
                command_user="nobody", umask="027", directory=d)
    pid = col.start("svc")
    stat = col.sb.read("/proc/%d/stat" % pid)
    assert int(stat.rsplit(")", 1)[1].split()[16]) == 5, "%s: SSD_NICELEVEL" % col.name
    env = I.environ(col.sb, "svc", pid)
    assert env.get("MATRIX_VAR") == "a b  c"
    assert (env.get("USER"), env.get("HOME")) == ("nobody", "/nonexistent")
    if col.name != "c":     # OpenRC 0.45's C supervisor sets USER and HOME only
        assert env.get("LOGNAME") == "nobody"
    assert I.ids(col.sb, "svc", pid)[0] == 65534
    assert col.sb.read("%s/umask.%d" % (d, pid)) == "0027"
    assert col.sb.read("%s/cwd.%d" % (d, pid)) == d
    if col.name != "c":     # 0.45's C supervisor lets some of openrc-run's through
        assert not [k for k in env if k.startswith(("RC_", "SSD_", "EINFO_"))]
    col.stop("svc")


def test_child_pid_names_the_live_daemon(col):
    col.install("svc")
    first = col.start("svc")
    wait_for(lambda: col.sb.value("svc", "child_pid") == str(first), 20,
             what="%s: child_pid = %d" % (col.name, first))
    col.sb.run("kill", "-9", str(first))
    second = col.daemon("svc", other_than=first)
    wait_for(lambda: col.sb.value("svc", "child_pid") == str(second), 20,
             what="%s: child_pid = %d after the respawn" % (col.name, second))
    col.stop("svc")


def test_output_and_error_logs_are_the_files_named_across_respawns(col):
    d = I.statedir("svc")
    col.install("svc", output_log=d + "/out.log", error_log=d + "/err.log")
    first = col.start("svc")
    wait_for(lambda: "stdout from %d" % first in col.sb.read(d + "/out.log", ""), 20,
             what="first daemon's stdout")
    col.sb.run("kill", "-9", str(first))
    second = col.daemon("svc", other_than=first)
    wait_for(lambda: "stderr from %d" % second in col.sb.read(d + "/err.log", ""), 20,
             what="second daemon's stderr")
    wait_for(lambda: "stdout from %d" % second in col.sb.read(d + "/out.log", ""), 20,
             what="second daemon's stdout")
    out, err = col.sb.read(d + "/out.log"), col.sb.read(d + "/err.log")
    assert "stderr from" not in out and "stdout from" not in err
    assert "stderr from %d" % first in err
    col.stop("svc")


def test_stop_follows_retry_to_kill(col):
    col.install("svc", flags={"ignore-term": "1"}, retry="TERM/1/KILL/5")
    pid = col.start("svc")
    col.stop("svc")
    assert (pid, "SIGTERM") in I.signals(col.sb, "svc")
    assert not col.sb.alive(pid)
    assert col.sb.status("svc") == 3


def test_stop_during_a_respawn_delay_does_not_wait_it_out(col):
    d = I.statedir("svc")
    col.install("svc", respawn_delay=120)
    first = col.start("svc")
    col.sb.write(d + "/exit-code", "3")
    col.sb.run("kill", "-9", str(first))
    wait_for(lambda: not col.sb.alive(first), 20, what="the daemon to die")
    t0 = time.monotonic()
    r = col.sb.rc("svc", "stop", timeout=120)
    took = time.monotonic() - t0
    assert r.returncode == 0, r.stdout + r.stderr
    # Behaviour, not speed: the stop did not sit out the 120 s delay.
    assert took < 60, "%s: stop waited %.1fs, the respawn delay is 120s" % (col.name, took)
    assert I.daemons(col.sb) == []
    assert col.sb.status("svc") == 3


def _give_up(col):
    """Start, make every later run exit at once, kill: respawn_max=2 is
    exceeded.  Returns (rc-service status, failed mark?, starts)."""
    d = I.statedir("svc")
    col.install("svc", respawn_max=2, respawn_period=600)
    first = col.start("svc")
    col.sb.write(d + "/exit-code", "3")
    col.sb.run("kill", "-9", str(first))
    wait_for(lambda: len(I.starts(col.sb, "svc")) >= 3, 60, what="%s: respawns" % col.name)

    def settled():
        code = col.sb.status("svc")
        return code if code != 0 and code != 8 else None
    code = wait_for(settled, 60, what="%s: the supervisor to give up" % col.name)
    wait_for(lambda: I.daemons(col.sb) == [], 20, what="no daemon left")
    failed = col.sb.exists("/run/openrc/failed/svc")
    return code, failed, len(I.starts(col.sb, "svc"))


def test_respawn_limit_leaves_the_state_c_leaves(col, sandbox):
    got = _give_up(col)
    if col.name == "c":
        assert got[0] != 0
        return
    ref_sb = sandbox("c")
    I.install_programs(ref_sb)
    want = _give_up(Column(ref_sb, "c"))
    assert got[:2] == want[:2], "%s gives (status, failed) %r; OpenRC's C gives %r" % (
        col.name, got[:2], want[:2])


def test_failing_health_check_runs_unhealthy_once_then_restarts(col):
    d = I.statedir("svc")
    col.install("svc", healthcheck_timer=1, healthcheck_delay=1, functions="""
healthcheck() { if [ -e %(d)s/sick ]; then return 1; fi; echo >> %(d)s/passes; }
unhealthy() { echo ran >> %(d)s/unhealthy-ran; }
""" % {"d": d})
    first = col.start("svc")
    col.sb.write(d + "/sick", "")
    second = col.daemon("svc", other_than=first)
    col.sb.run("rm", "-f", d + "/sick")
    # Two passing checks after the restart: the failing one is over.
    base = len(col.sb.read(d + "/passes", "").splitlines())
    wait_for(lambda: len(col.sb.read(d + "/passes", "").splitlines()) >= base + 2, 30,
             what="%s: checks passing again" % col.name)
    ran = col.sb.read(d + "/unhealthy-ran", "").splitlines()
    assert ran == ["ran"], "%s ran unhealthy %d times for one failure" % (col.name, len(ran))
    assert second != first
    col.stop("svc")


def test_healthcheck_delay_alone_checks_each_daemon_once(col):
    """OpenRC's supervise-daemon with healthcheck_delay and no timer checks
    once, that long after each start of the daemon, and never again.  A
    second service checked every second is the clock: three of its checks
    pass while the first must stay at one."""
    d, t = I.statedir("svc"), I.statedir("tick")
    col.install("svc", healthcheck_delay=1,
                functions="healthcheck() { echo >> %s/checks; }\n" % d)
    col.install("tick", healthcheck_timer=1,
                functions="healthcheck() { echo >> %s/ticks; }\n" % t)

    def count(path):
        return len(col.sb.read(path, "").splitlines())

    def after_three_ticks():
        base = count(t + "/ticks")
        wait_for(lambda: count(t + "/ticks") >= base + 3, 60, what="%s: three ticks" % col.name)

    first = col.start("svc")
    wait_for(lambda: count(d + "/checks") == 1, 30, what="%s: the first check" % col.name)
    col.start("tick")
    after_three_ticks()
    assert count(d + "/checks") == 1, "%s checked again without a timer" % col.name
    col.sb.run("kill", "-9", str(first))
    col.daemon("svc", other_than=first)
    wait_for(lambda: count(d + "/checks") == 2, 30, what="%s: the new daemon's check" % col.name)
    after_three_ticks()
    assert count(d + "/checks") == 2, "%s checked the new daemon twice" % col.name
    assert col.sb.rc("tick", "stop").returncode == 0
    col.stop("svc")


def test_hung_check_is_killed_with_its_children(col):
    d = I.statedir("svc")
    col.install("svc", healthcheck_timer=1, healthcheck_delay=1, healthcheck_timeout=1,
                functions="""
healthcheck() { [ -e %(d)s/hang ] || return 0; sleep 1000 & echo $! >> %(d)s/check-kids; wait; }
""" % {"d": d})
    first = col.start("svc")
    col.sb.write(d + "/hang", "")
    col.daemon("svc", other_than=first, timeout=60)
    col.sb.run("rm", "-f", d + "/hang")
    kids = [int(p) for p in col.sb.read(d + "/check-kids", "").split()]
    assert kids
    wait_for(lambda: not any(col.sb.alive(k) for k in kids), 20,
             what="%s: the hung check's children to be killed" % col.name)
    col.stop("svc")


def _status_field(sb, pid, name):
    for line in sb.read("/proc/%d/status" % pid).splitlines():
        if line.startswith(name + ":"):
            return line.split()[1]
    return None


def test_capabilities_and_no_new_privs(col):
    col.install("svc", command_user="nobody", capabilities="^cap_net_bind_service",
                no_new_privs="yes")
    pid = col.start("svc")
    bind = 1 << 10      # CAP_NET_BIND_SERVICE
    assert int(_status_field(col.sb, pid, "CapAmb"), 16) == bind, col.name
    assert int(_status_field(col.sb, pid, "CapEff"), 16) == bind, col.name
    assert _status_field(col.sb, pid, "NoNewPrivs") == "1", col.name
    assert I.ids(col.sb, "svc", pid)[0] == 65534
    col.stop("svc")


def test_stopgroup_stops_what_the_daemon_started(col):
    d = I.statedir("svc")
    col.install("svc", command="/bin/sh", stopgroup="yes", command_args=(
        "-c 'sleep 1000 & echo $! > %s/kid; exec %s %s'" % (d, I.DAEMON, d)))
    pid = col.start("svc")
    kid = wait_for(lambda: (col.sb.read(d + "/kid") or "").strip(), 20, what="the daemon's child")
    assert col.sb.alive(int(kid))
    col.stop("svc")
    wait_for(lambda: not col.sb.alive(int(kid)), 20,
             what="%s: stopgroup to take the daemon's child %s down" % (col.name, kid))
    assert not col.sb.alive(pid)
