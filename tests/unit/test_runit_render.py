"""What the runit backend renders, checked by running it.

The rendered scripts are executed here with the daemon (and svlogd or env
where that matters) replaced by small recorders, so the tests see the
words a program would get, not the text that should produce them.  ./run
execs the real openrc-sv-exec (our process-setup core).
Also here: the pieces the scripts rely on (runsv's status format, the
health watcher's check runner).
"""

import os
import signal
import struct
import subprocess
import sys
import time

import pytest

from openrc_sv.launcher import package_parent

from openrc_sv.backends.model import from_variables
from openrc_sv.backends.runit import RunitBackend, healthwatch, supervise
from openrc_sv.backends.runit.layout import MARKER
from openrc_sv.backends.runit.render import Tools
from openrc_sv.errors import UserError


def wait_for(cond, timeout=10.0, interval=0.02, what="condition"):
    """Poll cond() until true or the deadline (local: the unit tier does not
    import the integration sandbox)."""
    import time
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)
    return True


HOSTILE = ["two words", "it's", 'say "hi"', "new\nline", "$HOME", "`touch pwned`",
           "$(touch pwned)", "x;touch pwned", "a&&b", "*", "", "back\\slash", "tab\there",
           "--", "-x", "'", '"']

# Writes what it was run with into the directory it lives in: argv (NUL
# separated, argv[0] first), env (NUL separated), cwd, umask, stdin.
RECORDER = r'''#!/usr/bin/python3
import os, sys
d = os.path.dirname(os.path.abspath(sys.argv[0]))
def put(name, data):
    with open(os.path.join(d, name), "w") as f:
        f.write(data)
put("argv", "\0".join(sys.argv))
put("env", "\0".join("%s=%s" % kv for kv in sorted(os.environ.items())))
put("cwd", os.getcwd())
mask = os.umask(0)
put("umask", "%04o" % mask)
put("stdin", sys.stdin.read())
with open("/proc/self/status") as f:
    put("nnp", [l.split()[1] for l in f if l.startswith("NoNewPrivs:")][0])
put("pgid", "%d %d" % (os.getpid(), os.getpgid(0)))
print("to stdout", flush=True)
print("to stderr", file=sys.stderr, flush=True)
'''


def recorder(directory, name="record"):
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write(RECORDER)
    os.chmod(path, 0o755)
    return path


def recorded(directory, name):
    with open(os.path.join(directory, name)) as f:
        return f.read()


def model(variables=None, args=(), functions=(), service="svc"):
    v = {"command": "/usr/bin/daemon", "sv_backend": "runit", "runit_svdir_root": "/srv/sv"}
    v.update(variables or {})
    return from_variables(service, "/etc/init.d/" + service, v, list(args), list(functions))


# No rendered script may touch the host's /run/openrc (child_pid).
NO_RC = {"RC_SVCDIR": "/nonexistent-rc"}


def render(m, environ=None, **tools):
    """{path relative to the service directory: RenderedFile}"""
    t = dict(env="/usr/bin/env", svlogd="/usr/bin/svlogd", python="/usr/bin/python3")
    t.update(tools)
    backend = RunitBackend(m, environ=environ if environ is not None else NO_RC,
                           tools=Tools(**t))
    return {os.path.relpath(f.path, backend.layout.dir): f for f in backend.render()}


def run_script(tmp_path, rendered, cwd=None, args=(), input=None):
    """Write one rendered script and run it with sh; the CompletedProcess."""
    path = tmp_path / ("script.%d" % len(os.listdir(tmp_path)))
    path.write_text(rendered.content)
    return subprocess.run(["/bin/sh", str(path)] + list(args), cwd=cwd or tmp_path,
                          capture_output=True, text=True, timeout=20, input=input,
                          stdin=None if input is not None else subprocess.DEVNULL)


def runnable(tmp_path, variables, environ=None, args=()):
    """./run rendered to run here: the service directory and RC_SVCDIR in
    tmp_path, the real openrc-sv-exec run by this Python.  (run, svdir, rc)."""
    root, rc = tmp_path / "root", tmp_path / "rc"
    env = dict(environ or {}, RC_SVCDIR=str(rc))
    files = render(model(dict({"runit_svdir_root": str(root)}, **variables), args=args),
                   environ=env, python=sys.executable)
    (root / "svc" / "state").mkdir(parents=True, exist_ok=True)
    (rc / "options" / "svc").mkdir(parents=True, exist_ok=True)
    return files["run"], root / "svc", rc


