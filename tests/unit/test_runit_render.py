"""What the runit backend renders, checked by running it.

The rendered scripts are executed here with the daemon (and chpst, svlogd
or env where that matters) replaced by small recorders, so the tests see
the words a program would get, not the text that should produce them.
Also here: the pieces the scripts rely on (runsv's status format, the
health watcher's check runner).
"""

import os
import signal
import struct
import subprocess
import time

import pytest

from openrc_sv.launcher import package_parent

from openrc_sv.backends.model import from_variables
from openrc_sv.backends.runit import RunitBackend, healthwatch, supervise
from openrc_sv.backends.runit.render import Tools
from openrc_sv.errors import UserError
from sandbox import wait_for

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


def render(m, environ=None, **tools):
    """{path relative to the service directory: RenderedFile}"""
    t = dict(env="/usr/bin/env", chpst="/usr/bin/chpst", svlogd="/usr/bin/svlogd",
             python="/usr/bin/python3")
    t.update(tools)
    backend = RunitBackend(m, environ=environ if environ is not None else {}, tools=Tools(**t))
    return {os.path.relpath(f.path, backend.layout.dir): f for f in backend.render()}


def run_script(tmp_path, rendered, cwd=None, args=()):
    """Write one rendered script and run it with sh; the CompletedProcess."""
    path = tmp_path / ("script.%d" % len(os.listdir(tmp_path)))
    path.write_text(rendered.content)
    return subprocess.run(["/bin/sh", str(path)] + list(args), cwd=cwd or tmp_path,
                          capture_output=True, text=True, timeout=20)


# The service directory -------------------------------------------------------

def test_render_writes_nothing_and_names_the_service_directory(tmp_path):
    root = str(tmp_path / "root")
    files = render(model({"runit_svdir_root": root}))
    assert sorted(files) == ["finish", "run"]
    assert {f.path for f in files.values()} == {root + "/svc/run", root + "/svc/finish"}
    assert all(f.mode == 0o700 for f in files.values()), "run holds the daemon's environment"
    assert not os.path.exists(root)


def test_render_adds_check_control_log_and_watcher_when_asked_for():
    files = render(model({"stopsig": "QUIT", "output_log": "/var/log/svc/out.log",
                          "healthcheck_timer": "10"}, functions=["healthcheck"]))
    assert sorted(files) == ["check", "control/t", "finish", "health/run", "log/run", "run"]


def test_service_directory_defaults_under_rc_svcdir():
    m = from_variables("svc", "/etc/init.d/svc", {"command": "/bin/true"}, [])
    b = RunitBackend(m, environ={"RC_SVCDIR": "/run/rc"}, tools=Tools())
    assert {f.path for f in b.render()} == {"/run/rc/openrc-sv/runit/svc/run",
                                             "/run/rc/openrc-sv/runit/svc/finish"}


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
    r = run_script(tmp_path, render(model({"command": daemon}, args=HOSTILE))["run"])
    assert r.returncode == 0, r.stderr
    assert recorded(bindir, "argv").split("\0") == [daemon] + HOSTILE
    assert not os.path.exists(tmp_path / "pwned")


def test_run_gives_the_daemon_the_callers_environment_cleaned_like_supervise_daemon(tmp_path):
    daemon = recorder(str(tmp_path / "bin"))
    environ = {"FOO": "x\ny 'z' $HOME", "RC_SVCNAME": "svc", "EINFO_QUIET": "yes",
               "SSD_NICELEVEL": "1", "SVCNAME": "svc",
               "PATH": "/lib/rc/bin:/usr/bin:/lib/rc/sbin:/bin"}
    r = run_script(tmp_path, render(model({"command": daemon}), environ=environ)["run"])
    assert r.returncode == 0, r.stderr
    env = dict(kv.split("=", 1) for kv in recorded(str(tmp_path / "bin"), "env").split("\0"))
    env.pop("LC_CTYPE", None)   # the recorder's Python adds it to a C locale (PEP 538)
    assert env == {"FOO": "x\ny 'z' $HOME", "PATH": "/usr/bin:/bin"}


def test_run_enters_directory_sets_umask_and_reads_input_file(tmp_path):
    daemon = recorder(str(tmp_path / "bin"))
    work = tmp_path / "work $(touch pwned)"
    work.mkdir()
    infile = tmp_path / "in put"
    infile.write_text("hello\n")
    r = run_script(tmp_path, render(model({"command": daemon, "directory": str(work),
                                           "umask": "027", "input_file": str(infile)}))["run"])
    assert r.returncode == 0, r.stderr
    assert recorded(str(tmp_path / "bin"), "cwd") == str(work)
    assert recorded(str(tmp_path / "bin"), "umask") == "0027"
    assert recorded(str(tmp_path / "bin"), "stdin") == "hello\n"
    assert not os.path.exists(tmp_path / "pwned")


