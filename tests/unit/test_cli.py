"""The openrc-sv command, run in-process against a private /run/openrc and a
recording backend, so no daemon is started here (tests/integration drives
the real thing through rc-service)."""

import io
import json
import os
import subprocess
import sys

import pytest

from openrc_sv import cli, launcher, shellvars
from openrc_sv.backends.base import Backend, RenderedFile, Status
from openrc_sv.cli import evaluate, setup
from openrc_sv.rcstate import ServiceState


class FakeBackend(Backend):
    """Records what it was asked; its status is whatever the test sets."""
    name = "fake"
    calls = []
    state = "started"

    def render(self):
        return [RenderedFile("/etc/fake/%s/run" % self.model.service,
                             "exec %s\n" % " ".join(self.model.argv), 0o755)]

    def start(self):
        self.calls.append(("start", self.model.argv))

    def stop(self):
        self.calls.append(("stop", self.model.service))

    def signal(self, signum):
        self.calls.append(("signal", signum))

    def status(self):
        return Status(service=self.model.service, backend=self.name, state=FakeBackend.state,
                      pid=4242, restarts=1)


@pytest.fixture(autouse=True)
def world(tmp_path, monkeypatch):
    """RC_SVCDIR and init.d under tmp_path; the fake backend registered."""
    svcdir = tmp_path / "run"
    for d in ("started", "options", "failed"):
        (svcdir / d).mkdir(parents=True)
    (tmp_path / "init.d").mkdir()
    monkeypatch.setenv("RC_SVCDIR", str(svcdir))
    monkeypatch.setenv("RC_RUNLEVEL", "default")
    real = evaluate.backend_class
    monkeypatch.setattr(evaluate, "backend_class",
                        lambda name: FakeBackend if name == "fake" else real(name))
    FakeBackend.calls = []
    FakeBackend.state = "started"
    return tmp_path


def script(world, name, body):
    path = world / "init.d" / name
    path.write_text("#!/sbin/openrc-run\n" + body)
    return str(path)


def dump(path, extra="", start=True):
    """What the runscript plugin pipes to `openrc-sv VERB --model - SVC`
    (only a start evaluates command_args)."""
    code = '. "$1"; RC_SVCNAME=${2##*/}; RC_SERVICE=$2; . "$RC_SERVICE"; %s _openrc_sv_dump %s' \
        % (extra, "--start" if start else "")
    return subprocess.run(["/bin/sh", "-c", code, "sh", shellvars.PLUGIN, path],
                          capture_output=True, check=True).stdout


def run(monkeypatch, *argv, stdin=b""):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    return cli.main(list(argv))


def one_error_line(err):
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(" * ERROR: ")
    return lines[0]


# -- start / stop / reload / signal ----------------------------------------------------

def test_start_takes_the_model_the_plugin_pipes_and_records_the_backend(world, monkeypatch):
    path = script(world, "foo", "command=/bin/sleep\ncommand_args=\"1000 'a b'\"\nsv_backend=fake\n")
    assert run(monkeypatch, "start", "--model", "-", "foo", stdin=dump(path)) == 0
    assert FakeBackend.calls == [("start", ["/bin/sleep", "1000", "a b"])]
    assert ServiceState("foo").get("sv_backend") == "fake"


def test_changes_made_in_the_live_shell_reach_the_model(world, monkeypatch):
    # e.g. start_pre() setting command_args: the plugin reports the live shell.
    path = script(world, "foo", "command=/bin/sleep\nsv_backend=fake\n")
    data = dump(path, extra="command_args='--from-start-pre';")
    assert run(monkeypatch, "start", "--model", "-", "foo", stdin=data) == 0
    assert FakeBackend.calls == [("start", ["/bin/sleep", "--from-start-pre"])]


def test_without_model_on_stdin_the_init_script_is_evaluated(world, monkeypatch):
    path = script(world, "foo", "command=/bin/sleep\ncommand_args=5\nsv_backend=fake\n")
    monkeypatch.setenv("RC_SVCNAME", "foo")
    monkeypatch.setenv("RC_SERVICE", path)
    assert run(monkeypatch, "start", "foo") == 0
    assert FakeBackend.calls == [("start", ["/bin/sleep", "5"])]


