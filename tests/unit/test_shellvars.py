"""openrc_sv.shellvars: the shell evaluates init scripts, the way openrc-run does.

Each test builds a private /etc (rc.conf, rc.conf.d, init.d, conf.d) under
tmp_path; OpenRC's own helpers (functions.sh, supervise-daemon.sh) are used
when installed, as openrc-run would.
"""

import os
import re
import subprocess

import pytest

from openrc_sv import shellvars
from openrc_sv.errors import UserError

HOSTILE = ["two  spaces", "it's", 'say "hi"', "new\nline", "$HOME", "`id`", "a;b", "back\\slash",
           "*", "tab\there", "-dash", ""]


def sh_single(value):
    """value as one single-quoted shell word."""
    return "'" + value.replace("'", "'\"'\"'") + "'"


class World:
    def __init__(self, root):
        self.etc = str(root)
        for d in ("init.d", "conf.d", "rc.conf.d"):
            os.makedirs(os.path.join(self.etc, d), exist_ok=True)

    def write(self, rel, text):
        path = os.path.join(self.etc, rel)
        with open(path, "w") as f:
            f.write(text)
        return path

    def script(self, name, body, shebang="#!/sbin/openrc-run\n"):
        return self.write("init.d/" + name, shebang + body)

    def read(self, name, **kw):
        env = kw.pop("env", {})
        env.setdefault("RC_RUNLEVEL", "default")
        return shellvars.read(name, os.path.join(self.etc, "init.d", name),
                              sysconfdir=self.etc, env=env, **kw)


@pytest.fixture
def world(tmp_path):
    return World(tmp_path)


def test_values_are_what_the_shell_computes_not_what_the_text_says(world):
    world.script("foo", 'port=$((8000 + 80))\ncommand_args="--port $port"\n'
                        'if yesno YES; then flag=on; fi\n')
    variables, args, _ = world.read("foo")
    assert variables["command_args"] == "--port 8080"
    assert variables["flag"] == "on"
    assert args == ["--port", "8080"]


def test_conf_d_is_read_before_the_script_as_openrc_run_does(world):
    world.write("conf.d/foo", "command_args='--from-conf'\nsv_backend=runit\n")
    world.script("foo", 'command_args="${command_args:---default}"\n')
    variables, args, _ = world.read("foo")
    assert args == ["--from-conf"]
    assert variables["sv_backend"] == "runit"


def test_rc_conf_then_rc_conf_d_then_conf_d_in_that_order(world):
    world.write("rc.conf", "order=rc.conf\nglobal=1\n")
    world.write("rc.conf.d/a.conf", 'order="$order rc.conf.d"\n')
    world.write("rc.conf.d/ignored.txt", "order=WRONG\n")
    world.write("conf.d/foo", 'order="$order conf.d"\n')
    world.script("foo", 'order="$order script"\n')
    variables, _, _ = world.read("foo")
    assert variables["order"] == "rc.conf rc.conf.d conf.d script"
    assert variables["global"] == "1"


def test_runlevel_conf_d_replaces_the_plain_one(world):
    world.write("conf.d/foo", "which=plain\n")
    world.write("conf.d/foo.boot", "which=boot\n")
    world.script("foo", "")
    assert world.read("foo", env={"RC_RUNLEVEL": "boot"}).variables["which"] == "boot"
    assert world.read("foo", env={"RC_RUNLEVEL": "default"}).variables["which"] == "plain"


def test_net_eth0_reads_conf_d_net_then_its_own(world):
    world.write("conf.d/net", "from_net=yes\nwho=net\n")
    world.write("conf.d/net.eth0", "who=eth0\n")
    world.script("net.eth0", "")
    variables, _, _ = world.read("net.eth0")
    assert variables["from_net"] == "yes"
    assert variables["who"] == "eth0"
    assert variables["RC_SVCNAME"] == "net.eth0"


