"""openrc_sv.backends.monit's renderer: the monit file and the control
script computed from the model, hostile values included, and the rules of
monit's parser they rely on, checked against the installed monit."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from openrc_sv.backends import files
from openrc_sv.backends.model import from_variables
from openrc_sv.backends.monit import MonitBackend, ctl, launch
from openrc_sv.errors import UserError

HOSTILE = ["two words", "it's", 'say "hi"', "line\nbreak", "$HOME", "`id`", "a;b",
           "back\\slash", "", "-x", "--", "--service"]


def backend(args=(), svc="foo", **variables):
    v = {"command": "/bin/sleep", "sv_backend": "monit"}
    v.update({k: str(x) for k, x in variables.items()})
    return MonitBackend(from_variables(svc, "/etc/init.d/" + svc, v, list(args), ()))


def by_name(rendered):
    return {os.path.basename(f.path): f for f in rendered}


def monit_file(b, cycle=1):
    return by_name(b.render(cycle))[b.model.service + ".monitrc"].content


def check_lines(text):
    return [line.strip() for line in text.splitlines()
            if line.strip() and not line.strip().startswith("#")]


# -- the monit file ------------------------------------------------------------

def test_simple_type_writes_a_process_check_started_and_stopped_by_the_control_script():
    b = backend()
    out = by_name(b.render(1))
    assert sorted(out) == ["control", "foo.monitrc"]
    assert out["foo.monitrc"].path == "/run/openrc-monit/foo.monitrc"
    assert out["control"].path == "/run/openrc-sv/monit/foo/control"
    assert out["control"].mode == 0o755
    assert check_lines(out["foo.monitrc"].content) == [
        'check process "foo" with pidfile "/run/openrc-sv/monit/foo/pid"',
        "group openrc-sv",
        'start program = "/run/openrc-sv/monit/foo/control start" with timeout 5 seconds',
        'stop program = "/run/openrc-sv/monit/foo/control stop" with timeout 40 seconds',
        "if 12 restarts within 2147483647 cycles then stop",
    ]


def test_directories_and_pidfile_follow_the_variables():
    b = backend(monit_include_dir="/etc/monit.d/", monit_run_dir="/var/run/sv",
                pidfile="/run/foo daemon.pid")
    out = by_name(b.render(1))
    assert out["foo.monitrc"].path == "/etc/monit.d/foo.monitrc"
    assert out["control"].path == "/var/run/sv/foo/control"
    assert 'with pidfile "/run/foo daemon.pid"' in out["foo.monitrc"].content


@pytest.mark.parametrize("respawn_max, period, cycle, expected", [
    ("3", "10", 1, "if 5 restarts within 10 cycles then stop"),
    ("3", "10", 3, "if 5 restarts within 5 cycles then stop"),       # raised to respawn_max+2
    ("2", "1min", 20, "if 4 restarts within 4 cycles then stop"),
    ("2", "2min", 20, "if 4 restarts within 6 cycles then stop"),
    ("10", None, 30, "if 12 restarts within 2147483647 cycles then stop"),   # the lifetime
    ("0", "10", 1, None),                                             # unlimited
])
def test_respawn_max_within_period_becomes_a_restart_limit_in_cycles(respawn_max, period, cycle,
                                                                     expected):
    v = {"respawn_max": respawn_max}
    if period:
        v["respawn_period"] = period
    limits = [l for l in check_lines(monit_file(backend(**v), cycle)) if "restarts within" in l]
    assert limits == ([expected] if expected else [])


def test_healthcheck_timer_becomes_a_program_check_every_n_cycles():
    text = monit_file(backend(healthcheck_timer="5", healthcheck_timeout="3"), cycle=2)
    lines = check_lines(text)
    i = lines.index('check program "foo_health" with path '
                    '"/run/openrc-sv/monit/foo/control healthcheck" with timeout 33 seconds')
    assert lines[i + 1:] == [
        "group openrc-sv", 'depends on "foo"', "every 3 cycles",
        'if status != 0 then exec "/run/openrc-sv/monit/foo/control unhealthy" '
        'repeat every 3 cycles']


def test_no_healthcheck_timer_no_health_check():
    assert "check program" not in monit_file(backend())


def test_respawn_delay_lengthens_the_start_timeout():
    assert "control start\" with timeout 8 seconds" in monit_file(backend(respawn_delay="2500ms",
                                                                          monit_start_timeout="5"))


# -- the control script ------------------------------------------------------------

RECORDER = """#!/usr/bin/python3
import json, sys
json.dump(sys.argv[1:], open(sys.argv[0] + ".json", "w"))
"""


def run_control(tmp_path, monkeypatch, b, action="start"):
    """Run the rendered control script with a recorder in place of Python;
    return the words it passed."""
    recorder = tmp_path / "python"
    recorder.write_text(RECORDER)
    recorder.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(recorder))
    script = tmp_path / "control"
    script.write_text(by_name(b.render(1))["control"].content)
    subprocess.run(["sh", str(script), action], check=True)
    return json.loads((tmp_path / "python.json").read_text())


def test_control_script_passes_every_hostile_word_to_the_launcher_unchanged(tmp_path, monkeypatch):
    b = backend(HOSTILE, command_user="nobody", output_log="/var/log/it's here.log",
                output_logger="logger -t 'x y'", directory="/srv/$HOME", umask="027")
    words = run_control(tmp_path, monkeypatch, b)
    assert words[:3] == ["-I", "-m", "openrc_sv.backends.monit.launch"]
    action, opts, argv = launch.parse(words[3:])
    assert action == "start"
    assert argv == ["/bin/sleep"] + HOSTILE
    assert opts == {
        "service": "foo", "script": "/etc/init.d/foo", "state": "/run/openrc-sv/monit/foo",
        "pidfile": "/run/openrc-sv/monit/foo/pid", "retry": "TERM/5sec/KILL/5sec",
        "monit": "monit", "user": "nobody", "directory": "/srv/$HOME",
        "stdout": "/var/log/it's here.log", "stdout-logger": "logger -t 'x y'", "umask": "0027"}


def test_control_script_gives_the_launcher_the_action_monit_asks_for(tmp_path, monkeypatch):
    b = backend(healthcheck_timer="10", monit_conf="/etc/monit rc")
    words = run_control(tmp_path, monkeypatch, b, "unhealthy")
    action, opts, _ = launch.parse(words[3:])
    assert action == "unhealthy"
    assert (opts["monit-conf"], opts["healthcheck-timeout"]) == ("/etc/monit rc", "10000ms")


def test_launcher_refuses_an_unknown_action_or_option():
    for argv in (["restart", "--"], ["start", "--bogus", "x", "--"], ["start", "--service"]):
        with pytest.raises(UserError):
            launch.parse(argv)


# -- values monit cannot take ---------------------------------------------------------

@pytest.mark.parametrize("variables, svc, named", [
    ({"pidfile": '/run/a"b.pid'}, "foo", "pidfile"),
    ({"pidfile": "/run/a\\b.pid"}, "foo", "pidfile"),
    ({"monit_run_dir": "/run/my dir"}, "foo", "monit_run_dir"),
    ({"monit_run_dir": "/run/x\ny"}, "foo", "monit_run_dir"),
    ({"monit_run_dir": "/run/it's"}, "foo", "monit_run_dir"),
    ({}, "my svc", "service name"),
    ({}, 'a"b', "service name"),
    ({"monit_type": "native", "monit_name": 'x"y'}, "foo", "monit_name"),
    ({"monit_type": "fancy"}, "foo", "monit_type"),
    ({"monit_cycle": "1500ms"}, "foo", "monit_cycle"),
    ({"monit_conf": "relative/monitrc"}, "foo", "monit_conf"),
    ({"monit_name": "other"}, "foo", "monit_name"),
    ({"notify": "fd:3"}, "foo", "notify"),
])
def test_a_value_monit_cannot_take_is_refused_naming_the_variable(variables, svc, named):
    with pytest.raises(UserError) as e:
        backend(svc=svc, **variables).render(1)
    assert e.value.message.startswith(named) and "\n" not in e.value.message


def test_native_type_copies_the_administrators_file(tmp_path):
    (tmp_path / "foo").write_text("check process foo matching 'x\"y'\n")
    out = backend(monit_type="native", monit_files_dir=str(tmp_path)).render()
    assert [(f.path, f.content) for f in out] == [
        ("/run/openrc-monit/foo.monitrc", "check process foo matching 'x\"y'\n")]


def test_native_type_without_a_file_names_the_file_to_write(tmp_path):
    with pytest.raises(UserError) as e:
        backend(monit_type="native", monit_files_dir=str(tmp_path)).render()
    assert "monit_type=native: %s/foo does not exist" % tmp_path in e.value.message


def test_render_touches_no_disk(tmp_path):
    backend(monit_include_dir=str(tmp_path / "inc"), monit_run_dir=str(tmp_path / "run"),
            healthcheck_timer="1").render(1)
    assert os.listdir(tmp_path) == []


# -- what the installed monit makes of it ------------------------------------------------

needs_monit = pytest.mark.skipif(shutil.which("monit") is None, reason="monit is not installed")


def monit_test(tmp_path, body):
    """`monit -t -v` on a control file including tmp_path/inc/*."""
    (tmp_path / "inc").mkdir(exist_ok=True)
    conf = tmp_path / "monitrc"
    conf.write_text("set idfile %s/id\nset statefile %s/state\ninclude %s/inc/*\n%s"
                    % (tmp_path, tmp_path, tmp_path, body))
    conf.chmod(0o600)
    return subprocess.run(["monit", "-t", "-v", "-c", str(conf)], capture_output=True, text=True)


@needs_monit
def test_installed_monit_accepts_the_rendered_files(tmp_path):
    b = backend(HOSTILE, svc="web-1.x", monit_include_dir=str(tmp_path / "inc"),
                monit_run_dir=str(tmp_path / "run"), respawn_max="3", respawn_period="1min",
                healthcheck_timer="30", pidfile=str(tmp_path / "a b.pid"))
    files.write(b.render(30))
    r = monit_test(tmp_path, "")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Process Name          = web-1.x" in r.stdout
    assert "Program Name          = web-1.x_health" in r.stdout
    assert "Pid file             = %s/a b.pid" % tmp_path in r.stdout
    assert "If restarted 5 times within 5 cycle(s) then stop" in r.stdout


@needs_monit
@pytest.mark.parametrize("string", ['"a\\"b"', '"a\nb"'])
def test_installed_monit_has_no_escape_for_quotes_or_line_breaks(tmp_path, string):
    """Why syntax.py refuses these values instead of escaping them."""
    r = monit_test(tmp_path, "check process x with pidfile %s\n" % string)
    assert r.returncode != 0


@needs_monit
def test_installed_monit_reads_a_doubled_backslash_two_ways(tmp_path):
    """A pidfile's \\\\ becomes one backslash, a program string's stays two:
    no spelling of a backslash is right everywhere, so syntax.py refuses it."""
    r = monit_test(tmp_path, 'check process x with pidfile "/run/a\\\\b"\n'
                             '  start program = "/bin/echo a\\\\b"\n')
    assert "Pid file             = /run/a\\b\n" in r.stdout
    assert "Start program        = '/bin/echo a\\\\b'" in r.stdout


# -- reading monit's answers ----------------------------------------------------------------

STATUS = """Monit 5.33.0 uptime: 0m

Process 'web 1'
  status                       OK - stop pending
  monitoring status            Monitored
  pid                          27
  data collected               Sat, 21 Nov 2026 13:03:29

Program 'web 1_health'
  status                       Status failed
  last output                  -
"""


def test_monit_status_is_read_service_by_service():
    assert ctl.parse_status(STATUS) == {
        "web 1": {"type": "Process", "status": "OK - stop pending",
                  "monitoring status": "Monitored", "pid": "27",
                  "data collected": "Sat, 21 Nov 2026 13:03:29"},
        "web 1_health": {"type": "Program", "status": "Status failed", "last output": "-"}}


@pytest.mark.parametrize("var,value", [("capabilities", "^cap_net_bind_service"),
                                       ("secbits", "0x2f"), ("no_new_privs", "yes")])
def test_privilege_variables_the_launcher_cannot_apply_are_refused(var, value):
    from openrc_sv.backends import model as M
    from openrc_sv.backends.monit import render as R
    from openrc_sv.backends.monit import settings as S
    m = M.from_variables("svc", "/etc/init.d/svc", {"command": "/bin/sleep", var: value}, ["1"])
    with pytest.raises(UserError, match=var):
        R.render_simple(m, S.from_model(m), 1)