# The service directory -------------------------------------------------------

def test_render_writes_nothing_and_names_the_service_directory(tmp_path):
    root = str(tmp_path / "root")
    files = render(model({"runit_svdir_root": root}))
    assert sorted(files) == ["finish", "run"]
    assert {f.path for f in files.values()} == {root + "/svc/run", root + "/svc/finish"}
    assert all(f.mode == 0o700 for f in files.values()), "run holds the daemon's environment"
    assert not os.path.exists(root)


def test_render_adds_check_control_log_and_watcher_when_asked_for():
    files = render(model({"stopsig": "QUIT", "output_logger": "logger",
                          "healthcheck_timer": "10"}, functions=["healthcheck"]))
    assert sorted(files) == ["check", "control/t", "finish", "health/run", "log/run", "run"]


def test_a_log_service_only_for_a_logger_or_runit_logdir():
    assert "log/run" not in render(model({"output_log": "/var/log/o", "error_log": "/var/log/e"}))
    assert "log/run" in render(model({"error_logger": "logger"}))
    assert "log/run" in render(model({"runit_logdir": "/var/log/svc"}))


@pytest.mark.parametrize("variables, message", [
    ({"output_logger": "logger -t a", "error_logger": "logger -t b"},
     "error_logger: 'logger -t b' differs from output_logger (runit gives a service one log "
     "pipe, so one logger); use the same command or sv_backend=native"),
    ({"runit_logdir": "/var/log/x", "output_logger": "logger"},
     "runit_logdir: '/var/log/x' cannot be used with output_logger (runit gives a service "
     "one log pipe)"),
    ({"runit_logdir": "/var/log/x", "output_log": "/o", "error_log": "/e"},
     "runit_logdir: '/var/log/x' receives nothing: output_log and error_log are both set"),
])
def test_what_one_log_pipe_cannot_do_is_refused_in_one_line(variables, message):
    with pytest.raises(UserError) as e:
        render(model(variables))
    assert str(e.value) == message


def test_service_directory_defaults_under_rc_svcdir():
    m = from_variables("svc", "/etc/init.d/svc", {"command": "/bin/true"}, [])
    b = RunitBackend(m, environ={"RC_SVCDIR": "/run/rc"}, tools=Tools())
    assert {f.path for f in b.render()} == {"/run/rc/openrc-sv/runit/svc/run",
                                             "/run/rc/openrc-sv/runit/svc/finish"}
    assert "--child-pid /run/rc/options/svc/child_pid svc" in b.render()[0].content


def _construct(m):
    RunitBackend(m, environ={}, tools=Tools())


def _render(m):
    RunitBackend(m, environ={}, tools=Tools()).render()


def _scandirs(m):
    from openrc_sv.backends.runit.layout import scandir_candidates
    scandir_candidates(m, {})


@pytest.mark.parametrize("variable, where", [("runit_svdir_root", _construct),
                                             ("runit_logdir", _render),
                                             ("runit_scandir", _scandirs)])
def test_runit_paths_must_be_absolute(variable, where):
    with pytest.raises(UserError) as e:
        where(model({variable: "relative/dir"}))
    assert str(e.value) == \
        "%s: invalid value 'relative/dir' (expected an absolute directory path)" % variable


def test_every_script_is_valid_sh_whatever_the_values(tmp_path):
    weird = "/tmp/a b'c\"d$(x)`y`;z\tw"
    files = render(model({"command_user": "nobody", "directory": weird, "chroot": weird,
                          "output_logger": weird + "\nnext", "stopsig": "INT",
                          "healthcheck_timer": "1", "input_file": weird},
                         args=HOSTILE, functions=["healthcheck", "unhealthy"],
                         service="svc"), environ={"X": weird, "PATH": weird})
    for name, f in files.items():
        path = tmp_path / name.replace("/", "_")
        path.write_text(f.content)
        r = subprocess.run(["/bin/sh", "-n", str(path)], capture_output=True, text=True)
        assert r.returncode == 0, "%s: %s" % (name, r.stderr)


# ./run -------------------------------------------------------------------------