def test_command_args_are_split_exactly_as_openrcs_eval(world):
    # supervise_start's eval sees the unquoted value already split on IFS
    # and joined by one space: "three  spaced" loses a space there too.
    world.script("foo", '''command_args="one 'two words' \\"three  spaced\\" \\$UNSET_THING"\n'''
                        "command_args_foreground='--foreground \"x y\"'\n")
    _, args, _ = world.read("foo")
    assert args == ["one", "two words", "three spaced", "--foreground", "x y"]


def as_openrc_evals(word):
    """A single-quoted word after supervise_start's unquoted expansion and
    eval: each run of IFS white space inside it is one space."""
    return re.sub(r"[ \t\n]+", " ", word)


def test_a_newline_in_command_args_never_ends_a_command(world, tmp_path):
    marker = tmp_path / "ran"
    world.script("foo", "command_args='first\ntouch %s'\n" % marker)
    _, args, _ = world.read("foo")
    assert args == ["first", "touch", str(marker)]
    assert not marker.exists()


def test_command_args_are_globbed_and_substituted_as_by_openrcs_eval(world, tmp_path):
    for name in ("g1", "g2"):
        (tmp_path / name).write_text("")
    world.script("foo", "command_args='%s/g* %s/none-* $(echo sub one) \"$(echo sub two)\"'\n"
                 % (tmp_path, tmp_path))
    _, args, _ = world.read("foo")
    assert args == [str(tmp_path / "g1"), str(tmp_path / "g2"), "%s/none-*" % tmp_path,
                    "sub", "one", "sub two"]


def test_only_a_start_evaluates_command_args(world, tmp_path):
    marker = tmp_path / "ran"
    world.script("foo", "command_args='$(touch %s)'\n" % marker)
    ev = world.read("foo", words=False)
    assert ev.args == [] and ev.sd_args is None and not marker.exists()
    world.read("foo")
    assert marker.exists()


@pytest.mark.parametrize("text, words", [
    ("--env 'A=b c' --nicelevel 5", ["--env", "A=b c", "--nicelevel", "5"]),
    ('--env "X=$((1 + 2))"', ["--env", "X=3"]),
    ("", []),
])
def test_supervise_daemon_args_are_the_words_of_openrcs_eval(world, text, words):
    world.script("foo", "supervise_daemon_args=%s\n" % sh_single(text))
    assert world.read("foo").sd_args == words


def test_start_stop_daemon_args_stand_in_for_empty_supervise_daemon_args(world):
    world.script("foo", "start_stop_daemon_args=\"--env 'A=1 2'\"\n")
    assert world.read("foo").sd_args == ["--env", "A=1 2"]


@pytest.mark.parametrize("value", HOSTILE, ids=repr)
def test_hostile_values_come_back_unchanged(world, value):
    world.script("foo", "command=/bin/true\nhostile=%s\n" % sh_single(value))
    variables, _, _ = world.read("foo")
    assert variables["hostile"] == value


def test_hostile_words_in_command_args_reach_the_word_list_unchanged(world):
    words = [v for v in HOSTILE if v not in ("*",)]
    quoted = " ".join(sh_single(w) for w in words)
    # command_args holds quoted words, as an admin writes them for OpenRC.
    world.script("foo", "command_args=%s\n" % sh_single(quoted))
    _, args, _ = world.read("foo")
    assert args == [as_openrc_evals(w) for w in words]


def test_command_args_the_shell_cannot_split_is_an_error_naming_the_variable(world):
    world.script("foo", "command_args=\"--name 'unbalanced\"\n")
    with pytest.raises(UserError) as e:
        world.read("foo")
    assert str(e.value).startswith("command_args: invalid value '--name 'unbalanced'")


def test_the_defaults_of_supervise_daemon_sh_do_not_count_as_health_checks(world):
    world.script("foo", "command=/bin/true\n")
    assert world.read("foo").functions == frozenset()


def test_health_check_functions_the_script_defines_are_reported(world):
    world.script("foo", "healthcheck() { return 1; }\nunhealthy() { :; }\n")
    assert world.read("foo").functions == {"healthcheck", "unhealthy"}


