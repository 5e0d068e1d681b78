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
    environ = variables.pop("environ", {"PATH": "/usr/bin:/bin", "FOO": "bar"})
    v = {"command": "/bin/sleep", "sv_backend": "monit"}
    v.update({k: str(x) for k, x in variables.items()})
    return MonitBackend(from_variables(svc, "/etc/init.d/" + svc, v, list(args), ()), environ)


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
    assert out["control"].mode == 0o700       # it holds the daemon's environment
    assert check_lines(out["foo.monitrc"].content) == [
        'check process "foo" with pidfile "/run/openrc-sv/monit/foo/pid"',
        "group openrc-sv",
        'start program = "/run/openrc-sv/monit/foo/control start" with timeout 5 seconds',
        'stop program = "/run/openrc-sv/monit/foo/control stop" with timeout 40 seconds',
    ]


def test_directories_follow_the_variables_and_monit_never_watches_the_users_pidfile():
    """pidfile= may lie in a directory the daemon's user owns: monit watches
    the pidfile in root's private state directory instead."""
    b = backend(monit_include_dir="/etc/monit.d/", monit_run_dir="/var/run/sv",
                pidfile="/run/foo daemon.pid")
    out = by_name(b.render(1))
    assert out["foo.monitrc"].path == "/etc/monit.d/foo.monitrc"
    assert out["control"].path == "/var/run/sv/foo/control"
    assert 'with pidfile "/var/run/sv/foo/pid"' in out["foo.monitrc"].content
    assert "foo daemon.pid" not in out["foo.monitrc"].content


@pytest.mark.parametrize("variables", [{"respawn_max": "3", "respawn_period": "10"},
                                       {"respawn_max": "0"}, {}])
def test_respawn_limits_are_the_launchers_not_monits(variables):
    """monit counts restarts its own way; the launcher applies respawn_max
    within respawn_period as supervise-daemon does."""
    assert "restarts within" not in monit_file(backend(**variables))


def test_healthcheck_timer_becomes_a_program_check_every_n_cycles():
    text = monit_file(backend(healthcheck_timer="5", healthcheck_timeout="3"), cycle=2)
    lines = check_lines(text)
    i = lines.index('check program "foo_health" with path '
                    '"/run/openrc-sv/monit/foo/control healthcheck" with timeout 76 seconds')
    # No exec on failure: the check itself runs unhealthy() once and stops
    # the daemon (monit ran unhealthy twice for one failure).
    assert lines[i + 1:] == [
        "group openrc-sv", 'depends on "foo"', "every 3 cycles", "if status != 0 then alert"]


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
    env = {"PATH": "/usr/bin:/bin", "FOO": "a b'c\nd", "RC_SVCNAME": "foo"}
    b = backend(HOSTILE, command_user="nobody", output_log="/var/log/it's here.log",
                output_logger="logger -t 'x y'", directory="/srv/$HOME", umask="027",
                pidfile="/run/it's.pid", environ=env)
    words = run_control(tmp_path, monkeypatch, b)
    assert words[:3] == ["-I", "-m", "openrc_sv.backends.monit.launch"]
    l = launch.parse(words[3:])
    assert l.action == "start"
    assert l.sd.argv == ["/bin/sleep"] + HOSTILE
    assert l.own == {"script": "/etc/init.d/foo", "state": "/run/openrc-sv/monit/foo",
                     "svcdir": "/run/openrc", "monit": "monit"}
    # The caller's environment, as is: child.Setup cleans it (RC_* ...).
    assert l.environ == ["FOO=a b'c\nd", "PATH=/usr/bin:/bin", "RC_SVCNAME=foo"]
    # supervise-daemon's own options, parsed by its parser.
    assert l.svc == "foo"
    assert (l.sd.user[2], l.sd.chdir, l.sd.stdout, l.sd.stdout_logger, l.sd.umask,
            l.sd.pidfile) == ("nobody", "/srv/$HOME", "/var/log/it's here.log",
                              "logger -t 'x y'", 0o027, "/run/it's.pid")