def test_run_execs_the_daemon_with_each_hostile_word_intact(tmp_path):
    bindir = str(tmp_path / "bin dir $(x)")
    daemon = recorder(bindir, "the daemon")
    run, _, _ = runnable(tmp_path, {"command": daemon}, args=HOSTILE)
    r = run_script(tmp_path, run)
    assert r.returncode == 0, r.stderr
    assert recorded(bindir, "argv").split("\0") == [daemon] + HOSTILE
    assert not os.path.exists(tmp_path / "pwned")


def test_run_execs_our_process_setup_core_with_supervise_daemons_options(tmp_path):
    run = render(model({"command_user": "nobody", "chroot": "/srv/root", "umask": "027",
                        "directory": "/var/lib/foo", "capabilities": "^cap_net_bind_service",
                        "output_log": "/var/log/o", "error_log": "/var/log/e"},
                       args=["a b"]))["run"].content
    assert "--report /srv/sv/svc/state/exec-error --child-pid " \
        "/nonexistent-rc/options/svc/child_pid svc --chdir /var/lib/foo --chroot /srv/root " \
        "--stdout /var/log/o --stderr /var/log/e --user nobody --umask 0027 " \
        "--capabilities '^cap_net_bind_service' -- /usr/bin/daemon 'a b'" in run
    assert "chpst" not in run and "setpriv" not in run and "2>&1" not in run


def test_run_gives_the_daemon_the_callers_environment_cleaned_like_supervise_daemon(tmp_path):
    daemon = recorder(str(tmp_path / "bin"))
    environ = {"FOO": "x\ny 'z' $HOME", "RC_SVCNAME": "svc", "EINFO_QUIET": "yes",
               "SSD_NICELEVEL": "1", "SVCNAME": "svc",
               "PATH": "/lib/rc/bin:/usr/bin:/lib/rc/sbin:/bin"}
    run, _, _ = runnable(tmp_path, {"command": daemon}, environ=environ)
    r = run_script(tmp_path, run)
    assert r.returncode == 0, r.stderr
    env = dict(kv.split("=", 1) for kv in recorded(str(tmp_path / "bin"), "env").split("\0"))
    env.pop("LC_CTYPE", None)   # the recorder's Python adds it to a C locale (PEP 538)
    # HOME and USER: filled in from the password file, as OpenRC does.
    import pwd
    me = pwd.getpwuid(os.getuid())
    assert env == {"FOO": "x\ny 'z' $HOME", "PATH": "/usr/bin:/bin", "USER": me.pw_name,
                   "HOME": me.pw_dir}


def test_run_enters_directory_sets_umask_and_reads_input_file(tmp_path):
    daemon = recorder(str(tmp_path / "bin"))
    work = tmp_path / "work $(touch pwned)"
    work.mkdir()
    infile = tmp_path / "in put"
    infile.write_text("hello\n")
    run, _, _ = runnable(tmp_path, {"command": daemon, "directory": str(work), "umask": "027",
                                    "input_file": str(infile)})
    r = run_script(tmp_path, run)
    assert r.returncode == 0, r.stderr
    assert recorded(str(tmp_path / "bin"), "cwd") == str(work)
    assert recorded(str(tmp_path / "bin"), "umask") == "0027"
    assert recorded(str(tmp_path / "bin"), "stdin") == "hello\n"
    assert not os.path.exists(tmp_path / "pwned")


def test_run_fails_with_111_and_reports_why_when_the_directory_is_missing(tmp_path):
    run, svdir, _ = runnable(tmp_path, {"directory": str(tmp_path / "nowhere")})
    r = run_script(tmp_path, run)
    assert r.returncode == 111
    assert (svdir / "state" / "exec-error").read_text() == \
        "--chdir: unable to chdir '%s': No such file or directory\n" % (tmp_path / "nowhere")


def test_run_writes_child_pid_and_keeps_stdout_and_stderr_apart(tmp_path):
    daemon = recorder(str(tmp_path / "bin"))
    out, err = tmp_path / "out.log", tmp_path / "err.log"
    run, svdir, rc = runnable(tmp_path, {"command": daemon, "output_log": str(out),
                                         "error_log": str(err)})
    for _ in range(2):
        r = run_script(tmp_path, run)
        assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    assert out.read_text() == "to stdout\n" * 2 and err.read_text() == "to stderr\n" * 2
    pid = recorded(str(tmp_path / "bin"), "pgid").split()[0]
    assert (rc / "options" / "svc" / "child_pid").read_text() == pid
    assert (svdir / "state" / "exec-error").read_text() == ""