def test_run_fails_with_111_when_the_directory_is_missing(tmp_path):
    r = run_script(tmp_path, render(model({"directory": str(tmp_path / "nowhere")}))["run"])
    assert r.returncode == 111


def test_run_hands_user_and_chroot_to_chpst_and_enters_directory_inside(tmp_path):
    chpst = recorder(str(tmp_path / "chpst"), "chpst")
    files = render(model({"command_user": "nobody", "chroot": "/srv/root",
                          "directory": "/var/lib/foo"}, args=["a b"]), chpst=chpst)
    r = run_script(tmp_path, files["run"])
    assert r.returncode == 0, r.stderr
    words = recorded(str(tmp_path / "chpst"), "argv").split("\0")[1:]
    chdir = words[5:9]
    assert words[:5] == ["-u", ":65534:65534", "-/", "/srv/root", "--"]
    assert chdir[0] == "/bin/sh" and chdir[3] == "openrc-sv-chdir"
    assert words[9:] == ["/var/lib/foo", "/usr/bin/daemon", "a b"]
    # What chpst runs inside the chroot enters the directory, then execs
    # the daemon with its words intact.
    daemon = recorder(str(tmp_path / "bin"))
    work = tmp_path / "a dir"
    work.mkdir()
    r = subprocess.run(chdir + [str(work), daemon] + HOSTILE, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert recorded(str(tmp_path / "bin"), "cwd") == str(work)
    assert recorded(str(tmp_path / "bin"), "argv").split("\0")[1:] == HOSTILE


def test_no_new_privs_is_set_with_setpriv_before_chpst(tmp_path):
    daemon = recorder(str(tmp_path / "bin"))
    r = run_script(tmp_path, render(model({"command": daemon}))["run"])
    assert recorded(str(tmp_path / "bin"), "nnp") == "0"
    r = run_script(tmp_path, render(model({"command": daemon, "no_new_privs": "yes"}),
                                    setpriv="/usr/bin/setpriv")["run"])
    assert r.returncode == 0, r.stderr
    assert recorded(str(tmp_path / "bin"), "nnp") == "1"


def test_stopgroup_starts_the_daemon_in_its_own_process_group(tmp_path):
    daemon = recorder(str(tmp_path / "bin"))
    r = run_script(tmp_path, render(model({"command": daemon, "stopgroup": "yes"}))["run"])
    assert r.returncode == 0, r.stderr
    pid, pgid = recorded(str(tmp_path / "bin"), "pgid").split()
    assert pid == pgid


@pytest.mark.parametrize("variable, value, why", [
    ("notify", "fd:3", "runit has no readiness notification for a start to wait on"),
    ("capabilities", "^cap_net_bind_service", "chpst cannot set capabilities"),
    ("secbits", "0x2f", "chpst cannot set secure bits"),
])
def test_what_runit_cannot_do_is_refused_naming_the_variable(variable, value, why):
    with pytest.raises(UserError) as e:
        render(model({variable: value}))
    assert str(e.value) == "%s: not supported with sv_backend=runit (%s); use sv_backend=native" \
        % (variable, why)


def test_command_user_keeps_the_users_supplementary_groups(tmp_path, monkeypatch):
    # As supervise-daemon's getgrouplist()/setgroups(); numeric, so that
    # nothing is looked up inside a chroot.
    monkeypatch.setattr(os, "getgrouplist", lambda name, gid: [gid, 100, 5] if name == "nobody"
                        else [gid])
    chpst = recorder(str(tmp_path / "chpst"), "chpst")
    run_script(tmp_path, render(model({"command_user": "nobody"}), chpst=chpst)["run"])
    assert recorded(str(tmp_path / "chpst"), "argv").split("\0")[1:3] == \
        ["-u", ":65534:65534:100:5"]


def test_run_sends_stderr_to_the_log_only_when_output_is_logged(tmp_path):
    daemon = recorder(str(tmp_path / "bin"))
    plain = run_script(tmp_path, render(model({"command": daemon}))["run"])
    logged = run_script(tmp_path, render(model({"command": daemon,
                                                "output_log": "/var/log/x/out.log"}))["run"])
    assert (plain.stdout, plain.stderr) == ("to stdout\n", "to stderr\n")
    assert (logged.stdout, logged.stderr) == ("to stdout\nto stderr\n", "")


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
    assert (d / "supervise" / "control").read_text() == "d", "runsv told to go down"
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


def test_log_run_runs_svlogd_in_the_directory_of_output_log(tmp_path):
    svlogd = recorder(str(tmp_path / "svlogd"), "svlogd")
    logs = tmp_path / "log dir $(x)"
    for variables, expected in (({"output_log": str(logs / "out.log")}, logs),
                                ({"error_log": str(logs / "e" / "err.log")}, logs / "e"),
                                ({"output_log": "/nowhere/out.log",
                                  "runit_logdir": str(logs / "own")}, logs / "own")):
        r = run_script(tmp_path, render(model(variables), svlogd=svlogd)["log/run"])
        assert r.returncode == 0, r.stderr
        assert recorded(str(tmp_path / "svlogd"), "argv").split("\0")[1:] == [str(expected)]
        assert expected.is_dir(), "created for svlogd"


def test_log_run_pipes_output_to_output_logger_as_the_command_user(tmp_path):
    chpst = recorder(str(tmp_path / "chpst"), "chpst")
    logger = "logger -t 'my svc' -p daemon.info"
    r = run_script(tmp_path, render(model({"output_logger": logger, "command_user": "nobody"}),
                                    chpst=chpst)["log/run"])
    assert r.returncode == 0, r.stderr
    assert recorded(str(tmp_path / "chpst"), "argv").split("\0")[1:] == \
        ["-u", ":65534:65534", "--", "/bin/sh", "-c", logger]


def test_health_watcher_gets_the_healthcheck_timers(tmp_path):
    env = recorder(str(tmp_path / "env"), "env")
    files = render(model({"healthcheck_timer": "2", "healthcheck_delay": "1",
                          "healthcheck_timeout": "500ms", "retry": "TERM/7/KILL/1"},
                         functions=["healthcheck", "unhealthy"]),
                   environ={"PATH": "/usr/bin:/bin", "SECRET": "x"}, env=env)
    r = run_script(tmp_path, files["health/run"])
    assert r.returncode == 0, r.stderr
    assert recorded(str(tmp_path / "env"), "argv").split("\0")[1:] == [
        "-i", "PATH=/usr/bin:/bin", "PYTHONPATH=" + package_parent(), "/usr/bin/python3", "-S", "-m",
        "openrc_sv.backends.runit.healthwatch", "--dir", "/srv/sv/svc",
        "--script", "/etc/init.d/svc", "--timer", "2000", "--delay", "1000",
        "--timeout", "500", "--stop-timeout", "7000", "--unhealthy"]


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


def test_health_check_that_hangs_is_killed_after_its_timeout(tmp_path):
    script = tmp_path / "svc"
    script.write_text("#!/bin/sh\nsleep 30 &\necho $! >%s/child\nwait\n" % tmp_path)
    script.chmod(0o755)
    opts = healthwatch.parse(["--dir", str(tmp_path), "--script", str(script), "--timer", "1",
                              "--delay", "1", "--timeout", "300", "--stop-timeout", "1"])
    t0 = time.monotonic()
    assert healthwatch.run_command(opts, "healthcheck", 300) == \
        (False, "healthcheck timed out after 300ms")
    assert time.monotonic() - t0 < 3
    child = int((tmp_path / "child").read_text())

    def dead():
        try:
            with open("/proc/%d/stat" % child) as f:
                return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
        except FileNotFoundError:
            return True
    wait_for(dead, 5, what="the check's child, killed with its process group")


def test_health_check_result_names_the_exit_code(tmp_path):
    script = tmp_path / "svc"
    script.write_text("#!/bin/sh\n[ \"$1\" = healthcheck ] && exit 3\nexit 0\n")
    script.chmod(0o755)
    opts = healthwatch.parse(["--dir", str(tmp_path), "--script", str(script), "--timer", "1",
                              "--delay", "1", "--timeout", "5000", "--stop-timeout", "1"])
    assert healthwatch.run_command(opts, "healthcheck", 5000) == \
        (False, "healthcheck failed (exit 3)")
    assert healthwatch.run_command(opts, "unhealthy", 5000) == (True, "unhealthy passed")


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
    m = model({"runit_svdir_root": str(root), "runit_scandir": str(tmp_path / "scan")})
    return d, RunitBackend(m, environ={}, tools=Tools())


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


def test_stop_without_runsv_stops_the_orphaned_daemon_and_removes_everything(tmp_path):
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


def test_stop_leaves_alone_a_process_that_reuses_the_daemons_number(tmp_path):
    stranger = subprocess.Popen(["sleep", "30"])
    try:
        d, backend = fake_service(tmp_path, stranger.pid, time.time() - 3600)
        backend.stop()
        assert stranger.poll() is None and not d.exists()
    finally:
        stranger.kill()
        stranger.wait()
