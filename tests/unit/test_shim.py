"""The compat shim (init.d-helpers/openrc-sv-compat.sh) and its setup flag.

setup --compat-shim is run in-process against a --root tree (no root
needed).  The shim itself is sourced by the shell openrc-run uses, with
OpenRC 0.45's own supervise-daemon.sh where it is installed, a recording
supervise-daemon on PATH and OpenRC's output functions stubbed: what
reaches supervise-daemon is compared with what current OpenRC passes for
the same variables (upstream's sh/supervise-daemon.sh, read by hand: the
expected words are written out below).
"""

import io
import os
import shutil
import subprocess
import sys

import pytest

from openrc_sv import cli, shellvars
from openrc_sv.cli import setup

OPENRC_SH = "/lib/rc/sh"
SHELLS = [s for s in ("sh", "bash") if shutil.which(s)]
VALUES_045 = {"_openrc_sv_shim_openrc": "0.45.2", "_openrc_sv_shim_adds": "stdin loggers",
              "_openrc_sv_shim_empty_falls_back": "yes"}


def run(monkeypatch, *argv):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"")))
    return cli.main(list(argv))


def one_error_line(err):
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(" * ERROR: openrc-sv: ")
    return lines[0]


# -- setup --compat-shim -------------------------------------------------------------------

@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setattr(setup, "openrc_sv_command", lambda: str(tmp_path / "bin/openrc-sv"))
    r = tmp_path / "root"
    (r / "lib/rc/sbin").mkdir(parents=True)
    (r / "etc").mkdir()
    return r


def openrc(root, version):
    (root / "lib/rc/version").write_text(version + "\n")


def do_setup(monkeypatch, root, *flags):
    return run(monkeypatch, "setup", "--root", str(root), "--libexecdir", "/lib/rc", *flags)


def tree(root):
    return sorted(os.path.relpath(os.path.join(d, n), root)
                  for d, dirs, files in os.walk(root) for n in dirs + files)


def installed_values(root):
    text = (root / "etc/rc.conf.d/openrc-sv-compat.conf").read_text()
    assert text.startswith(setup.SHIM_MARKER)
    values = {}
    for line in text.splitlines():
        name, eq, value = line.partition("=")
        if eq and name.startswith("_openrc_sv_shim_"):
            values[name] = value.strip("'")
    return values


@pytest.mark.parametrize("flags", [["--compat-shim"], ["--plugin", "--compat-shim"],
                                   ["--compat-shim", "--undo"]])
def test_compat_shim_needs_supervise_daemon(monkeypatch, capsys, root, flags):
    openrc(root, "0.45.2")
    before = tree(root)
    assert do_setup(monkeypatch, root, *flags) == 1
    assert "--compat-shim goes with --supervise-daemon" in one_error_line(capsys.readouterr().err)
    assert tree(root) == before


@pytest.mark.parametrize("version", ["0.62", "0.62.10", "0.63.3", "1.0"])
def test_compat_shim_is_refused_where_openrc_passes_everything_itself(monkeypatch, capsys, root,
                                                                      version):
    openrc(root, version)
    before = tree(root)
    assert do_setup(monkeypatch, root, "--supervise-daemon", "--compat-shim") == 1
    line = one_error_line(capsys.readouterr().err)
    assert "OpenRC %s passes input_file" % ".".join((version.split(".") + ["0", "0"])[:3]) in line
    assert "only for OpenRC older than 0.62" in line
    assert tree(root) == before         # not even the link


def test_compat_shim_is_refused_when_the_version_cannot_be_told(monkeypatch, capsys, root):
    before = tree(root)
    assert do_setup(monkeypatch, root, "--supervise-daemon", "--compat-shim") == 1
    assert "cannot tell which OpenRC" in one_error_line(capsys.readouterr().err)
    assert tree(root) == before