def test_run_sends_into_the_log_pipe_only_what_has_no_file(tmp_path):
    daemon = recorder(str(tmp_path / "bin"))
    cases = [({}, ("", "")),
             ({"output_logger": "logger"}, ("to stdout\n", "")),
             ({"error_logger": "logger"}, ("to stderr\n", "")),
             ({"output_logger": "logger", "error_logger": "logger"},
              ("to stdout\nto stderr\n", "")),
             ({"runit_logdir": "/var/log/x"}, ("to stdout\nto stderr\n", "")),
             ({"runit_logdir": "/var/log/x", "error_log": str(tmp_path / "e")},
              ("to stdout\n", ""))]
    for variables, expected in cases:
        run, _, _ = runnable(tmp_path, dict({"command": daemon}, **variables))
        r = run_script(tmp_path, run)
        assert r.returncode == 0, r.stderr
        assert (r.stdout, r.stderr) == expected, variables


def test_no_new_privs_and_a_process_group_of_its_own(tmp_path):
    daemon = recorder(str(tmp_path / "bin"))
    run, _, _ = runnable(tmp_path, {"command": daemon})
    assert run_script(tmp_path, run).returncode == 0
    assert recorded(str(tmp_path / "bin"), "nnp") == "0"
    run, _, _ = runnable(tmp_path, {"command": daemon, "no_new_privs": "yes"})
    r = run_script(tmp_path, run)
    assert r.returncode == 0, r.stderr
    assert recorded(str(tmp_path / "bin"), "nnp") == "1"
    pid, pgid = recorded(str(tmp_path / "bin"), "pgid").split()
    assert pid == pgid, "stopgroup's signals reach the daemon's own group"


def test_notify_is_refused_naming_the_variable():
    with pytest.raises(UserError) as e:
        render(model({"notify": "fd:3"}))
    assert str(e.value) == "notify: not supported with sv_backend=runit (runit has no " \
        "readiness notification for a start to wait on); use sv_backend=native"


# ./finish ------------------------------------------------------------------------

def service_dir(tmp_path, stat="finish"):
    d = tmp_path / "service"
    (d / "supervise").mkdir(parents=True)
    (d / "state").mkdir()
    (d / "supervise" / "stat").write_text(stat + "\n")
    (d / "supervise" / "control").write_text("")
    return d


def run_finish(tmp_path, d, files, *args):
    return run_script(tmp_path, files["finish"], cwd=d, args=args)


def uptime_ms():
    with open("/proc/uptime") as f:
        return int(float(f.read().split()[0]) * 1000)


def test_finish_records_the_last_exit_and_counts_each_respawn(tmp_path):
    d = service_dir(tmp_path)
    files = render(model())
    assert run_finish(tmp_path, d, files, "1", "0").returncode == 0
    assert (d / "state" / "last_exit").read_text() == "exit 1\n"
    first, count, total = (d / "state" / "respawn").read_text().split()
    assert (count, total) == ("1", "1") and abs(int(first) - uptime_ms()) < 5000
    run_finish(tmp_path, d, files, "-1", "9")
    assert (d / "state" / "last_exit").read_text() == "signal 9\n"
    assert (d / "state" / "respawn").read_text().split()[1:] == ["2", "2"]
    assert (d / "supervise" / "control").read_text() == ""
    assert not (d / "state" / "failed").exists()


def test_respawn_stops_after_respawn_max_within_period(tmp_path):
    d = service_dir(tmp_path)
    files = render(model({"respawn_max": "2", "respawn_period": "1min"}))
    for _ in range(3):
        run_finish(tmp_path, d, files, "3", "0")
    assert (d / "state" / "failed").read_text() == \
        "respawned more than 2 times within 1min (last: exit 3)\n"
    assert (d / "supervise" / "control").read_text() == "dx", "runsv told to go down, then exit"
    assert (d / "down").exists(), "and to stay down if runsv itself restarts"


def test_respawn_count_starts_afresh_after_respawn_period(tmp_path):
    d = service_dir(tmp_path)
    (d / "state" / "respawn").write_text("%d 5 5\n" % (uptime_ms() - 5000))
    run_finish(tmp_path, d, render(model({"respawn_max": "2", "respawn_period": "1sec"})), "1", "0")
    assert (d / "state" / "respawn").read_text() == "0 0 6\n"
    assert not (d / "state" / "failed").exists()


