"""The runit backend against real runit: runsvdir, runsv, sv, svlogd.

Each test starts a sandbox with a runsvdir watching /run/openrc/sv (where
OpenRC's own supervisor=runit links services) and drives the backend
through its Python API inside the sandbox (_drive_backend.py), so every
file and process it makes lives in the sandbox's private /run.  The daemon
is a small program that records its argv, ids, environment and the
signals it gets.

runsvdir looks at its directory every five seconds, so each start may take
that long; nothing here waits longer than it must.
"""

import json
import os
import re
import sys
import time

import pytest

import initscripts as I

from sandbox import wait_for

pytestmark = pytest.mark.integration

HERE = os.path.dirname(os.path.abspath(__file__))
DRIVER = os.path.join(HERE, "_drive_backend.py")
SCANDIR = "/run/openrc/sv"
SVROOT = "/run/openrc/openrc-sv/runit"
# The test daemon of the drop-in tests (initscripts.TESTDAEMON): it records
# its words, environment, ids, umask, cwd, starts and signals in STATEDIR.
DAEMON = I.DAEMON
STATE = I.STATE_ROOT

# The init script only matters for healthcheck()/unhealthy(): the model's
# variables come from the test (the CLI that reads them is not used here).
SCRIPT = r'''#!/sbin/openrc-run
command=%(daemon)s
healthcheck() {
	echo "$RC_SVCNAME" >%(state)s/healthcheck-svcname
	[ ! -e %(state)s/unhealthy ]
}
unhealthy() {
	touch %(state)s/unhealthy-ran
}
'''

HOSTILE = ["two words", "it's", 'say "hi"', "new\nline", "$HOME", "`id`", "$(id)",
           "x;y", "a&&b", "*", "", "back\\slash", "tab\there", "--", "-x"]


class Runit:
    """One sandbox with a runsvdir, and the backend driven inside it."""

    def __init__(self, sb, runsvdir=True):
        self.sb = sb
        I.install_programs(sb)
        sb.run("mkdir", "-p", SCANDIR, check=True)
        if runsvdir:
            self.runsvdir(SCANDIR)

    def runsvdir(self, scandir):
        self.sb.run("mkdir", "-p", scandir, check=True)
        self.sb.spawn("runsvdir", "-P", scandir)
        wait_for(lambda: self.sb.pids_of("runsvdir -P " + scandir), 5, what="runsvdir")

    def install(self, svc, variables=None, args=(), functions=("healthcheck", "unhealthy"),
                flags=None, state_first=True):
        """Install svc's init script and STATEDIR; remember its model.  The
        daemon's words are STATEDIR and args, or args alone (state_first=False)."""
        state = "%s/%s" % (STATE, svc)
        os.makedirs(self.sb.host_path(state), exist_ok=True)
        os.chmod(self.sb.host_path(state), 0o777)
        for name, content in (flags or {}).items():
            self.sb.write("%s/%s" % (state, name), content)
        self.sb.install_script(svc, SCRIPT % {"daemon": DAEMON, "state": state})
        spec = {"script": "/etc/init.d/" + svc,
                "variables": dict({"command": DAEMON, "sv_backend": "runit"}, **(variables or {})),
                "args": ([state] if state_first else []) + list(args),
                "functions": list(functions)}
        self.sb.write("%s/model.json" % state, json.dumps(spec))
        return state

    def drive(self, svc, action, *args, env=None):
        extra = {"DRIVE_MODEL_FILE": "%s/%s/model.json" % (STATE, svc)}
        extra.update(env or {})
        return self.sb.run(sys.executable, DRIVER, svc, action, *args, env=extra, timeout=60)

    def start(self, svc, env=None):
        r = self.drive(svc, "start", env=env)
        assert r.returncode == 0, "start failed (%d): %s%s" % (r.returncode, r.stdout, r.stderr)
        return self.daemon(svc)

    def stop(self, svc):
        r = self.drive(svc, "stop")
        assert r.returncode == 0, "stop failed (%d): %s%s" % (r.returncode, r.stdout, r.stderr)

    def status(self, svc):
        r = self.drive(svc, "status")
        st = json.loads(r.stdout)
        assert st["exit_code"] == r.returncode
        return st

    # what the daemon recorded ---------------------------------------------------
    def read(self, svc, name, default=None):
        return self.sb.read("%s/%s/%s" % (STATE, svc, name), default)

    def starts(self, svc):
        return [(int(p), float(t)) for p, t in
                (line.split() for line in self.read(svc, "starts", "").splitlines())]

    def signals(self, svc):
        return [tuple(line.split()) for line in self.read(svc, "signals", "").splitlines()]

    def daemon(self, svc, other_than=None, timeout=10):
        """Wait for the daemon runsv runs (not other_than) to be up; its pid."""
        def up():
            st = self.status(svc)
            pid = st.get("pid")
            if st["state"] != "started" or not pid or pid == other_than:
                return None
            return pid if self.read(svc, "argv.%d" % pid) is not None else None
        return wait_for(up, timeout, interval=0.1, what="%s's daemon" % svc)

    def leftovers(self, svc):
        """Everything of svc's that should be gone once it is stopped."""
        left = [p for p in (SCANDIR + "/" + svc, SCANDIR + "/" + svc + ".health",
                            SVROOT + "/" + svc) if self.sb.exists(p)]
        procs = [args for pid, _, st, args in self.sb.ps()
                 if pid != 1 and not st.startswith("Z") and not args.startswith("runsvdir ")]
        return left, procs


