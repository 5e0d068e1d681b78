"""The runscript plugin's start and stop at close to C's cost (issue 10):
what the native path imports, our supervise-daemon run in-process with
its stderr taken as before, the plain records that replace dataclasses,
and the plugin's fork-free shell helpers.  No timing here.
"""

import os
import subprocess
import sys

import pytest

from openrc_sv import launcher, shellvars
from openrc_sv.backends import native
from openrc_sv.backends.base import RenderedFile, Status
from openrc_sv.backends.model import ServiceModel

PARENT = launcher.package_parent()

# A report as the plugin writes it for a start (openrc-sv-model 1).
REPORT = b"\0".join([b"openrc-sv-model", b"1",
                     b"V", b"RC_SVCNAME", b"svc", b"V", b"RC_SERVICE", b"/etc/init.d/svc",
                     b"V", b"command", b"/bin/sleep", b"V", b"command_args", b"100",
                     b"V", b"supervisor", b"openrc-sv", b"V", b"sv_backend", b"native",
                     b"V", b"output_log", b"/var/log/svc.log", b"V", b"respawn_delay", b"2",
                     b"W", b"A", b"100", b"END", b""])

# What the plugin's native start runs before it forks the supervisor:
# the command line, the report, the model, the backend, the in-process
# supervise-daemon's modules.
NATIVE_START = """
import os
os.environ.update(RC_SVCNAME="svc", RC_LIBEXECDIR="/nonexistent")
from openrc_sv import cli
a = cli._plugin_args(["start", "--model", "-", "svc"])
from openrc_sv.cli import control, evaluate, output
from openrc_sv import shellvars
ev = shellvars.parse(%r)
m = evaluate.model("svc", ev)
b = evaluate.backend_for(m)
words = b.start_words()
from openrc_sv.backends.options import in_variables
in_variables("a warning of a start that worked")
from openrc_sv import supervise_daemon, sd_args, daemonize, orphans, forkserver_client
sd_args.parse(words, {"RC_SVCNAME": "svc"})
""" % (REPORT,)

NEVER_ON_NATIVE = ("jinja2", "sh", "dataclasses", "typing", "argparse", "subprocess",
                   "importlib.metadata", "json", "enum", "inspect", "shlex", "importlib",
                   "openrc_sv.backends.runit", "openrc_sv.backends.monit",
                   "openrc_sv.backends.templating")