def test_an_invalid_value_stops_start_before_the_backend_is_touched(world, monkeypatch, capsys):
    path = script(world, "foo", "command=/bin/sleep\numask=999\nsv_backend=fake\n")
    assert run(monkeypatch, "start", "--model", "-", "foo", stdin=dump(path)) == 1
    line = one_error_line(capsys.readouterr().err)
    assert line.startswith(" * ERROR: foo: umask: invalid value '999'")
    assert FakeBackend.calls == [] and ServiceState("foo").get("sv_backend") is None


def test_an_unknown_backend_is_one_line_listing_the_valid_ones(world, monkeypatch, capsys):
    path = script(world, "foo", "command=/bin/sleep\nsv_backend=bogus\n")
    assert run(monkeypatch, "start", "--model", "-", "foo", stdin=dump(path)) == 1
    line = one_error_line(capsys.readouterr().err)
    assert "sv_backend: unknown backend 'bogus' (valid: " in line and "native" in line


def test_stop_uses_the_backend_the_service_was_started_with(world, monkeypatch):
    path = script(world, "foo", "command=/bin/sleep\nsv_backend=native\n")
    ServiceState("foo").set("sv_backend", "fake")
    assert run(monkeypatch, "stop", "--model", "-", "foo", stdin=dump(path)) == 0
    assert FakeBackend.calls == [("stop", "foo")]


def test_stop_goes_on_when_the_configuration_has_since_become_invalid(world, monkeypatch, capsys):
    path = script(world, "foo", "command=/bin/sleep\nsv_backend=fake\nrespawn_max=lots\n")
    ServiceState("foo").set("sv_backend", "fake")
    assert run(monkeypatch, "stop", "--model", "-", "foo", stdin=dump(path)) == 0
    assert FakeBackend.calls == [("stop", "foo")]
    err = capsys.readouterr().err
    assert err.startswith(" * WARNING: foo: respawn_max: invalid value 'lots'")


def test_reload_sends_reload_signal(world, monkeypatch):
    path = script(world, "foo", "command=/bin/sleep\nsv_backend=fake\nreload_signal=USR1\n")
    assert run(monkeypatch, "reload", "--model", "-", "foo", stdin=dump(path)) == 0
    assert FakeBackend.calls == [("signal", 10)]


def test_reload_defaults_to_hup(world, monkeypatch):
    path = script(world, "foo", "command=/bin/sleep\nsv_backend=fake\n")
    assert run(monkeypatch, "reload", "--model", "-", "foo", stdin=dump(path)) == 0
    assert FakeBackend.calls == [("signal", 1)]


@pytest.mark.parametrize("given, number", [("TERM", 15), ("sigusr2", 12), ("9", 9)])
def test_signal_takes_a_name_or_a_number(world, monkeypatch, given, number):
    path = script(world, "foo", "command=/bin/sleep\nsv_backend=fake\n")
    assert run(monkeypatch, "signal", given, "--model", "-", "foo", stdin=dump(path)) == 0
    assert FakeBackend.calls == [("signal", number)]


def test_an_unknown_signal_is_named(world, monkeypatch, capsys):
    path = script(world, "foo", "command=/bin/sleep\nsv_backend=fake\n")
    assert run(monkeypatch, "signal", "BOGUS", "--model", "-", "foo", stdin=dump(path)) == 1
    assert "signal: invalid value 'BOGUS'" in one_error_line(capsys.readouterr().err)


def test_a_model_for_another_service_is_refused(world, monkeypatch, capsys):
    path = script(world, "bar", "command=/bin/sleep\nsv_backend=fake\n")
    assert run(monkeypatch, "start", "--model", "-", "foo", stdin=dump(path)) == 1
    assert "for 'bar', not 'foo'" in one_error_line(capsys.readouterr().err)
    assert FakeBackend.calls == []


def test_a_usage_error_exits_2(monkeypatch, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["start"])
    assert e.value.code == 2
    assert " * ERROR: openrc-sv: " in capsys.readouterr().err


# -- status / list ----------------------------------------------------------------------

def started_service(world, name, backend="fake", mark=True):
    path = script(world, name, "supervisor=openrc-sv\ncommand=/bin/sleep\nsv_backend=%s\n" % backend)
    ServiceState(name).set("sv_backend", backend)
    if mark:
        os.symlink(path, os.path.join(os.environ["RC_SVCDIR"], "started", name))
    return path