@pytest.fixture
def rt(sandbox):
    return Runit(sandbox("c"))


def test_start_runs_the_daemon_under_runsv_with_exact_words_and_user(rt):
    rt.install("svc", {"command_user": "nobody"}, args=HOSTILE)
    pid = rt.start("svc")
    assert rt.read("svc", "argv.%d" % pid).split("\0") == HOSTILE
    assert rt.read("svc", "ids.%d" % pid) == "65534 65534"
    st = rt.status("svc")
    assert st["state"] == "started" and st["exit_code"] == 0
    ppid = [pp for p, pp, _, _ in rt.sb.ps() if p == pid]
    assert ppid == [st["supervisor_pid"]], "the daemon is runsv's child"
    assert os.readlink(rt.sb.host_path(SCANDIR + "/svc")) == SVROOT + "/svc"


def test_daemon_gets_directory_umask_and_the_callers_environment(rt):
    state = rt.install("svc", {"directory": STATE + "/svc/work dir", "umask": "027"})
    os.makedirs(rt.sb.host_path(state + "/work dir"))
    pid = rt.start("svc", env={"FOO": "a b $c\nd", "RC_SVCNAME": "svc", "SVCNAME": "svc"})
    assert rt.read("svc", "cwd.%d" % pid) == state + "/work dir"
    assert rt.read("svc", "umask.%d" % pid) == "0027"
    env = dict(kv.split("=", 1) for kv in rt.read("svc", "env.%d" % pid).split("\0"))
    assert env["FOO"] == "a b $c\nd"
    assert "RC_SVCNAME" not in env and "SVCNAME" not in env, "cleaned like supervise-daemon"


def test_stop_leaves_no_link_no_file_and_no_process(rt):
    rt.install("svc", {"runit_logdir": "/run/log/openrc-sv/svc", "healthcheck_timer": "1"})
    pid = rt.start("svc")
    wait_for(lambda: rt.sb.pids_of("svlogd") and rt.sb.pids_of("healthwatch"), 10,
             what="svlogd and the health watcher")
    assert rt.sb.value("svc", "child_pid") == str(pid)
    rt.stop("svc")
    assert rt.leftovers("svc") == ([], [])
    assert rt.sb.value("svc", "child_pid") is None
    assert (str(pid), "SIGTERM") in rt.signals("svc")
    st = rt.status("svc")
    assert st["state"] == "stopped" and st["exit_code"] == 3


def test_killed_daemon_is_respawned_and_counted(rt):
    rt.install("svc")
    pid = rt.start("svc")
    rt.sb.run("kill", "-KILL", str(pid), check=True)
    new = rt.daemon("svc", other_than=pid)
    st = rt.status("svc")
    assert new != pid and st["state"] == "started"
    assert st["restarts"] == 1 and st["last_exit"] == "signal KILL"


def test_respawn_delay_postpones_the_restart(rt):
    rt.install("svc", {"respawn_delay": "2"})
    pid = rt.start("svc")
    # runsv adds a second of its own after a daemon that lived less than one.
    started = rt.starts("svc")[0][1]
    wait_for(lambda: time.monotonic() - started > 1.1, 3, what="the daemon to live a second")
    killed = time.monotonic()
    rt.sb.run("kill", "-KILL", str(pid), check=True)
    st = wait_for(lambda: (lambda s: s if s["state"] == "starting" else None)(rt.status("svc")),
                  2, interval=0.1, what="status 'starting' while it waits to respawn")
    assert st["exit_code"] == 8 and st["pid"] is None
    new = rt.daemon("svc", other_than=pid)
    restarted = dict(rt.starts("svc"))[new]
    assert 2.0 <= restarted - killed < 3.5


