"""openrc-sv setup's fork server part, the files: run in-process against a
--root tree (no root needed, nothing of the host's is touched: with
--root, setup neither runs rc-update nor starts anything).  The real
rc-update and rc-service are driven in
tests/integration/test_setup_forkserver.py."""

import io
import os
import subprocess
import sys

import pytest

from openrc_sv import cli, forkserver_client
from openrc_sv.cli import setup
from openrc_sv.cli import setup_forkserver as F


def run(monkeypatch, *argv):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"")))
    return cli.main(list(argv))


@pytest.fixture
def root(tmp_path, monkeypatch):
    # Hermetic: the plugin names our command, installed or not.
    monkeypatch.setattr(setup, "openrc_sv_command", lambda: str(tmp_path / "bin/openrc-sv"))
    r = tmp_path / "root"
    (r / "lib/rc/sbin").mkdir(parents=True)
    (r / "etc").mkdir()
    return r


def do_setup(monkeypatch, root, *flags):
    return run(monkeypatch, "setup", "--root", str(root), "--libexecdir", "/lib/rc", *flags)


def tree(root):
    return sorted(os.path.relpath(os.path.join(d, n), root)
                  for d, dirs, files in os.walk(root) for n in dirs + files)


def one_line(err, kind="ERROR"):
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(" * %s: openrc-sv: " % kind), err
    return lines[0]


def script(root):
    return root / F.SCRIPT.lstrip("/")


def link(root):
    return root / F.LINK.lstrip("/")


def openrc_world(root):
    """/etc/init.d and the runlevels already there, as on a real system."""
    for d in (F.INITD, F.BOOT_DIR, "/etc/runlevels/default"):
        (root / d.lstrip("/")).mkdir(parents=True, exist_ok=True)


FOREIGN = "#!/sbin/openrc-run\n# the distribution's\ncommand=/usr/bin/openrc-sv-forkserver\n"


# -- the script ---------------------------------------------------------------------------

def test_the_script_runs_this_installations_server_without_site():
    text = F.script_text()
    lines = text.splitlines()
    assert lines[0] == "#!/sbin/openrc-run"         # openrc-run's: the marker comes second
    assert lines[1].startswith(F.MARKER)
    assert "command=%s" % sys.executable in lines
    assert 'command_args="-I -S %s --socket %s"' % (F.LAUNCHER, forkserver_client.DEFAULT_SOCKET) \
        in lines
    assert "forkserver_bin" not in "\n".join(ln for ln in lines if not ln.startswith("#"))
    assert subprocess.run(["sh", "-n", "-c", text]).returncode == 0


def test_the_launcher_is_the_servers_main():
    with open(F.LAUNCHER) as f:
        text = f.read()
    assert "from openrc_sv.forkserver import main" in text
    # ps and the tests recognise the server by this name.
    assert os.path.basename(F.LAUNCHER) == "openrc-sv-forkserver"


def test_the_packaged_script_is_the_template_and_starts_on_debian_too():
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "..", "..", "init.d-helpers", "openrc-sv-forkserver")) as f:
        packaged = f.read()
    with open(F.TEMPLATE) as f:
        assert f.read() == packaged
    assert "--socket %s\"" % forkserver_client.DEFAULT_SOCKET in packaged
    depend = packaged[packaged.index("depend()"):]
    # Debian's OpenRC has no localmount service: a `need` would refuse to start.
    assert "need " not in depend and "use localmount" in depend


@pytest.mark.parametrize("which", ["python", "launcher"])
def test_a_path_an_init_script_cannot_hold_is_one_line(monkeypatch, capsys, root, which):
    bad = "/opt/my venv/bin/python3" if which == "python" else "/opt/x;y/openrc-sv-forkserver"
    if which == "python":
        monkeypatch.setattr(sys, "executable", bad)
        monkeypatch.setattr(setup.launcher.sys, "executable", bad)
    else:
        monkeypatch.setattr(F, "LAUNCHER", bad)
    before = tree(root)
    assert do_setup(monkeypatch, root, "--supervise-daemon") == 1
    line = one_line(capsys.readouterr().err)
    assert repr(bad) in line and "--no-forkserver" in line
    assert tree(root) == before