def test_respawn_max_zero_never_gives_up(tmp_path):
    d = service_dir(tmp_path)
    files = render(model({"respawn_max": "0"}))
    for _ in range(4):
        run_finish(tmp_path, d, files, "1", "0")
    assert (d / "state" / "respawn").read_text().split()[1:] == ["4", "4"]
    assert not (d / "state" / "failed").exists()


def test_finish_does_not_count_a_stop(tmp_path):
    d = service_dir(tmp_path, stat="finish, want down")
    run_finish(tmp_path, d, render(model({"respawn_delay": "10"})), "0", "0")
    assert (d / "state" / "last_exit").read_text() == "exit 0\n"
    assert not (d / "state" / "respawn").exists()


def test_finish_waits_respawn_delay(tmp_path):
    d = service_dir(tmp_path)
    t0 = time.monotonic()
    run_finish(tmp_path, d, render(model({"respawn_delay": "600ms"})), "1", "0")
    assert 0.6 <= time.monotonic() - t0 < 3


def test_a_stop_cuts_the_respawn_delay_short(tmp_path):
    d = service_dir(tmp_path)
    path = tmp_path / "finish"
    path.write_text(render(model({"respawn_delay": "20"}))["finish"].content)
    t0 = time.monotonic()
    p = subprocess.Popen(["/bin/sh", str(path), "1", "0"], cwd=d)
    time.sleep(0.3)
    (d / "supervise" / "stat").write_text("finish, want down\n")
    assert p.wait(timeout=5) == 0
    assert time.monotonic() - t0 < 2


# control/t, check, log/run, health/run ------------------------------------------------

def test_control_t_sends_the_stop_signal_when_it_is_not_term(tmp_path):
    assert "control/t" not in render(model())
    d = service_dir(tmp_path, stat="run")
    victim = subprocess.Popen(["sleep", "30"])
    try:
        (d / "supervise" / "pid").write_text("%d\n" % victim.pid)
        r = run_script(tmp_path, render(model({"stopsig": "INT"}))["control/t"], cwd=d)
        assert r.returncode == 0, "0 keeps runsv from sending TERM as well"
        assert victim.wait(timeout=5) == -signal.SIGINT
    finally:
        victim.kill()
        victim.wait()


def test_control_t_signals_the_process_group_with_stopgroup(tmp_path):
    d = service_dir(tmp_path, stat="run")
    leader = subprocess.Popen(["/bin/sh", "-c", "sleep 30 & echo $! >child; wait"], cwd=tmp_path,
                              start_new_session=True)
    try:
        wait_for(lambda: (tmp_path / "child").exists() and (tmp_path / "child").read_text(), 5)
        child = int((tmp_path / "child").read_text())
        (d / "supervise" / "pid").write_text("%d\n" % leader.pid)
        r = run_script(tmp_path, render(model({"stopgroup": "yes"}))["control/t"], cwd=d)
        assert r.returncode == 0, r.stderr
        assert leader.wait(timeout=5) == -signal.SIGTERM
        wait_for(lambda: not _alive(child), 5, what="the daemon's child, in its group")
    finally:
        leader.kill()
        leader.wait()


def _alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


def test_check_runs_the_init_scripts_healthcheck(tmp_path):
    script = recorder(str(tmp_path / "init $d"), "svc")
    m = from_variables("svc", script, {"command": "/bin/true"}, [], ["healthcheck"])
    files = {os.path.basename(f.path): f
             for f in RunitBackend(m, environ={}, tools=Tools()).render()}
    r = run_script(tmp_path, files["check"])
    assert r.returncode == 0, r.stderr
    assert recorded(str(tmp_path / "init $d"), "argv").split("\0") == [script, "healthcheck"]


def test_log_run_gives_svlogd_the_log_pipe_in_runit_logdir(tmp_path):
    svlogd = recorder(str(tmp_path / "svlogd"), "svlogd")
    logs = str(tmp_path / "log dir $(x)")
    r = run_script(tmp_path, render(model({"runit_logdir": logs}), svlogd=svlogd,
                                    python=sys.executable)["log/run"], input="a line\n")
    assert r.returncode == 0, r.stderr
    assert recorded(str(tmp_path / "svlogd"), "argv").split("\0") == [svlogd, logs]
    assert recorded(str(tmp_path / "svlogd"), "stdin") == "a line\n"


ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="changes user, or needs root's dirs")