@pytest.mark.parametrize("version, adds, falls_back", [
    ("0.45.2", "stdin loggers", "yes"),
    ("0.46", "stdin loggers", "no"),
    ("0.50", "stdin loggers", "no"),
    ("0.51", "stdin", "no"),
    ("0.54.2", "stdin", "no"),
    ("0.61", "stdin", "no"),
])
def test_the_shim_is_filled_in_for_the_openrc_found(monkeypatch, root, version, adds, falls_back):
    openrc(root, version)
    assert do_setup(monkeypatch, root, "--supervise-daemon", "--compat-shim") == 0
    assert installed_values(root) == {"_openrc_sv_shim_openrc": version,
                                      "_openrc_sv_shim_adds": adds,
                                      "_openrc_sv_shim_empty_falls_back": falls_back}
    assert os.path.exists(root / "lib/rc/sbin/supervise-daemon")


def test_install_twice_then_undo(monkeypatch, root):
    openrc(root, "0.45.2")
    before = tree(root)
    assert do_setup(monkeypatch, root, "--supervise-daemon", "--compat-shim") == 0
    first = (root / "etc/rc.conf.d/openrc-sv-compat.conf").read_text()
    assert do_setup(monkeypatch, root, "--supervise-daemon", "--compat-shim") == 0
    assert (root / "etc/rc.conf.d/openrc-sv-compat.conf").read_text() == first
    assert do_setup(monkeypatch, root, "--undo", "--supervise-daemon") == 0
    # The directory the shim created went with it.
    assert tree(root) == before


def test_undo_of_the_plugin_keeps_the_shim_and_undo_works_after_an_upgrade(monkeypatch, root):
    openrc(root, "0.45.2")
    do_setup(monkeypatch, root, "--supervise-daemon", "--compat-shim")
    do_setup(monkeypatch, root, "--plugin")
    assert do_setup(monkeypatch, root, "--undo", "--plugin") == 0
    assert os.listdir(root / "etc/rc.conf.d") == ["openrc-sv-compat.conf"]
    openrc(root, "0.56")
    assert do_setup(monkeypatch, root, "--undo") == 0
    assert not (root / "etc/rc.conf.d/openrc-sv-compat.conf").exists()


def test_a_foreign_shim_is_refused_before_anything_changes(monkeypatch, capsys, root):
    openrc(root, "0.45.2")
    (root / "etc/rc.conf.d").mkdir()
    theirs = root / "etc/rc.conf.d/openrc-sv-compat.conf"
    theirs.write_text("# mine\n")
    before = tree(root)
    assert do_setup(monkeypatch, root, "--supervise-daemon", "--compat-shim") == 1
    assert "refusing to replace %s" % theirs in one_error_line(capsys.readouterr().err)
    assert tree(root) == before and theirs.read_text() == "# mine\n"
    assert do_setup(monkeypatch, root, "--undo") == 0
    assert "left %s alone" % theirs in capsys.readouterr().err
    assert theirs.read_text() == "# mine\n"


def test_a_symlink_in_the_shims_place_is_not_ours(monkeypatch, capsys, root, tmp_path):
    openrc(root, "0.45.2")
    (root / "etc/rc.conf.d").mkdir()
    target = tmp_path / "elsewhere"
    target.write_text(setup.SHIM_MARKER + "\n")
    os.symlink(target, root / "etc/rc.conf.d/openrc-sv-compat.conf")
    assert do_setup(monkeypatch, root, "--supervise-daemon", "--compat-shim") == 1
    assert "refusing to replace" in one_error_line(capsys.readouterr().err)
    assert os.path.islink(root / "etc/rc.conf.d/openrc-sv-compat.conf")


def test_the_packaged_shim_has_every_line_setup_fills_in():
    text = setup.shim_text(VALUES_045)
    assert text.startswith(setup.SHIM_MARKER)
    assert "_openrc_sv_shim_adds='stdin loggers'\n" in text
    assert os.path.dirname(setup.SHIM_SOURCE) == os.path.dirname(shellvars.PLUGIN)


# -- the shim in a shell -----------------------------------------------------------------------

STUBS = r'''
ebegin() { :; }
eend() { return "$1"; }
ewarn() { echo "W: $*" >&2; }
eerror() { echo "E: $*" >&2; }
service_set_value() { :; }
ssd_start() { echo ssd_start; }
runit_start() { echo runit_start; }
s6_start() { echo s6_start; }
'''