# -- install and undo under --root ------------------------------------------------------

def test_setup_installs_the_script_and_the_boot_link_and_undo_removes_exactly_that(
        monkeypatch, capsys, root):
    before = tree(root)
    assert do_setup(monkeypatch, root, "--supervise-daemon") == 0
    out = capsys.readouterr().out
    assert "installed the fork server's init script %s" % script(root) in out
    assert "added %s to the boot runlevel" % F.NAME in out
    assert F.is_ours(script(root)) and os.access(script(root), os.X_OK)
    assert os.readlink(link(root)) == F.SCRIPT          # as rc-update makes it
    # The directories it made (this root had no OpenRC tree) are recorded in it.
    text = script(root).read_text()
    for d in (F.INITD, "/etc/runlevels", F.BOOT_DIR):
        assert "%s%s\n" % (F.CREATED_DIR, d) in text

    assert do_setup(monkeypatch, root, "--supervise-daemon", "--undo") == 0
    assert tree(root) == before


def test_on_an_openrc_tree_only_the_two_entries_are_added(monkeypatch, root):
    openrc_world(root)
    before = tree(root)
    do_setup(monkeypatch, root, "--supervise-daemon")
    added = set(tree(root)) - set(before)
    assert added == {"lib/rc/sbin/supervise-daemon", "etc/init.d/openrc-sv-forkserver",
                     "etc/runlevels/boot/openrc-sv-forkserver"}
    assert F.CREATED_DIR not in script(root).read_text()
    do_setup(monkeypatch, root, "--undo")
    assert tree(root) == before


def test_setup_twice_says_it_is_already_there(monkeypatch, capsys, root):
    do_setup(monkeypatch, root)
    text = script(root).read_text()
    capsys.readouterr()
    assert do_setup(monkeypatch, root) == 0
    out, err = capsys.readouterr()
    assert "%s is already installed" % script(root) in out
    assert "%s is already in the boot runlevel" % F.NAME in out
    assert err == "" and script(root).read_text() == text
    do_setup(monkeypatch, root, "--undo")
    assert not (root / "etc/init.d").exists() and not (root / "etc/runlevels").exists()


def test_an_older_script_of_ours_is_brought_up_to_date(monkeypatch, root):
    openrc_world(root)
    script(root).write_text(F.script_text() + "# an older version\n")
    do_setup(monkeypatch, root, "--supervise-daemon")
    assert script(root).read_text() == F.script_text()


def test_no_forkserver(monkeypatch, root):
    openrc_world(root)
    do_setup(monkeypatch, root, "--no-forkserver")
    assert os.listdir(root / "etc/init.d") == [] and os.listdir(root / "etc/runlevels/boot") == []
    do_setup(monkeypatch, root)
    # --undo --no-forkserver leaves the server; the plain --undo takes it.
    do_setup(monkeypatch, root, "--undo", "--no-forkserver")
    assert F.is_ours(script(root)) and os.path.islink(link(root))
    assert not (root / "lib/rc/sbin/supervise-daemon").exists()
    do_setup(monkeypatch, root, "--undo")
    assert os.listdir(root / "etc/init.d") == []


def test_plugin_only_does_not_touch_the_fork_server(monkeypatch, root):
    do_setup(monkeypatch, root, "--plugin")
    assert not (root / "etc/init.d").exists()


# -- a script that is not ours -------------------------------------------------------------