@ROOT_ONLY
def test_log_run_runs_the_logger_as_the_command_user(tmp_path):
    # The logger's own output goes to runsvdir's (here: our) stderr.
    logger = "cat; id -u; echo 'it''s'"
    r = run_script(tmp_path, render(model({"output_logger": logger, "command_user": "nobody"}),
                                    python=sys.executable)["log/run"], input="a line\n")
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "a line\n65534\nits\n")


@pytest.fixture
def trusting(monkeypatch):
    """Stop's own logic, in a tmp_path a non-root run cannot make root's:
    trust.py's check (test_trust.py) is taken as passed."""
    from openrc_sv import trust
    monkeypatch.setattr(trust, "untrusted_part", lambda path: None)


def _logdir_check(variables):
    b = RunitBackend(model(variables), environ=NO_RC, tools=Tools())
    b._check_logdir()


@ROOT_ONLY
def test_svlogd_runs_as_root_only_in_a_directory_only_root_can_change(tmp_path):
    base = tmp_path / "logs"
    base.mkdir()
    os.chmod(str(tmp_path), 0o755)
    _logdir_check({"runit_logdir": str(base / "new")})
    assert (base / "new").is_dir(), "created, root's"
    os.chown(str(base / "new"), 65534, 65534)
    with pytest.raises(UserError) as e:
        _logdir_check({"runit_logdir": str(base / "new")})
    assert str(e.value).startswith("runit_logdir: %s: svlogd would run as root in a "
                                   "directory another user can change" % (base / "new"))
    os.chown(str(base / "new"), 0, 0)
    os.chmod(str(base / "new"), 0o777)
    with pytest.raises(UserError):
        _logdir_check({"runit_logdir": str(base / "new")})
    # As the daemon's user it may be the user's own, but must exist.
    _logdir_check({"runit_logdir": str(base / "new"), "command_user": "nobody"})
    with pytest.raises(UserError) as e:
        _logdir_check({"runit_logdir": str(base / "none"), "command_user": "nobody"})
    assert str(e.value) == "runit_logdir: %s does not exist; create it for command_user " \
        "(checkpath -d -o nobody %s)" % (base / "none", base / "none")


def test_health_watcher_gets_the_healthcheck_timers(tmp_path):
    env = recorder(str(tmp_path / "env"), "env")
    files = render(model({"healthcheck_timer": "2", "healthcheck_delay": "1",
                          "healthcheck_timeout": "500ms", "retry": "TERM/7/KILL/1"},
                         functions=["healthcheck", "unhealthy"]),
                   environ={"PATH": "/usr/bin:/bin", "SECRET": "x"}, env=env)
    r = run_script(tmp_path, files["health/run"])
    assert r.returncode == 0, r.stderr
    assert recorded(str(tmp_path / "env"), "argv").split("\0")[1:] == [
        "-i", "PATH=/usr/bin:/bin", "PYTHONPATH=" + package_parent(), "/usr/bin/python3",
        "-S", "-m",
        "openrc_sv.backends.runit.healthwatch", "--dir", "/srv/sv/svc",
        "--script", "/etc/init.d/svc", "--timer", "2000", "--delay", "1000",
        "--timeout", "500", "--retry", "TERM/7sec/KILL/1sec", "--unhealthy"]


def test_no_health_watcher_without_healthcheck_timer_or_function():
    assert "health/run" not in render(model(functions=["healthcheck"]))
    assert "health/run" not in render(model({"healthcheck_timer": "1"}))
    assert "check" not in render(model({"healthcheck_timer": "1"}))


# What the scripts and the backend read ---------------------------------------

def test_supervise_status_decodes_runsvs_twenty_bytes():
    data = struct.pack(">QL", 4611686018427387914 + 1000, 500000000) + \
        struct.pack("<L", 1234) + b"\0u\0\1"
    st = supervise.parse_status(data)
    assert (st.state, st.pid, st.since, st.want, st.paused, st.got_term) == \
        ("run", 1234, 1000.5, "up", False, False)
    down = supervise.parse_status(data[:12] + b"\0\0\0\0" + b"\0d\1\0")
    assert (down.state, down.pid, down.want, down.got_term) == ("down", None, "down", True)
    assert supervise.parse_status(b"short") is None