def test_control_script_gives_the_launcher_the_action_monit_asks_for(tmp_path, monkeypatch):
    b = backend(healthcheck_timer="10", monit_conf="/etc/monit rc")
    words = run_control(tmp_path, monkeypatch, b, "healthcheck")
    l = launch.parse(words[3:])
    assert l.action == "healthcheck"
    assert (l.own["monit-conf"], l.sd.healthcheck_timeout_ms) == ("/etc/monit rc", 10000)


def test_launcher_refuses_an_unknown_action_or_option():
    for argv in (["restart", "--"], ["start", "--bogus", "x", "--"], ["start", "--script"],
                 ["start", "--script", "s", "--state", "d", "--"],
                 ["start", "--script", "s", "--state", "d", "--", "svc", "--bogus", "--", "x"]):
        with pytest.raises(UserError):
            launch.parse(argv)


# -- values monit cannot take ---------------------------------------------------------

@pytest.mark.parametrize("variables, svc, named", [
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
    ({"respawn_on": "failure"}, "foo", "respawn_on"),
    ({"respawn_stop_status": "78"}, "foo", "respawn_stop_status"),
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
    assert "Pid file             = %s/run/web-1.x/pid" % tmp_path in r.stdout


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


@pytest.mark.parametrize("var,value,attr,expected", [
    ("capabilities", "^cap_net_bind_service", "capabilities", None),
    ("secbits", "0x2f", "secbits", 0x2f), ("no_new_privs", "yes", "no_new_privs", True)])
def test_privilege_variables_reach_the_launcher_as_supervise_daemon_options(
        tmp_path, monkeypatch, var, value, attr, expected):
    """The launcher applies them with openrc_sv.child, as the drop-in does."""
    words = run_control(tmp_path, monkeypatch, backend(**{var: value}))
    got = getattr(launch.parse(words[3:]).sd, attr)
    assert got == expected if expected is not None else got


def test_monit_cannot_carry_what_needs_the_exit_status():
    with pytest.raises(UserError) as e:
        backend(respawn_stop_status="78 ABRT").render(1)
    assert e.value.message == (
        "respawn_stop_status: '78 ABRT' is not supported with sv_backend=monit (monit "
        "restarts a daemon whose exit status it never sees); use sv_backend=native or runit")
    # nor through supervise_daemon_args, which the launcher parses at start
    with pytest.raises(UserError) as e:
        launch.parse(["start", "--script", "/x", "--state", "/nonexistent", "--", "foo",
                      "--respawn-on", "failure", "--compat", "0.45", "--", "/bin/true"])
    assert e.value.message.startswith("respawn_on: 'failure' is not supported with "
                                      "sv_backend=monit")


def _launch(state, *opts):
    return launch.parse(["start", "--script", "/x", "--state", str(state), "--", "foo",
                         "--compat", "0.45"] + list(opts) + ["--", "/bin/true"])


def test_the_launcher_grows_the_delay_and_resets_it_as_respawnpolicy_decides(tmp_path):
    l = _launch(tmp_path, "--respawn-delay", "100ms", "--respawn-delay-factor", "2",
                "--respawn-delay-cap", "1sec", "--respawn-reset-after", "1min",
                "--respawn-max", "0")
    assert [launch._respawn(l).delay_ms for _ in range(6)] == [100, 200, 400, 800, 1000, 1000]
    # A daemon spawned two minutes ago stayed up past respawn_reset_after.
    h, _ = launch._history(l)
    launch._save_history(l, h, launch._now_ms() - 120000)
    assert launch._respawn(l).delay_ms == 100


def test_the_launcher_keeps_openrcs_linear_rules_by_default(tmp_path):
    l = _launch(tmp_path, "--respawn-delay", "1", "--respawn-delay-step", "128ms",
                "--respawn-max", "3", "--respawn-period", "1min")
    decisions = [launch._respawn(l) for _ in range(4)]
    assert [d.delay_ms for d in decisions[:3]] == [1128, 1256, 1384]
    assert decisions[3].action == "give up"
    assert decisions[3].reason == "respawned more than 3 times within 1min"