def test_respawn_stops_after_respawn_max_within_period(rt):
    rt.install("svc", {"respawn_max": "2", "respawn_period": "1min"})
    pid = rt.start("svc")
    rt.sb.write(STATE + "/svc/exit-code", "3")
    rt.sb.run("kill", "-KILL", str(pid), check=True)
    st = wait_for(lambda: (lambda s: s if s["state"] == "failed" else None)(rt.status("svc")),
                  10, interval=0.2, what="the service to fail")
    assert st["exit_code"] == 32
    assert "respawned more than 2 times within 1min" in st["reason"]
    assert st["last_exit"] == "exit 3"
    assert len(rt.starts("svc")) == 3, "the first run and two respawns"
    assert st["pid"] is None and not [p for p, _ in rt.starts("svc") if rt.sb.alive(p)]
    rt.stop("svc")
    assert rt.leftovers("svc") == ([], [])


def test_failing_healthcheck_runs_unhealthy_and_restarts_the_daemon(rt):
    state = rt.install("svc", {"healthcheck_timer": "1"})
    pid = rt.start("svc")
    wait_for(lambda: rt.status("svc")["health"] == "ok", 5, interval=0.2, what="health ok")
    # runit's own check (sv check) runs the same healthcheck(), and
    # openrc-run names the service from the script's name.
    r = rt.sb.run("sv", "check", SVROOT + "/svc")
    assert r.returncode == 0, r.stdout + r.stderr
    assert rt.read("svc", "healthcheck-svcname") == "svc\n"

    rt.sb.write(state + "/unhealthy", "")
    new = rt.daemon("svc", other_than=pid, timeout=8)
    assert rt.sb.exists(state + "/unhealthy-ran")
    assert (str(pid), "SIGTERM") in rt.signals("svc")
    st = rt.status("svc")
    assert st["health"] in ("pending", "failing") and st["restarts"] >= 1
    rt.sb.run("rm", state + "/unhealthy", check=True)
    wait_for(lambda: rt.status("svc")["health"] == "ok", 8, interval=0.2, what="health ok again")
    assert rt.status("svc")["pid"] in (new, rt.daemon("svc"))


def test_reload_and_signal_reach_the_daemon(rt):
    rt.install("svc")
    pid = rt.start("svc")
    for action in (("reload",), ("signal", "USR1"), ("signal", "WINCH")):
        r = rt.drive("svc", *action)
        assert r.returncode == 0, r.stdout + r.stderr
    wait_for(lambda: len(rt.signals("svc")) == 3, 5, what="three signals")
    assert rt.signals("svc") == [(str(pid), "SIGHUP"), (str(pid), "SIGUSR1"),
                                 (str(pid), "SIGWINCH")]
    assert rt.daemon("svc") == pid


def test_stopsig_is_what_the_daemon_gets_at_stop(rt):
    rt.install("svc", {"stopsig": "INT"})
    pid = rt.start("svc")
    rt.stop("svc")
    assert rt.signals("svc") == [(str(pid), "SIGINT")]
    assert rt.leftovers("svc") == ([], [])


def test_stopgroup_stops_the_daemons_children_too(rt):
    # A shell that is killed by TERM would leave its child behind.
    rt.install("svc", {"command": "/bin/sh", "stopgroup": "yes"}, state_first=False,
               args=["-c", 'sleep 1000 & echo $! >"$0/child"; wait', STATE + "/svc"])
    assert rt.drive("svc", "start").returncode == 0
    child = int(wait_for(lambda: rt.read("svc", "child"), 5, what="the child's pid"))
    assert rt.sb.alive(child)
    rt.stop("svc")
    assert not rt.sb.alive(child)
    assert rt.leftovers("svc") == ([], [])


def test_stop_follows_the_retry_schedule_the_service_was_started_with(rt):
    state = rt.install("svc", {"retry": "TERM/1/KILL/2"}, flags={"ignore-term": ""})
    pid = rt.start("svc")
    # The configuration changes while it runs (the default retry waits 5s).
    rt.install("svc", flags={"ignore-term": ""})
    assert "retry" not in rt.sb.read(state + "/model.json")
    t0 = time.monotonic()
    rt.stop("svc")
    assert 1.0 <= time.monotonic() - t0 < 4.0
    assert rt.signals("svc") == [(str(pid), "SIGTERM")]
    assert not rt.sb.alive(pid)
    assert rt.leftovers("svc") == ([], [])