@pytest.mark.parametrize("state, code", [("started", 0), ("starting", 8), ("crashed", 32),
                                         ("failed", 32), ("unsupervised", 64)])
def test_status_exit_codes_are_openrcs(world, monkeypatch, capsys, state, code):
    started_service(world, "foo")
    FakeBackend.state = state
    assert run(monkeypatch, "status", "--quiet", "foo") == code
    assert capsys.readouterr().out == ""


def test_a_started_service_whose_daemon_is_gone_has_crashed(world, monkeypatch):
    started_service(world, "foo")
    FakeBackend.state = "stopped"
    assert run(monkeypatch, "status", "--quiet", "foo") == 32


def test_a_stopped_service_is_3(world, monkeypatch):
    started_service(world, "foo", mark=False)
    FakeBackend.state = "stopped"
    assert run(monkeypatch, "status", "--quiet", "foo") == 3


def test_status_names_a_service_nothing_supervises(world, monkeypatch, capsys):
    path = script(world, "plain", "command=/bin/sleep\n")
    monkeypatch.setenv("RC_SVCNAME", "plain")
    monkeypatch.setenv("RC_SERVICE", path)
    assert run(monkeypatch, "status", "plain") == 1
    assert "plain: not supervised" in one_error_line(capsys.readouterr().err)


def test_status_reports_every_supervised_service_and_only_those(world, monkeypatch, capsys):
    for name in ("alpha", "beta"):
        started_service(world, name)
    # OpenRC knows a third service, which no supervisor runs.
    plain = script(world, "plain", "command=/bin/sleep\n")
    os.symlink(plain, os.path.join(os.environ["RC_SVCDIR"], "started", "plain"))
    monkeypatch.setattr(evaluate, "script_of", lambda s: str(world / "init.d" / s))
    assert run(monkeypatch, "status", "--json") == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["service"], r["backend"], r["state"], r["pid"], r["exit_code"]) for r in rows] == [
        ("alpha", "fake", "started", 4242, 0), ("beta", "fake", "started", 4242, 0)]
    assert run(monkeypatch, "status") == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["SERVICE", "BACKEND", "STATE", "PID", "UPTIME", "RESTARTS",
                                "LAST-EXIT", "HEALTH"]
    assert table[1].split() == ["alpha", "fake", "started", "4242", "-", "1", "-", "-"]
    assert run(monkeypatch, "list") == 0
    assert capsys.readouterr().out == "alpha fake\nbeta fake\n"


def test_uptime_is_shown_in_its_two_largest_units():
    from openrc_sv.cli.report import format_uptime
    assert [format_uptime(s) for s in (None, 5, 65, 3725, 90061)] == [
        "-", "5s", "1m05s", "1h02m", "1d01h"]


# -- render -------------------------------------------------------------------------------

def test_render_prints_each_file_under_its_path_and_writes_nothing(world, monkeypatch, capsys):
    path = script(world, "foo", "command=/bin/sleep\ncommand_args=9\n")
    monkeypatch.setenv("RC_SVCNAME", "foo")
    monkeypatch.setenv("RC_SERVICE", path)
    assert run(monkeypatch, "render", "foo", "--backend", "fake") == 0
    out = capsys.readouterr().out
    assert out == "==> /etc/fake/foo/run (mode 0755) <==\nexec /bin/sleep 9\n"
    assert not os.path.exists("/etc/fake")


def test_render_native_shows_the_exact_command_line(world, monkeypatch, capsys):
    path = script(world, "foo", "command=/bin/sleep\ncommand_args=\"1 'a b'\"\nrespawn_delay=3\n"
                  "supervise_daemon_compat=0.45\n")
    monkeypatch.setenv("RC_SVCNAME", "foo")
    monkeypatch.setenv("RC_SERVICE", path)
    assert run(monkeypatch, "render", "foo") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "# the native backend writes no files"
    assert out[1] == ("# start runs: RC_SVCNAME=foo supervise-daemon foo --start --respawn-delay 3sec "
                      "--respawn-max 10 --compat 0.45 /bin/sleep -- 1 'a b'")


# -- setup ----------------------------------------------------------------------------------