@pytest.fixture
def world(tmp_path):
    """A recording supervise-daemon on PATH and an OpenRC 0.45.2 libexec dir."""
    (tmp_path / "bin").mkdir()
    sd = tmp_path / "bin/supervise-daemon"
    sd.write_text("#!/bin/sh\nprintf '%s\\0' \"$@\"\n")
    sd.chmod(0o755)
    (tmp_path / "libexec").mkdir()
    (tmp_path / "libexec/version").write_text("0.45.2\n")
    (tmp_path / "shim").write_text(setup.shim_text(VALUES_045))
    return tmp_path


def shell(world, sh, body, environ=None):
    env = {"PATH": "%s/bin:/usr/bin:/bin" % world, "RC_LIBEXECDIR": "%s/libexec" % world,
           "RC_SVCNAME": "svc", "HOME": "/root"}
    env.update(environ or {})
    env = {k: v for k, v in env.items() if v is not None}
    r = subprocess.run([sh, "-c", STUBS + body], env=env, capture_output=True, timeout=30)
    return r.returncode, r.stdout.decode(), r.stderr.decode()


def needs_openrc_045():
    try:
        with open(os.path.join(OPENRC_SH, "..", "version")) as f:
            if f.read().startswith("0.45"):
                return
    except OSError:
        pass
    pytest.skip("needs OpenRC 0.45's %s/supervise-daemon.sh" % OPENRC_SH)


def start_words(world, sh, variables, environ=None):
    """The words OpenRC 0.45's supervise_start, through the shim's
    default_start, passes to supervise-daemon for these variables."""
    code, out, err = shell(world, sh, '''
        . "%s/shim"
        . %s/supervise-daemon.sh
        supervisor=supervise-daemon command=/bin/daemon
        %s
        default_start
    ''' % (world, OPENRC_SH, variables), environ)
    assert code == 0 and err == "", err
    return out.split("\0")[:-1]


HEAD = ["svc", "--start"]
TAIL = ["/bin/daemon", "--"]


# variables -> the words current OpenRC passes, besides svc --start ... /bin/daemon --
# (current OpenRC passes the options in its own order; only the relative
# order of the extra words and supervise_daemon_args counts, and it is kept).
CURRENT = [
    ("", []),
    ("input_file=/etc/motd", ["--stdin", "/etc/motd"]),
    ("output_logger='logger -t x'", ["--stdout-logger", "logger -t x"]),
    ("error_logger='a  b'", ["--stderr-logger", "a b"]),                 # eval'd in double quotes
    ("output_logger='echo \"$HOME\"'", ["--stdout-logger", "echo /root"]),
    ("output_logger=", []),
    ("input_file='/tmp/a b'", ["--stdin", "/tmp/a", "b"]),                # a bare word, as upstream
    ("input_file=/i output_logger=o error_logger=e supervise_daemon_args='--env A=1'",
     ["--stdin", "/i", "--stdout-logger", "o", "--stderr-logger", "e", "--env", "A=1"]),
    ("input_file=/i start_stop_daemon_args='--env B=2'", ["--stdin", "/i", "--env", "B=2"]),
    ("no_new_privs=yes", ["--no_new_privs"]),     # 0.45's spelling: ours takes it, no shim needed
]


@pytest.mark.parametrize("sh", SHELLS)
@pytest.mark.parametrize("variables, words", CURRENT)
def test_the_shim_passes_what_current_openrc_passes(world, sh, variables, words):
    needs_openrc_045()
    got = start_words(world, sh, variables)
    assert got[:2] == HEAD and got[-2:] == TAIL
    assert sorted(got[2:-2]) == sorted(words)
    # supervise_daemon_args stays last before the command, as upstream.
    if "supervise_daemon_args" in variables or "start_stop_daemon_args" in variables:
        assert got[-4:-2] == words[-2:]


@pytest.mark.parametrize("sh", SHELLS)
def test_an_empty_supervise_daemon_args_keeps_0_45s_meaning(world, sh):
    needs_openrc_045()
    # 0.45: set but empty falls back to start_stop_daemon_args, shim or not.
    v = "supervise_daemon_args= start_stop_daemon_args='--env B=2'"
    assert start_words(world, sh, v) == HEAD + ["--env", "B=2"] + TAIL
    assert start_words(world, sh, v + " output_logger=o") == \
        HEAD + ["--stdout-logger", "o", "--env", "B=2"] + TAIL