def test_a_daemon_that_outlives_the_schedule_is_killed_as_under_native(rt):
    # The one stop driver (stopper.run_blocking): when the schedule runs
    # out, SIGKILL -- a stop must stop.
    rt.install("svc", {"retry": "TERM/1"}, flags={"ignore-term": ""})
    pid = rt.start("svc")
    t0 = time.monotonic()
    rt.stop("svc")
    assert 1.0 <= time.monotonic() - t0 < 6.0
    assert rt.signals("svc") == [(str(pid), "SIGTERM")]
    assert not rt.sb.alive(pid)
    assert rt.leftovers("svc") == ([], [])


def test_output_log_and_error_log_are_the_files_named_apart_across_a_respawn(rt):
    rt.sb.run("mkdir", "-p", "/run/log/svc", check=True)
    rt.sb.run("chown", "nobody:nogroup", "/run/log/svc", check=True)
    rt.install("svc", {"command_user": "nobody", "output_log": "/run/log/svc/out.log",
                       "error_log": "/run/log/svc/err.log"})
    first = rt.start("svc")
    rt.sb.run("kill", "-KILL", str(first), check=True)
    second = rt.daemon("svc", other_than=first)
    want_out = ["stdout from %d" % p for p in (first, second)]
    want_err = ["stderr from %d" % p for p in (first, second)]
    wait_for(lambda: rt.sb.read("/run/log/svc/err.log", "").splitlines() == want_err, 10,
             what="both stderr lines in err.log")
    assert rt.sb.read("/run/log/svc/out.log", "").splitlines() == want_out
    st = os.stat(rt.sb.host_path("/run/log/svc/out.log"))
    assert (st.st_uid, st.st_mode & 0o777) == (65534, 0o600), "created by the daemon's user"
    assert rt.sb.listdir("/run/log/svc") == ["err.log", "out.log"], "no svlogd files"
    assert not rt.sb.pids_of("svlogd")
    rt.stop("svc")


def test_command_user_gets_home_user_and_logname(rt):
    rt.install("svc", {"command_user": "nobody"})
    pid = rt.start("svc")
    env = dict(kv.split("=", 1) for kv in rt.read("svc", "env.%d" % pid).split("\0"))
    assert (env["USER"], env["LOGNAME"], env["HOME"]) == ("nobody", "nobody", "/nonexistent")
    rt.stop("svc")


def test_runit_logdir_gets_both_streams_from_svlogd_running_as_the_user(rt):
    rt.sb.run("mkdir", "-p", "/run/log/svc", check=True)
    rt.sb.run("chown", "nobody:nogroup", "/run/log/svc", check=True)
    rt.install("svc", {"command_user": "nobody", "runit_logdir": "/run/log/svc"})
    pid = rt.start("svc")
    want = {"stdout from %d" % pid, "stderr from %d" % pid}
    wait_for(lambda: want <= set(rt.sb.read("/run/log/svc/current", "").splitlines()),
             10, what="both lines in svlogd's current")
    svlogd = rt.sb.pids_of("svlogd")
    assert len(svlogd) == 1
    uid = rt.sb.run("ps", "-o", "uid=", "-p", str(svlogd[0])).stdout.strip()
    assert uid == "65534", "svlogd runs as the daemon's user"
    rt.stop("svc")
    assert rt.leftovers("svc") == ([], [])


def test_start_without_runsvdir_fails_in_one_line_and_leaves_nothing(sandbox):
    rt = Runit(sandbox("c"), runsvdir=False)
    rt.install("svc")
    r = rt.drive("svc", "start")
    assert r.returncode == 1
    assert re.fullmatch(r"no runsvdir is watching /run/openrc/sv: start one "
                        r"\(runsvdir /run/openrc/sv\) or set runit_scandir=\n", r.stderr)
    assert rt.leftovers("svc") == ([], [])
    assert rt.starts("svc") == []


def test_daemon_that_cannot_start_fails_the_start_and_leaves_nothing(rt):
    rt.install("svc", {"directory": "/nonexistent"})
    r = rt.drive("svc", "start")
    assert r.returncode == 1
    # openrc-sv-exec's report (state/exec-error) says why, naming the variable.
    assert r.stderr == "directory: unable to chdir '/nonexistent': No such file or directory\n"
    assert rt.leftovers("svc") == ([], [])


def test_runit_scandir_names_the_runsvdir_to_use(sandbox):
    rt = Runit(sandbox("c"), runsvdir=False)
    rt.runsvdir("/run/my scan")
    rt.install("svc", {"runit_scandir": "/run/my scan"})
    rt.start("svc")
    assert rt.sb.exists("/run/my scan/svc") and not rt.sb.exists(SCANDIR + "/svc")
    rt.stop("svc")
    assert not rt.sb.exists("/run/my scan/svc")
    assert rt.leftovers("svc") == ([], [])