def test_a_healthcheck_in_conf_d_is_replaced_by_the_default_as_in_openrc(world):
    # conf.d is sourced before supervise-daemon.sh, whose default wins.
    if not os.path.exists(os.path.join(shellvars.rcstate.libexecdir(), "sh/supervise-daemon.sh")):
        pytest.skip("needs OpenRC's supervise-daemon.sh")
    world.write("conf.d/foo", "healthcheck() { return 1; }\n")
    world.script("foo", "")
    assert "healthcheck" not in world.read("foo").functions


def test_what_the_script_prints_while_loading_does_not_spoil_the_report(world):
    world.script("foo", "echo noise\nprintf 'V\\0command\\0evil\\0'\neinfo hello\ncommand=/bin/true\n")
    variables, _, _ = world.read("foo")
    assert variables["command"] == "/bin/true"


def test_a_script_that_exits_while_loading_is_an_error(world):
    world.script("foo", "command=/bin/true\nexit 0\n")
    with pytest.raises(UserError, match="call exit"):
        world.read("foo")


def test_a_conf_d_that_fails_to_load_is_named(world):
    world.write("conf.d/foo", "if then fi\n")
    world.script("foo", "")
    with pytest.raises(UserError) as e:
        world.read("foo")
    assert "conf.d/foo" in str(e.value) and "Syntax error" in str(e.value)


def test_a_script_that_is_not_an_openrc_run_script_is_refused(world):
    world.script("foo", "case $1 in start) touch /tmp/should-not-run;; esac\n", shebang="#!/bin/sh\n")
    with pytest.raises(UserError, match="not an openrc-run script"):
        world.read("foo")


def test_a_missing_init_script_is_one_line_naming_it(world):
    with pytest.raises(UserError) as e:
        world.read("nosuch")
    assert "init.d/nosuch" in str(e.value) and "\n" not in str(e.value)


def test_the_callers_environment_does_not_leak_into_the_model(world, monkeypatch):
    monkeypatch.setenv("command", "/evil")
    monkeypatch.setenv("pidfile", "/evil.pid")
    world.script("foo", "")
    variables, _, _ = world.read("foo")
    assert "command" not in variables and "pidfile" not in variables


def test_service_identity_is_set_as_openrc_run_sets_it(world):
    path = world.script("foo", 'seen="$RC_SVCNAME $SVCNAME $RC_SERVICE"\n')
    assert world.read("foo").variables["seen"] == "foo foo %s" % path


# -- the report format -----------------------------------------------------------

def _dump(script_text, tmp_path, extra=""):
    """Run the plugin's _openrc_sv_dump in a shell that defined script_text."""
    script = tmp_path / "svc"
    script.write_text("#!/sbin/openrc-run\n" + script_text)
    code = '. "$1"; RC_SERVICE=$2; . "$RC_SERVICE"; %s _openrc_sv_dump --start' % extra
    return subprocess.run(["/bin/sh", "-c", code, "sh", shellvars.PLUGIN, str(script)],
                          capture_output=True, check=True).stdout


def test_the_plugin_reports_the_live_shell_including_later_changes(tmp_path):
    data = _dump("command_args='a'\n", tmp_path, extra="command_args='b \"c d\"';")
    ev = shellvars.parse(data)
    assert ev.args == ["b", "c d"]


def test_a_truncated_report_is_refused(tmp_path):
    data = _dump("x=1\n", tmp_path)
    assert shellvars.parse(data).variables["x"] == "1"
    with pytest.raises(UserError, match="cut short"):
        shellvars.parse(data[:-4])


def test_a_report_in_another_format_is_refused():
    with pytest.raises(UserError, match="does not start with"):
        shellvars.parse(b"command\0/bin/true\0")


def test_a_conf_d_whose_last_command_fails_stops_loading_as_in_openrc(world):
    # openrc-run's sourcex: `. file` returning non-zero is "error loading".
    world.write("conf.d/foo", "x=1\n[ -n \"\" ] && y=2\n")
    world.script("foo", "")
    with pytest.raises(UserError, match="error loading .*conf.d/foo"):
        world.read("foo")