@pytest.mark.parametrize("sh", SHELLS)
@pytest.mark.parametrize("falls_back, expect", [("yes", ["--env", "B=2"]), ("no", [])])
def test_the_empty_args_rule_follows_the_openrc_it_was_made_for(world, sh, falls_back, expect):
    # A stand-in supervise_start with the rule of the release in question.
    rule = ":-" if falls_back == "yes" else "-"
    values = dict(VALUES_045, _openrc_sv_shim_empty_falls_back=falls_back)
    (world / "shim").write_text(setup.shim_text(values))
    code, out, err = shell(world, sh, '''
        . "%s/shim"
        supervise_start() { eval supervise-daemon "$RC_SVCNAME" --start \\
            ${supervise_daemon_args%s${start_stop_daemon_args}} $command -- ; }
        supervisor=supervise-daemon command=/bin/daemon input_file=/i
        supervise_daemon_args= start_stop_daemon_args='--env B=2'
        default_start
        printf '[%%s]' "${supervise_daemon_args-unset}"
    ''' % (world, rule))
    assert code == 0, err
    words, after = out.rsplit("\0", 1)
    assert words.split("\0") == HEAD + ["--stdin", "/i"] + expect + TAIL
    assert after == "[]"        # the script's own value, untouched


@pytest.mark.parametrize("sh", SHELLS)
@pytest.mark.parametrize("version_file, libexec", [("0.56.0", None), ("0.45.2", ""),
                                                   (None, None)])
def test_the_shim_stands_aside_on_another_openrc(world, sh, version_file, libexec):
    needs_openrc_045()
    if version_file is None:
        os.unlink(world / "libexec/version")
    else:
        (world / "libexec/version").write_text(version_file + "\n")
    environ = {"RC_LIBEXECDIR": libexec} if libexec is not None else None
    assert start_words(world, sh, "input_file=/i output_logger=o", environ) == HEAD + TAIL


def real_default_start():
    """OpenRC 0.45's own default_start, read from the installed openrc-run.sh."""
    needs_openrc_045()
    with open(os.path.join(OPENRC_SH, "openrc-run.sh")) as f:
        text = f.read()
    start = text.index("\ndefault_start()")
    return text[start:text.index("\n}\n", start) + 3]


@pytest.mark.parametrize("sh", SHELLS)
@pytest.mark.parametrize("supervisor", ["", "start-stop-daemon", "runit", "s6", "bogus",
                                        "supervise-daemon"])
def test_default_start_dispatches_as_openrcs_own(world, sh, supervisor):
    """With none of the three variables set, the shim's default_start does
    exactly what openrc-run.sh's does, for every supervisor."""
    body = '''
        %s
        . %s/supervise-daemon.sh
        supervisor=%s command=/bin/daemon pidfile=/run/x.pid no_new_privs=yes
        default_start
    '''
    theirs = shell(world, sh, body % (real_default_start(), OPENRC_SH, supervisor))
    ours = shell(world, sh, body % ('. "%s/shim"' % world, OPENRC_SH, supervisor))
    assert ours == theirs


@pytest.mark.parametrize("sh", SHELLS)
@pytest.mark.parametrize("order", ["shim first (C-locale order)", "plugin first"])
def test_with_the_plugin_in_either_order(world, sh, order):
    needs_openrc_045()
    loads = ['. "%s/shim"' % world, '. "%s"' % shellvars.PLUGIN]
    if order == "plugin first":
        loads.reverse()
    code, out, err = shell(world, sh, '''
        %s
        . %s/supervise-daemon.sh
        _openrc_sv_run() { echo "openrc-sv $*"; }
        supervisor=openrc-sv; default_start
        supervisor=supervise-daemon command=/bin/daemon output_logger=o; default_start
    ''' % ("\n".join(loads), OPENRC_SH))
    assert code == 0, err
    plugin_line, words = out.split("\n", 1)
    assert plugin_line == "openrc-sv start"
    assert words.split("\0")[:-1] == HEAD + ["--stdout-logger", "o"] + TAIL