@pytest.mark.parametrize("kind", ["file", "symlink", "our-marker-first-line"])
def test_a_script_not_ours_is_used_added_to_boot_and_kept(monkeypatch, capsys, root, tmp_path,
                                                          kind):
    openrc_world(root)
    if kind == "symlink":
        target = tmp_path / "elsewhere"
        target.write_text(F.script_text())      # ours in content, but a link is never ours
        os.symlink(target, script(root))
    elif kind == "our-marker-first-line":
        script(root).write_text(F.MARKER + "\n" + FOREIGN)
    else:
        script(root).write_text(FOREIGN)
    theirs = os.readlink(script(root)) if kind == "symlink" else script(root).read_text()
    before = tree(root)

    assert do_setup(monkeypatch, root, "--supervise-daemon") == 0
    out = capsys.readouterr().out
    assert "using %s, which is not openrc-sv's: left as it is" % script(root) in out
    assert os.readlink(link(root)) == F.SCRIPT
    now = os.readlink(script(root)) if kind == "symlink" else script(root).read_text()
    assert now == theirs

    assert do_setup(monkeypatch, root, "--undo") == 0
    err = capsys.readouterr().err
    assert one_line(err, "WARNING") == (" * WARNING: openrc-sv: left %s alone: it was not "
                                        "installed by openrc-sv" % script(root))
    assert tree(root) == before             # its boot link and the record are gone


def test_a_script_not_ours_already_in_boot_stays_there(monkeypatch, root):
    openrc_world(root)
    script(root).write_text(FOREIGN)
    os.symlink(F.SCRIPT, link(root))
    before = tree(root)
    do_setup(monkeypatch, root, "--supervise-daemon")
    assert tree(root) == before + ["lib/rc/sbin/supervise-daemon"]   # no record: setup added nothing
    do_setup(monkeypatch, root, "--undo")
    assert tree(root) == before


def test_a_script_not_ours_in_a_root_without_runlevels(monkeypatch, root):
    (root / "etc/init.d").mkdir()
    script(root).write_text(FOREIGN)
    before = tree(root)
    do_setup(monkeypatch, root, "--supervise-daemon")
    assert os.readlink(link(root)) == F.SCRIPT
    do_setup(monkeypatch, root, "--undo")
    assert tree(root) == before             # the runlevel dirs setup made went too


# -- failures: one line, nothing left -------------------------------------------------------

def test_a_failed_runlevel_step_removes_the_script(monkeypatch, capsys, root):
    (root / "etc/init.d").mkdir()
    (root / "etc/runlevels").mkdir()
    (root / "etc/runlevels/boot").write_text("not a directory\n")
    before = tree(root)
    assert do_setup(monkeypatch, root) == 1
    out, err = capsys.readouterr()
    line = one_line(err)
    assert "etc/runlevels/boot" in line and "Traceback" not in err
    assert tree(root) == before


def test_a_later_step_failing_takes_the_fork_server_away_again(monkeypatch, capsys, root):
    (root / "etc/rc.conf.d").mkdir()
    (root / "etc/rc.conf.d/openrc-sv.conf").write_text("# the administrator's\n")
    before = tree(root)
    assert do_setup(monkeypatch, root) == 1
    assert "refusing to replace" in one_line(capsys.readouterr().err)
    assert tree(root) == before


def test_a_failed_undo_puts_the_fork_server_back(monkeypatch, capsys, root):
    do_setup(monkeypatch, root)
    text = script(root).read_text()

    def broken(root="/"):
        raise OSError(30, "Read-only file system", "openrc-sv.conf")
    monkeypatch.setattr(setup, "remove_plugin", broken)
    assert do_setup(monkeypatch, root, "--undo") == 1
    assert "Read-only file system" in one_line(capsys.readouterr().err)
    assert script(root).read_text() == text and os.readlink(link(root)) == F.SCRIPT


# -- starting and stopping, on a running OpenRC (its tools recorded here) -----------------

class Tools:
    """Stands in for rc-service: answers status, start and stop."""

    def __init__(self, running=False, start_fails=False, stop_fails=False):
        self.running = running
        self.start_fails = start_fails
        self.stop_fails = stop_fails
        self.calls = []

    def __call__(self, argv):
        assert argv[:2] == ["rc-service", F.NAME], argv       # rc-update is not used here
        self.calls.append(argv[2])
        if argv[2] == "status":
            return (0 if self.running else 3), ""
        if argv[2] == "start":
            if self.start_fails:
                return 1, F.last_line(" * ERROR: openrc-sv-forkserver failed to start\n")
            self.running = True
        if argv[2] == "stop":
            if self.stop_fails:
                return 1, F.last_line(" * ERROR: openrc-sv-forkserver failed to stop\n")
            self.running = False
        return 0, ""