def test_a_hidden_healthcheck_is_recorded_once_and_the_watcher_stays_down(tmp_path):
    """extra_commands without healthcheck: no restart, no loop."""
    daemon = subprocess.Popen(["sleep", "30"])
    script = tmp_path / "svc"
    script.write_text("#!/bin/sh\necho $$ >>%s/checks\n"
                      "echo ' * svc: unknown function healthcheck' >&2\nexit 1\n" % tmp_path)
    script.chmod(0o755)
    d = tmp_path / "service"
    (d / "supervise").mkdir(parents=True)
    (d / "state").mkdir()
    (d / "supervise" / "status").write_bytes(
        struct.pack(">QL", 4611686018427387914 + int(time.time()) - 5, 0)
        + struct.pack("<L", daemon.pid) + bytes([0, ord("u"), 0, 1]))
    (d / "health" / "supervise").mkdir(parents=True)
    control = d / "health" / "supervise" / "control"
    os.mkfifo(str(control))
    (d / "health" / "supervise" / "ok").touch()
    reader = os.open(str(control), os.O_RDONLY | os.O_NONBLOCK)
    try:
        opts = healthwatch.parse(["--dir", str(d), "--script", str(script), "--timer", "100",
                                  "--delay", "0", "--timeout", "5000", "--retry", "TERM/1/KILL/1",
                                  "--unhealthy"])
        healthwatch.watch(opts)     # returns: checking stops
        assert os.read(reader, 10) == b"d", "its own runsv keeps it down"
        assert (tmp_path / "checks").read_text().count("\n") == 1
        assert (d / "state" / "health").read_text().startswith("hidden ")
        assert daemon.poll() is None, "the daemon was not restarted"
    finally:
        os.close(reader)
        daemon.kill()
        daemon.wait()


def test_a_health_restart_asks_runsv_and_ends_when_that_daemon_is_gone(tmp_path, monkeypatch):
    daemon = subprocess.Popen(["sleep", "30"])
    script = tmp_path / "svc"
    script.write_text("#!/bin/sh\necho \"$1\" >>%s/ran\n[ \"$1\" = unhealthy ]\n" % tmp_path)
    script.chmod(0o755)
    sent = []

    def control(svdir, commands):
        sent.append(commands)
        if commands == "tcu":
            daemon.terminate()
            daemon.wait()
        return True
    monkeypatch.setattr(supervise, "control", control)
    opts = healthwatch.parse(["--dir", str(tmp_path), "--script", str(script), "--timer", "1",
                              "--delay", "1", "--timeout", "5000", "--retry", "TERM/5/KILL/5",
                              "--unhealthy"])
    healthwatch.restart(opts, daemon.pid)
    assert sent == ["tcu"]


# status and stop without runit (a runsv that was killed) -------------------------

def fake_service(tmp_path, pid, since, state=1):
    """A service directory as runsv leaves it when killed: status, no runsv."""
    root = tmp_path / "root"
    d = root / "svc"
    (d / "supervise").mkdir(parents=True)
    (d / "state").mkdir()
    (d / "supervise" / "status").write_bytes(
        struct.pack(">QL", 4611686018427387914 + int(since), 0) + struct.pack("<L", pid)
        + bytes([0, ord("u"), 0, state]))
    (d / MARKER).write_text("")
    m = model({"runit_svdir_root": str(root), "runit_scandir": str(tmp_path / "scan")})
    return d, RunitBackend(m, environ={"RC_SVCDIR": str(tmp_path / "rc")}, tools=Tools())


def test_status_without_runsv_is_unsupervised_while_the_daemon_runs(tmp_path):
    daemon = subprocess.Popen(["sleep", "30"])
    try:
        _, backend = fake_service(tmp_path, daemon.pid, time.time())
        st = backend.status()
        assert (st.state, st.pid, st.exit_code) == ("unsupervised", daemon.pid, 64)
    finally:
        daemon.kill()
        daemon.wait()
    st = backend.status()
    assert (st.state, st.pid, st.exit_code) == ("crashed", None, 32)


def test_stop_without_runsv_stops_the_orphaned_daemon_and_removes_everything(tmp_path, trusting):
    daemon = subprocess.Popen(["sleep", "30"])
    try:
        d, backend = fake_service(tmp_path, daemon.pid, time.time())
        (tmp_path / "scan").mkdir()
        os.symlink(str(d), str(tmp_path / "scan" / "svc"))
        backend.stop()
        assert daemon.wait(timeout=5) == -signal.SIGTERM
        assert not d.exists() and os.listdir(tmp_path / "scan") == []
    finally:
        daemon.kill()
        daemon.wait()