def modules_after(code):
    out = subprocess.run([sys.executable, "-I", "-S", "-c",
                          "import sys; sys.path.insert(0, %r)\n%s\n"
                          "print(' '.join(sorted(sys.modules)))" % (PARENT, code)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return set(out.stdout.split())


def test_the_plugins_native_start_imports_nothing_heavy():
    mods = modules_after(NATIVE_START)
    assert "openrc_sv.backends.native" in mods and "openrc_sv.daemonize" in mods
    assert sorted(m for m in NEVER_ON_NATIVE if m in mods) == []


def test_only_a_message_naming_an_option_costs_the_re_module():
    mods = modules_after("from openrc_sv.backends import options\n"
                         "assert options.in_variables('cannot start') == 'cannot start'")
    assert "re" not in mods
    from openrc_sv.backends.options import in_variables
    assert in_variables("--stdout: cannot open '/x': no such dir") == \
        "output_log: cannot open '/x': no such dir"
    assert in_variables("svc: --respawn-max: bad") == "svc: respawn_max: bad"


def test_the_plugins_status_imports_no_json():
    mods = modules_after("from openrc_sv.cli import report")
    assert "json" not in mods and "subprocess" not in mods


# -- supervise-daemon in this process ------------------------------------------

@pytest.fixture
def svcdir(tmp_path, monkeypatch):
    monkeypatch.setenv("RC_SVCDIR", str(tmp_path))
    return tmp_path


def test_its_error_lines_are_taken_and_nothing_else_changes(svcdir, monkeypatch, capsys):
    monkeypatch.delenv("SVCNAME", raising=False)
    monkeypatch.setenv("RC_SVCNAME", "before")
    stderr = sys.stderr
    rc, lines = native.run_supervise_daemon(
        ["svc", "--start", "/nonexistent/daemon"], {"RC_SVCNAME": "svc", "SVCNAME": "svc"},
        capture=True)
    assert rc != 0
    assert lines and "/nonexistent/daemon" in lines[-1] and "supervise-daemon" in lines[-1]
    assert sys.stderr is stderr
    assert os.environ["RC_SVCNAME"] == "before" and "SVCNAME" not in os.environ
    assert capsys.readouterr().err == ""


def test_the_backend_names_the_variable_not_the_option(svcdir, tmp_path):
    m = ServiceModel(service="svc", script="/etc/init.d/svc", command="/bin/true",
                     output_log=str(tmp_path / "no" / "such" / "dir" / "log"))
    b = native.NativeBackend(m)
    rc, said = b._run(b.start_words(), errors=True)
    assert rc != 0
    assert said[-1].startswith("output_log: "), said


def test_the_forked_supervisor_gets_the_real_stderr_back(svcdir, monkeypatch):
    import openrc_sv.supervise_daemon as sd
    r, w = os.pipe()

    def fake_main(words, in_child=None):
        # As _fork_supervisor: in_child() first thing in the supervisor.
        sys.stderr.write(" * supervise-daemon: parent\n")
        pid = os.fork()
        if pid == 0:
            in_child()
            os.write(w, b"real" if sys.stderr is sys.__stderr__ or
                     not isinstance(sys.stderr, native._Said) else b"taken")
            os._exit(0)
        os.waitpid(pid, 0)
        return 1
    monkeypatch.setattr(sd, "main", fake_main)
    rc, lines = native.run_supervise_daemon(["svc", "--stop"], {}, capture=True)
    os.close(w)
    assert os.read(r, 16) == b"real"
    os.close(r)
    assert (rc, lines) == (1, [" * supervise-daemon: parent"])


def test_without_capture_it_writes_where_it_would_have(svcdir, capfd):
    rc = native.run_supervise_daemon(["svc", "--signal", "HUP"], {"RC_SVCNAME": "svc"})
    assert rc != 0
    assert "supervise-daemon" in capfd.readouterr().err


# -- plain records -----------------------------------------------------------------

def test_status_takes_its_fields_by_position_or_name():
    s = Status("s", "b", "started", 5, last_exit="signal 15")
    assert (s.service, s.backend, s.state, s.pid, s.last_exit) == ("s", "b", "started", 5,
                                                                     "signal TERM")
    assert s.detail == {} and s.detail is not Status("s", "b", "x").detail
    assert s == Status("s", "b", "started", pid=5, last_exit="signal TERM")
    assert s != Status("s", "b", "started")
    assert "pid=5" in repr(s)
    with pytest.raises(TypeError):
        Status("s", "b")
    with pytest.raises(TypeError):
        Status("s", "b", "started", bogus=1)
    with pytest.raises(TypeError):
        Status("s", "b", "started", service="t")


def test_a_rendered_file_is_immutable_and_hashable():
    f = RenderedFile("/x", "text")
    assert f.mode == 0o644 and f == RenderedFile(path="/x", content="text", mode=0o644)
    assert len({f, RenderedFile("/x", "text")}) == 1
    with pytest.raises(AttributeError):
        f.mode = 0o600


def test_each_model_gets_its_own_lists():
    a = ServiceModel(service="a", script="/a", command="/bin/a")
    b = ServiceModel(service="b", script="/b", command="/bin/b")
    a.args.append("x")
    a.extra["k"] = "v"
    assert b.args == [] and b.extra == {}
    assert a.reload_signal == 1 and a.stop_signal == 15


def test_an_evaluation_unpacks_as_before():
    ev = shellvars.parse(REPORT)
    variables, args, functions = ev
    assert args == ["100"] and ev.sd_args == [] and functions == frozenset()
    assert ev == shellvars.parse(REPORT)


# -- the plugin's shell ------------------------------------------------------------

SHELLS = [s for s in ("dash", "bash", "busybox") if subprocess.run(
    ["sh", "-c", "command -v %s" % s], capture_output=True).returncode == 0]


def run_sh(shell, script):
    argv = [shell, "sh", "-c"] if shell == "busybox" else [shell, "-c"]
    return subprocess.run(argv + [script, "sh", shellvars.PLUGIN],
                          capture_output=True, text=True)


@pytest.mark.parametrize("shell", SHELLS)
def test_the_dump_leaves_the_callers_ifs_and_globbing_as_they_were(shell, tmp_path):
    script = r'''
. "$1"
_openrc_sv_functions=
cd %s
touch a b
multi='first
*
x=y'
IFS=:
_openrc_sv_dump > /dev/null
[ "$IFS" = : ] && echo ifs-kept
echo *
set -f
IFS=' 	
'
_openrc_sv_dump | tr '\0' '\n' | grep -A3 -x multi
case $- in *f*) echo still-noglob ;; esac
''' % tmp_path
    out = run_sh(shell, script)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["ifs-kept", "a b", "multi", "first", "*", "x=y",
                                       "still-noglob"]


@pytest.mark.parametrize("shell", SHELLS)
def test_only_a_function_counts_as_defined(shell):
    out = run_sh(shell, '. "$1"; f() { :; }; healthcheck=1; '
                        'for n in f ls healthcheck no_such; do '
                        '_openrc_sv_defined $n && echo "$n yes" || echo "$n no"; done; '
                        'command -v ls >/dev/null && echo path-kept')
    assert out.stdout.splitlines() == ["f yes", "ls no", "healthcheck no", "no_such no",
                                       "path-kept"]


# -- the supervisor's command line -------------------------------------------------

def test_words_that_do_not_fit_are_left_off_whole():
    from openrc_sv import proctitle
    assert proctitle.fit(["ab", "cd"], 8) == b"ab\0cd\0\0\0"
    assert proctitle.fit(["ab", "cdef"], 6) == b"ab\0\0\0\0"
    assert proctitle.fit(["abcdef"], 4) is None
    assert proctitle.fit(["ab", "cdef"], 6, need=2) is None
    assert proctitle.fit(["ab", "cd", "ef"], 7, need=2) == b"ab\0cd\0\0"


def test_a_process_shows_the_command_line_it_is_given():
    code = ("import sys, os; sys.path.insert(0, %r)\n"
            "from openrc_sv import proctitle\n"
            "ok = proctitle.set_words(['python', '-I', '-S', '/x/supervise-daemon', 'svc'])\n"
            "from openrc_sv import procinfo\n"
            "print(ok, [w for w in procinfo.cmdline(os.getpid()) if w], sys.argv[1:])" % PARENT)
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code, "x" * 60],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == ("True ['python', '-I', '-S', '/x/supervise-daemon', 'svc'] ['%s']"
                           % ("x" * 60))


def test_the_supervisor_forked_in_process_shows_supervise_daemons_command_line(svcdir,
                                                                               monkeypatch):
    import openrc_sv.supervise_daemon as sd
    from openrc_sv import procinfo
    r, w = os.pipe()

    def fake_main(words, in_child=None):
        pid = os.fork()
        if pid == 0:
            in_child()
            os.write(w, "\0".join(procinfo.cmdline(os.getpid())).encode())
            os._exit(0)
        os.waitpid(pid, 0)
        return 0
    monkeypatch.setattr(sd, "main", fake_main)
    native.run_supervise_daemon(["svc", "--start", "/bin/sleep", "--", "1"], {}, capture=True)
    os.close(w)
    shown = [x for x in os.read(r, 65536).decode().split("\0") if x]
    os.close(r)
    want = native.supervise_daemon_argv() + ["svc", "--start", "/bin/sleep", "--", "1"]
    # What fits in pytest's own argument area: whole words, in order, at
    # least up to the service's name; or, if not even that, pytest's line.
    from openrc_sv import proctitle
    start, end = proctitle._arg_area()
    fits = proctitle.fit(want, end - start, need=len(want) - 4)
    if fits is None:
        # Else the bare name, as OpenRC's shows; else pytest's own line.
        bare = ["supervise-daemon"] + want[len(want) - 5:]
        short = proctitle.fit(bare, end - start, need=2)
        if short is None:
            assert shown == [w for w in procinfo.cmdline(os.getpid()) if w]
        else:
            assert shown == [w.decode() for w in short.split(b"\0") if w]
            assert shown == bare[:len(shown)] and len(shown) >= 2
    else:
        assert shown == [w.decode() for w in fits.split(b"\0") if w]
        assert shown == want[:len(shown)] and len(shown) >= len(want) - 4


def test_a_command_line_too_short_for_the_service_name_is_left_as_it_was(tmp_path):
    script = tmp_path / "t.py"
    script.write_text("import sys, os; sys.path.insert(0, %r)\n"
                      "from openrc_sv import proctitle, procinfo\n"
                      "ok = proctitle.set_words(['python', '-I', '-S', '/%s/supervise-daemon', "
                      "'svc'], need=5)\n"
                      "print(ok, [w for w in procinfo.cmdline(os.getpid()) if w][-1])"
                      % (PARENT, "long" * 200))
    out = subprocess.run([sys.executable, str(script), "x"], capture_output=True, text=True,
                         check=True).stdout
    assert out.split() == ["False", "x"]


# -- the end of a plugin command -----------------------------------------------------

@pytest.mark.parametrize("argv,code", [
    (["start", "--model", "-", "svc"], 1),              # the plugin's: ends the process
    (["status", "--quiet", "--model", "-", "svc"], 1),
    (["status", "--json", "no-such-service"], None),    # anything else returns
])
def test_a_plugin_command_line_ends_the_process_with_its_output_written(argv, code, tmp_path):
    lean = launcher.cli_code(dirs=[])
    out = subprocess.run([sys.executable, "-I", "-S", "-c",
                          lean.replace("sys.exit(main())",
                                       "print('to stdout', end=''); rc = main(); "
                                       "print('returned', rc); sys.exit(rc)")] + argv,
                         input=b"", capture_output=True,
                         env=dict(os.environ, RC_SVCDIR=str(tmp_path)))
    if code is None:
        assert b"returned" in out.stdout
    else:
        assert (out.returncode, out.stdout) == (code, b"to stdout")
        assert out.stderr.startswith(b" * ERROR: svc: ") and b"Traceback" not in out.stderr


def test_main_called_with_a_list_returns_for_the_plugins_lines_too(tmp_path, monkeypatch):
    from openrc_sv import cli
    monkeypatch.setenv("RC_SVCDIR", str(tmp_path))
    monkeypatch.setattr(sys, "stdin", open(os.devnull))
    assert cli.main(["stop", "--model", "-", "svc"]) == 1
