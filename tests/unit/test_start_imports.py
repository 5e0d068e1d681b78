"""Import budgets of the start paths (issue 10: start-up is the interpreter
plus our imports).  No timing here: only which modules get loaded.

- supervise-daemon --start, as openrc-run runs it: the launcher's
  `python -I -S` and the modules the start path imports;
- the openrc-sv command as the runscript plugin runs it: its own command
  lines are read without argparse, and the plugin starts it without `site`.
"""

import os
import shlex
import subprocess
import sys

import pytest

from openrc_sv import cli, launcher
from openrc_sv.cli import setup

PARENT = launcher.package_parent()


def modules_after(code):
    """sys.modules after running code in `python -I -S` with our package."""
    out = subprocess.run([sys.executable, "-I", "-S", "-c",
                          "import sys; sys.path.insert(0, %r)\n%s\n"
                          "print(' '.join(sorted(sys.modules)))" % (PARENT, code)],
                         capture_output=True, text=True, check=True).stdout
    return set(out.split())


START_PATH = """
from openrc_sv import supervise_daemon, sd_args, command, statekeys, orphans, forkserver_client
from openrc_sv import daemonize, trust, supervisor
sd_args.parse(["x", "--start", "--respawn-max", "0", "/bin/true"], {"RC_SVCNAME": "x"})
"""

NEVER_ON_START = ("jinja2", "sh", "dataclasses", "typing", "argparse", "subprocess",
                  "importlib.metadata", "json", "re", "enum")


def test_the_start_path_of_supervise_daemon_imports_nothing_heavy():
    mods = modules_after(START_PATH)
    assert "openrc_sv.supervise_daemon" in mods
    assert sorted(m for m in NEVER_ON_START if m in mods) == []


def test_the_launcher_runs_without_site():
    text = launcher.script()
    assert text.splitlines()[0].endswith(" -IS")
    assert launcher.argv()[1:3] == ["-I", "-S"]


PLUGIN_LINES = [["start", "--model", "-", "svc"], ["stop", "--model", "-", "svc"],
                ["reload", "--model", "-", "svc"], ["status", "--quiet", "--model", "-", "svc"]]


@pytest.mark.parametrize("argv", PLUGIN_LINES)
def test_the_plugins_command_lines_parse_as_argparse_parses_them(argv):
    assert vars(cli._plugin_args(argv)) == vars(cli.parser().parse_args(argv))


@pytest.mark.parametrize("argv", [
    ["start", "--model", "-", "-h"],           # an option, not a service
    ["start", "--model", "-", ""],
    ["start", "svc"],                           # by hand: argparse
    ["start", "--model", "-", "svc", "more"],
    ["status", "--model", "-", "svc"],
    ["status", "--json", "--quiet", "--model", "-", "svc"],
    ["signal", "HUP", "svc", "--model", "-"],
    ["setup", "--plugin"],
    [],
])
def test_every_other_command_line_goes_to_argparse(argv):
    assert cli._plugin_args(argv) is None


def test_the_plugins_command_lines_do_not_import_argparse():
    mods = modules_after("from openrc_sv import cli\n"
                         "assert cli._plugin_args(['start', '--model', '-', 'svc'])")
    assert "openrc_sv.cli" in mods and "argparse" not in mods


def test_the_installed_plugin_starts_the_command_without_site(tmp_path, monkeypatch):
    monkeypatch.setattr(setup, "openrc_sv_command", lambda: "/nonexistent/openrc-sv")
    text = setup.plugin_text()
    # The console script stays, as the fallback ...
    assert "_openrc_sv_bin=/nonexistent/openrc-sv\n" in text
    # ... and the plugin, sourced by sh, runs the lean one while the
    # interpreter is there.
    plugin = tmp_path / "plugin.sh"
    plugin.write_text(text)
    out = subprocess.run(["/bin/sh", "-c", '. "$1"; echo "$_openrc_sv_bin"; '
                          '"$_openrc_sv_bin" status --json no-such-service; echo "rc=$?"',
                          "sh", str(plugin)],
                         capture_output=True, text=True, env=dict(os.environ, RC_SVCDIR=str(tmp_path)))
    lines = out.stdout.splitlines()
    assert lines[0] == "_openrc_sv_lean"
    assert lines[-1].startswith("rc=")
    assert "Traceback" not in out.stderr


def test_the_lean_command_finds_the_site_packages_of_the_process_that_wrote_it():
    code = launcher.cli_code(dirs=["/nonexistent/site-packages"])
    out = subprocess.run([sys.executable, "-I", "-S", "-c",
                          code.replace("from openrc_sv.cli import main; sys.exit(main())",
                                       "print(sys.path); print(sys.flags.no_site)")],
                         capture_output=True, text=True, check=True).stdout.splitlines()
    path = eval(out[0])
    assert path[0] == PARENT and path[-1] == "/nonexistent/site-packages"
    assert out[1] == "1"


def test_the_lean_runner_survives_shell_quoting():
    line = setup.lean_runner(python="/opt/py thon/bin/python3",
                             code=launcher.cli_code(parent="/it's/here", dirs=['/a "b"']))
    func = line.splitlines()[1]
    words = shlex.split(func[func.index("{") + 1:func.rindex(";")])
    assert words[:4] == ["/opt/py thon/bin/python3", "-I", "-S", "-c"]
    compile(words[4], "lean", "exec")
    assert "/it's/here" in words[4]