def test_stop_leaves_alone_a_process_that_reuses_the_daemons_number(tmp_path, trusting):
    stranger = subprocess.Popen(["sleep", "30"])
    try:
        d, backend = fake_service(tmp_path, stranger.pid, time.time() - 3600)
        backend.stop()
        assert stranger.poll() is None and not d.exists()
    finally:
        stranger.kill()
        stranger.wait()


def test_stop_leaves_alone_a_service_directory_openrc_sv_did_not_create(tmp_path, trusting):
    d, backend = fake_service(tmp_path, 1, time.time())
    (d / MARKER).unlink()
    (tmp_path / "scan").mkdir()
    os.symlink(str(d), str(tmp_path / "scan" / "svc"))
    before = sorted(os.listdir(d))
    backend.stop()
    assert sorted(os.listdir(d)) == before and os.path.islink(tmp_path / "scan" / "svc")
    with pytest.raises(UserError) as e:
        backend.start()
    assert str(e.value) == "runit_svdir_root: %s already exists and is not openrc-sv's; " \
        "choose another runit_svdir_root= (openrc-sv neither uses nor removes a directory it " \
        "did not create)" % d
    assert sorted(os.listdir(d)) == before


def _slept_ms(tmp_path, monkeypatch, variables, count):
    """Run finish once after `count` respawns in the period, with a `sleep`
    that records instead of sleeping; the total wait it asked for, in ms."""
    d = service_dir(tmp_path)
    (d / "state" / "respawn").write_text("%d %d %d\n" % (uptime_ms() - 1000, count, count))
    stub = tmp_path / "stub"
    stub.mkdir()
    log = tmp_path / "slept"
    (stub / "sleep").write_text('#!/bin/sh\necho "$1" >> %s\n' % log)
    (stub / "sleep").chmod(0o755)
    monkeypatch.setenv("PATH", "%s:%s" % (stub, os.environ.get("PATH", "/usr/bin:/bin")))
    files = render(model(dict({"respawn_max": "0"}, **variables)))
    assert run_finish(tmp_path, d, files, "1", "0").returncode == 0
    return round(sum(float(x) for x in log.read_text().split()) * 1000) if log.exists() else 0


def test_finish_waits_the_delay_plus_the_step_per_respawn_under_0_62_rules(tmp_path, monkeypatch):
    # The 4th respawn in the period: 1s + 4 x 128ms, as supervise-daemon 0.62+.
    assert _slept_ms(tmp_path, monkeypatch, {"respawn_delay": "1",
                                             "supervise_daemon_compat": "0.62"}, 3) == 1512


def test_finish_caps_the_grown_delay_under_0_62_rules(tmp_path, monkeypatch):
    assert _slept_ms(tmp_path, monkeypatch, {"respawn_delay": "29",
                                             "supervise_daemon_compat": "0.62"}, 20) == 30000


def test_finish_waits_only_the_delay_under_0_45_rules(tmp_path, monkeypatch):
    assert _slept_ms(tmp_path, monkeypatch, {"respawn_delay": "1",
                                             "supervise_daemon_compat": "0.45"}, 3) == 1000



def test_finish_says_why_in_down_reason_when_openrc_state_exists(tmp_path):
    rc = tmp_path / "rc"
    (rc / "options").mkdir(parents=True)
    d = service_dir(tmp_path)
    files = render(model({"respawn_stop_status": "78"}), environ={"RC_SVCDIR": str(rc)})
    assert run_finish(tmp_path, d, files, "78", "0").returncode == 0
    assert (rc / "options" / "svc" / "down_reason").read_text() == "stop status: exit 78"
    assert (d / "state" / "failed").read_text() == "stop status: exit 78\n"
    assert (d / "down").exists() and (d / "supervise" / "control").read_text() == "dx"


def test_finish_makes_no_openrc_state_that_is_not_there(tmp_path):
    d = service_dir(tmp_path)
    run_finish(tmp_path, d, render(model({"respawn_stop_status": "78"}),
                                   environ={"RC_SVCDIR": str(tmp_path / "none")}), "78", "0")
    assert not (tmp_path / "none").exists()


def test_finish_without_the_policy_has_none_of_its_steps():
    text = render(model())["finish"].content
    assert "respawn_on=" not in text.replace("# respawn_on", "")
    assert "health.seen" not in text and "factor" not in text.split("# state/backoff")[1]