@pytest.fixture
def root(tmp_path, monkeypatch):
    # Hermetic: the plugin names our command, installed or not.
    fake = tmp_path / "bin/openrc-sv"
    monkeypatch.setattr(setup, "openrc_sv_command", lambda: str(fake))
    r = tmp_path / "root"
    (r / "lib/rc/sbin").mkdir(parents=True)
    (r / "etc").mkdir()
    return r


def do_setup(monkeypatch, root, *flags):
    return run(monkeypatch, "setup", "--root", str(root), "--libexecdir", "/lib/rc", *flags)


def test_setup_with_no_flag_installs_the_plugin_and_the_link(monkeypatch, root):
    assert do_setup(monkeypatch, root) == 0
    plugin = (root / "etc/rc.conf.d/openrc-sv.conf").read_text()
    assert plugin.startswith(setup.MARKER)
    assert "_openrc_sv_bin=%s\n" % setup.openrc_sv_command() in plugin
    link = root / "lib/rc/sbin/supervise-daemon"
    assert link.read_text() == launcher.script() and os.access(link, os.X_OK)


def test_the_installed_plugin_is_valid_sh_defining_the_default_functions(monkeypatch, root):
    do_setup(monkeypatch, root, "--plugin")
    r = subprocess.run(["/bin/sh", "-c", '. "$1"; for f in default_start default_stop '
                        'default_status default_reload reload _openrc_sv_dump; do command -v $f; done',
                        "sh", str(root / "etc/rc.conf.d/openrc-sv.conf")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["default_start", "default_stop", "default_status",
                                "default_reload", "reload", "_openrc_sv_dump"]
    assert not (root / "lib/rc/sbin/supervise-daemon").exists()


def test_setup_only_the_link(monkeypatch, root):
    do_setup(monkeypatch, root, "--supervise-daemon")
    assert launcher.is_ours(root / "lib/rc/sbin/supervise-daemon")
    assert not (root / "etc/rc.conf.d").exists()


def test_setup_twice_is_harmless(monkeypatch, root):
    assert do_setup(monkeypatch, root) == 0
    assert do_setup(monkeypatch, root) == 0
    assert os.listdir(root / "lib/rc/sbin") == ["supervise-daemon"]


@pytest.mark.parametrize("kind", ["file", "link-to-c-binary"])
def test_setup_refuses_to_replace_a_supervise_daemon_that_is_not_ours(monkeypatch, capsys, root, kind):
    link = root / "lib/rc/sbin/supervise-daemon"
    if kind == "file":
        link.write_text("#!/bin/sh\necho theirs\n")
    else:
        os.symlink("/bin/true", link)
    before = os.readlink(link) if link.is_symlink() else link.read_text()
    assert do_setup(monkeypatch, root, "--supervise-daemon") == 1
    assert "refusing to replace %s" % link in one_error_line(capsys.readouterr().err)
    assert (os.readlink(link) if link.is_symlink() else link.read_text()) == before


def test_setup_refuses_to_replace_a_foreign_plugin_file(monkeypatch, capsys, root):
    (root / "etc/rc.conf.d").mkdir()
    theirs = root / "etc/rc.conf.d/openrc-sv.conf"
    theirs.write_text("# my own\n")
    assert do_setup(monkeypatch, root, "--plugin") == 1
    assert "refusing to replace" in one_error_line(capsys.readouterr().err)
    assert theirs.read_text() == "# my own\n"


def test_undo_removes_what_setup_made_including_the_directory_it_created(monkeypatch, root):
    do_setup(monkeypatch, root)
    assert do_setup(monkeypatch, root, "--undo") == 0
    assert os.listdir(root / "lib/rc/sbin") == []
    assert sorted(os.listdir(root / "etc")) == []


def test_undo_keeps_a_directory_that_was_there_before(monkeypatch, root):
    (root / "etc/rc.conf.d").mkdir()
    do_setup(monkeypatch, root, "--plugin")
    do_setup(monkeypatch, root, "--plugin", "--undo")
    assert os.listdir(root / "etc/rc.conf.d") == []


def test_undo_leaves_what_is_not_ours_alone(monkeypatch, capsys, root):
    link = root / "lib/rc/sbin/supervise-daemon"
    link.write_text("theirs")
    (root / "etc/rc.conf.d").mkdir()
    (root / "etc/rc.conf.d/openrc-sv.conf").write_text("# theirs\n")
    assert do_setup(monkeypatch, root, "--undo") == 0
    assert link.read_text() == "theirs"
    assert (root / "etc/rc.conf.d/openrc-sv.conf").read_text() == "# theirs\n"
    err = capsys.readouterr().err
    assert err.count("left ") == 2


def test_setup_without_openrcs_sbin_says_to_name_libexecdir(monkeypatch, capsys, tmp_path):
    assert run(monkeypatch, "setup", "--supervise-daemon", "--root", str(tmp_path / "empty"),
               "--libexecdir", "/lib/rc") == 1
    assert "--libexecdir" in one_error_line(capsys.readouterr().err)


@pytest.mark.parametrize("state, code", [("started", 0), ("stopped", 3)])
def test_status_takes_the_model_the_plugin_pipes(world, monkeypatch, state, code):
    # Under openrc-run the plugin pipes its live shell: no second load.
    marker = world / "evaluated"
    path = script(world, "foo", "command=/bin/sleep\nsv_backend=fake\n"
                                "command_args='$(touch %s)'\n" % marker)
    ServiceState("foo").set("sv_backend", "fake")
    FakeBackend.state = state
    data = dump(path, start=False)
    assert run(monkeypatch, "status", "--quiet", "--model", "-", "foo", stdin=data) == code
    assert not marker.exists()      # status, like OpenRC's, never evals command_args


def test_status_model_takes_one_service(world, monkeypatch, capsys):
    assert run(monkeypatch, "status", "--model", "-", "foo", "bar") != 0
    assert "exactly one service" in one_error_line(capsys.readouterr().err)


def test_setup_is_all_or_nothing_when_the_plugin_step_fails(monkeypatch, capsys, root):
    """The link is installed first; the plugin then fails (a foreign file):
    the link is taken away again, and the one line says why."""
    (root / "etc/rc.conf.d").mkdir()
    (root / "etc/rc.conf.d/openrc-sv.conf").write_text("# my own\n")
    assert do_setup(monkeypatch, root) == 1
    assert "refusing to replace" in one_error_line(capsys.readouterr().err)
    assert os.listdir(root / "lib/rc/sbin") == []
    assert (root / "etc/rc.conf.d/openrc-sv.conf").read_text() == "# my own\n"


def test_setup_puts_back_an_older_link_of_ours_when_a_later_step_fails(monkeypatch, capsys, root):
    link = root / "lib/rc/sbin/supervise-daemon"
    old = launcher.script() + "# an older version\n"
    link.write_text(old)
    link.chmod(0o755)
    def broken(root="/"):
        raise OSError(28, "No space left on device", str(root) + "/etc/rc.conf.d/openrc-sv.conf")
    monkeypatch.setattr(setup, "install_plugin", broken)
    assert do_setup(monkeypatch, root) == 1
    err = capsys.readouterr().err
    assert "No space left on device" in one_error_line(err) and "Traceback" not in err
    assert link.read_text() == old and os.access(link, os.X_OK)
    assert not (root / "etc/rc.conf.d").exists()


def test_undo_is_all_or_nothing_too(monkeypatch, capsys, root):
    do_setup(monkeypatch, root)
    link = root / "lib/rc/sbin/supervise-daemon"
    text = link.read_text()
    def broken(root="/"):
        raise OSError(30, "Read-only file system", "openrc-sv.conf")
    monkeypatch.setattr(setup, "remove_plugin", broken)
    assert do_setup(monkeypatch, root, "--undo") == 1
    assert "Read-only file system" in one_error_line(capsys.readouterr().err)
    assert link.read_text() == text


# -- errors of the other entry points, as the man page says --------------------------

def test_supervise_daemon_help_exits_0_on_stdout_as_the_man_page_says(monkeypatch, capsys):
    from openrc_sv import supervise_daemon
    monkeypatch.setenv("RC_SVCNAME", "svc")
    assert supervise_daemon.main(["svc", "--help"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("usage: supervise-daemon") and err == ""
    man = os.path.join(os.path.dirname(__file__), "..", "..", "man", "supervise-daemon.8")
    with open(man) as f:
        text = f.read()
    help_entry = text[text.index(".It Fl h , -help"):].split(".It", 2)[1]
    assert "exit 0" in help_entry


def test_the_man_page_cites_no_page_that_does_not_exist():
    import re
    here = os.path.join(os.path.dirname(__file__), "..", "..", "man")
    ours = {f.rsplit(".", 1)[0] for f in os.listdir(here)}
    for name in os.listdir(here):
        with open(os.path.join(here, name)) as f:
            for m in re.finditer(r"^\.Xr (\S+)(?: (\S+))?", f.read(), re.M):
                page, section = m.group(1), m.group(2)
                # A cross reference names a section; one of ours must exist.
                assert section and section[0].isdigit(), (name, m.group(0))
                if page.startswith("openrc-sv"):
                    assert page in ours, (name, m.group(0))


def test_fork_server_os_error_is_one_line(capsys, tmp_path):
    from openrc_sv import forkserver
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert forkserver.main(["--socket", str(blocker / "sub" / "sock")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(" * openrc-sv-forkserver:")
    assert "Traceback" not in err


# -- metrics (issue 11 §4) -------------------------------------------------------------

def test_metrics_prints_every_supervised_service_for_prometheus(world, monkeypatch, capsys):
    for name in ("alpha", "beta"):
        started_service(world, name)
    monkeypatch.setattr(evaluate, "script_of", lambda s: str(world / "init.d" / s))
    assert run(monkeypatch, "metrics") == 0
    out = capsys.readouterr().out
    assert out.count("# TYPE openrc_sv_up gauge\n") == 1
    assert 'openrc_sv_up{service="alpha",backend="fake"} 1\n' in out
    assert 'openrc_sv_restarts_total{service="beta",backend="fake"} 1\n' in out
    # The fake backend records no health checks: no sample, not a 0.
    assert "openrc_sv_health_checks_total" not in out
    assert run(monkeypatch, "metrics", "beta") == 0
    assert "alpha" not in capsys.readouterr().out


def test_metrics_textfile_needs_the_setting(world, monkeypatch, capsys):
    started_service(world, "alpha")
    monkeypatch.setattr("openrc_sv.promfile.configured_dir", lambda etc="/etc": None)
    assert run(monkeypatch, "metrics", "--textfile") != 0
    err = one_error_line(capsys.readouterr().err)
    assert "textfile" in err


def test_status_says_why_a_service_is_down(world, monkeypatch, capsys):
    started_service(world, "foo", mark=False)
    FakeBackend.state = "failed"
    real = FakeBackend.status

    def status(self):
        s = real(self)
        s.pid = None
        s.set_down_reason("stop status: exit 78")
        s.last_exit = "signal 15"
        return s
    monkeypatch.setattr(FakeBackend, "status", status)
    assert run(monkeypatch, "status", "foo") == 32
    out = capsys.readouterr().out.splitlines()
    assert out[1].split()[6] == "signal"            # LAST-EXIT "signal TERM"
    assert " * foo: stop-status: stop status: exit 78" in out
    assert run(monkeypatch, "status", "--json", "foo") == 32
    [row] = json.loads(capsys.readouterr().out)
    assert (row["down_reason"], row["down_detail"], row["last_exit"]) == (
        "stop-status", "stop status: exit 78", "signal TERM")


def test_user_option_is_openrcs_user_mode(monkeypatch, tmp_path, capsys):
    """openrc-sv -U status SVC, typed by hand as rc-service --user: the
    user's service dir and scripts, never /etc/init.d's."""
    from openrc_sv import cli, rcstate
    monkeypatch.setenv("RC_USER_SERVICES", "no")    # restored (to unset) after the test
    monkeypatch.delenv("RC_SVCDIR", raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    seen = {}
    monkeypatch.setattr(cli, "_dispatch", lambda a: seen.update(
        mode=rcstate.user_mode(), svcdir=rcstate.svcdir()) or 0)
    assert cli.main(["-U", "status", "svc"]) == 0
    assert seen == {"mode": True, "svcdir": str(tmp_path / "openrc")}
    monkeypatch.setenv("RC_USER_SERVICES", "no")
    assert cli.main(["status", "svc"]) == 0
    assert seen["mode"] is False