@pytest.fixture
def live(monkeypatch):
    """As if OpenRC were running under this --root (never on the host)."""
    def make(**kw):
        tools = Tools(**kw)
        monkeypatch.setattr(F, "_live", lambda root: True)
        monkeypatch.setattr(F, "_run", tools)
        return tools
    return make


def test_setup_starts_it_and_undo_stops_it(monkeypatch, capsys, root, live):
    tools = live()
    assert do_setup(monkeypatch, root) == 0
    assert tools.calls == ["status", "start"] and "started %s" % F.NAME in capsys.readouterr().out
    assert do_setup(monkeypatch, root) == 0
    assert "%s is already running" % F.NAME in capsys.readouterr().out
    tools.calls = []
    assert do_setup(monkeypatch, root, "--undo") == 0
    assert tools.calls == ["status", "stop"] and not tools.running


def test_a_server_that_does_not_start_is_one_warning_and_setup_succeeds(monkeypatch, capsys, root,
                                                                        live):
    live(start_fails=True)
    assert do_setup(monkeypatch, root) == 0
    line = one_line(capsys.readouterr().err, "WARNING")
    assert "%s did not start (ERROR: openrc-sv-forkserver failed to start)" % F.NAME in line
    assert "forks its own supervisor" in line
    assert F.is_ours(script(root))


def test_a_server_that_does_not_stop_fails_the_undo_before_anything_changes(
        monkeypatch, capsys, root, live):
    tools = live()
    do_setup(monkeypatch, root)
    before = tree(root)
    tools.stop_fails = True
    capsys.readouterr()
    assert do_setup(monkeypatch, root, "--undo") == 1
    assert "rc-service %s stop failed" % F.NAME in one_line(capsys.readouterr().err)
    assert tree(root) == before


def test_a_failed_undo_starts_the_server_it_stopped_again(monkeypatch, capsys, root, live):
    tools = live()
    do_setup(monkeypatch, root)

    def broken(root="/"):
        raise OSError(30, "Read-only file system", "openrc-sv.conf")
    monkeypatch.setattr(setup, "remove_plugin", broken)
    tools.calls = []
    assert do_setup(monkeypatch, root, "--undo") == 1
    assert tools.calls[-2:] == ["status", "start"] and tools.running


def test_a_server_not_ours_is_not_stopped(monkeypatch, root, live):
    openrc_world(root)
    script(root).write_text(FOREIGN)
    tools = live(running=True)
    do_setup(monkeypatch, root)
    tools.calls = []
    do_setup(monkeypatch, root, "--undo")
    assert "stop" not in tools.calls and tools.running


@pytest.mark.parametrize("said, line", [
    # OpenRC 0.45's rc-service start, stdout and stderr in one pipe: the
    # reason follows ebegin on its line, eend's frame after it.
    (" * Starting openrc-sv-forkserver ... * supervise-daemon: option --no-such-option not "
     "recognized (see man supervise-daemon)\n\n * failed to start openrc-sv-forkserver\n"
     "                                  [ !! ]\n * ERROR: openrc-sv-forkserver failed to start\n",
     "supervise-daemon: option --no-such-option not recognized (see man supervise-daemon)"),
    (" * Caching service dependencies ... [ ok ]\n * ERROR: openrc-sv-forkserver failed to start\n",
     "ERROR: openrc-sv-forkserver failed to start"),
    (" * rc-update: runlevel `boot' does not exist\n", "rc-update: runlevel `boot' does not exist"),
    ("", ""),
])
def test_what_an_openrc_tool_said_is_one_line(said, line):
    assert F.last_line(said) == line


def test_a_running_server_whose_script_was_replaced_is_named_for_a_restart(
        monkeypatch, capsys, root, live):
    openrc_world(root)
    script(root).write_text(F.script_text() + "# an older version\n")
    tools = live(running=True)
    assert do_setup(monkeypatch, root, "--supervise-daemon") == 0
    out = capsys.readouterr().out
    assert "rc-service %s restart runs the new one" % F.NAME in out
    assert tools.calls == ["status"]
