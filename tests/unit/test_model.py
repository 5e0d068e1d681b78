"""openrc_sv.backends.model: every variable is validated once, before any
backend renders or starts anything, and a bad value is one line naming the
variable and the value."""

import signal

import pytest

from openrc_sv.backends.model import from_variables, resolve_command
from openrc_sv.errors import UserError

# Pinned, so that no test depends on the OpenRC of the machine it runs on
# (0.62's rules: its respawn values are parsed strictly, as C 0.62 does).
BASE = {"command": "/bin/sleep", "supervise_daemon_compat": "0.62"}


def build(args=(), functions=(), **variables):
    v = dict(BASE)
    v.update(variables)
    return from_variables("foo", "/etc/init.d/foo", v, list(args), functions)


# (variable, bad value): each must be refused with both named.
BAD = [
    ("command_user", "no-such-user-here"),
    ("command_user", "root:no-such-group-here"),
    ("command_user", ":wheel"),
    ("umask", "999"),
    ("umask", "u=rwx"),
    ("stopsig", "NOTASIGNAL"),
    ("retry", "TERM/soon"),
    ("retry", "5/10"),
    ("respawn_delay", "fast"),
    ("respawn_delay", "-1"),
    ("respawn_max", "many"),
    ("respawn_max", "-3"),
    ("respawn_period", "1fortnight"),
    ("respawn_period", "1.5"),
    ("supervise_daemon_compat", "0.62x"),
    ("supervise_daemon_compat", "newest"),
    ("healthcheck_timer", "often"),
    ("healthcheck_timer", "0"),
    ("healthcheck_delay", "later"),
    ("healthcheck_timeout", "5 parsecs"),
    ("notify", "fd:1"),
    ("notify", "socket:maybe"),
    ("watchdog_timer", "0"),
    ("watchdog_timer", "often"),
    ("reload_signal", "SIGNOPE"),
    ("reload_signal", "999"),
    ("directory", "/srv/a\nb"),
    ("chroot", "/srv/jail\n"),
    ("pidfile", "/run/x\n.pid"),
    ("output_log", "/var/log/a\nb"),
    ("error_log", "/var/log/a\nb"),
    ("input_file", "/dev/\nnull"),
    ("respawn_on", "unexpected"),
    ("respawn_stop_status", "78 NOSUCHSIG"),
    ("respawn_stop_status", "-1"),
    ("respawn_delay_factor", "x2"),
    ("respawn_delay_factor", "1"),
    ("respawn_delay_step", "soon"),
    ("respawn_delay_cap", "1.5"),
    ("respawn_reset_after", "later"),
]


@pytest.mark.parametrize("variable, value", BAD, ids=["%s=%r" % b for b in BAD])
def test_a_bad_value_is_one_error_naming_the_variable_and_the_value(variable, value):
    with pytest.raises(UserError) as e:
        build(**{variable: value})
    message = str(e.value)
    assert message.startswith(variable + ":")
    shown = value.split(":")[-1] if variable == "command_user" and ":" in value[1:] else value
    assert shown in message or repr(shown) in message or repr(value) in message


def test_a_missing_command_says_what_to_set():
    with pytest.raises(UserError, match=r"^command: not set"):
        from_variables("foo", "/etc/init.d/foo", {}, [], ())


def test_a_command_that_does_not_exist_is_named():
    m = build(command="/nonexistent/daemon")
    with pytest.raises(UserError, match=r"^command: '/nonexistent/daemon' does not exist"):
        resolve_command(m)


def test_good_values_become_typed_fields():
    m = build(args=["-f", "x y"], functions={"healthcheck"}, umask="027", respawn_delay="500ms",
              respawn_max="3", respawn_period="1min", healthcheck_timer="30",
              reload_signal="USR1", retry="INT/2/KILL/1", sv_backend="runit",
              runit_log="yes", monit_extra="x", unrelated="ignored")
    assert m.argv == ["/bin/sleep", "-f", "x y"]
    assert m.umask == 0o027
    assert (m.respawn_delay_ms, m.respawn_max, m.respawn_period_ms) == (500, 3, 60000)
    assert m.healthcheck_timer_ms == 30000
    assert m.reload_signal == signal.SIGUSR1
    assert m.stop_signal == signal.SIGINT
    assert m.backend == "runit"
    assert m.has_healthcheck and not m.has_unhealthy
    assert m.extra == {"runit_log": "yes", "monit_extra": "x"}


def test_empty_values_count_as_unset_as_in_the_shell_functions():
    m = build(umask="", pidfile="", respawn_max="", reload_signal="")
    assert m.umask is None and m.pidfile is None
    assert m.respawn_max == 10 and m.reload_signal == signal.SIGHUP


def test_stopsig_alone_becomes_the_first_signal_of_the_stop_schedule():
    assert build(stopsig="QUIT").stop_signal == signal.SIGQUIT


# -- the rule set of the calling OpenRC (issue 9 section 2) -----------------

def test_a_pinned_rule_set_gives_its_defaults_and_is_passed_on():
    from openrc_sv.backends.options import start_options
    new = build(supervise_daemon_compat="0.63.3")
    assert (new.compat, new.respawn_period_ms, new.respawn_delay_step_ms,
            new.respawn_delay_cap_ms) == ("0.62", 12000, 128, 30000)
    assert start_options(new)[-2:] == ["--compat", "0.62"]
    assert "--respawn-period" not in start_options(new)   # the supervisor's default
    old = build(supervise_daemon_compat="0.45")
    assert (old.compat, old.respawn_period_ms, old.respawn_delay_step_ms) == ("0.45", 0, 0)
    assert start_options(old)[-2:] == ["--compat", "0.45"]


def test_without_a_pin_the_version_file_chooses_and_the_choice_is_passed_on(tmp_path):
    # Chosen once, by the model, for every backend: native's supervisor and
    # monit's launcher get --compat and never choose again (a pin in
    # rc.conf.d that the script's `auto` overrode would win there).
    from openrc_sv.backends.options import start_options
    (tmp_path / "version").write_text("0.63.3\n")
    v = dict(BASE, RC_LIBEXECDIR=str(tmp_path))
    del v["supervise_daemon_compat"]
    m = from_variables("foo", "/etc/init.d/foo", v, [], ())
    assert m.compat == "0.62" and m.rules.name == "0.62" and m.respawn_period_ms == 12000
    opts = start_options(m)
    assert opts[opts.index("--compat") + 1] == "0.62"
    (tmp_path / "version").write_text("0.56\n")
    m = from_variables("foo", "/etc/init.d/foo", dict(v, supervise_daemon_compat="auto"), [], ())
    assert m.compat == "0.45" and m.rules.name == "0.45" and m.respawn_period_ms == 0


def test_respawn_period_0_is_the_whole_lifetime():
    assert build(respawn_period="0").respawn_period_ms == 0


def test_timers_mean_what_they_say_and_take_what_c_takes(capsys):
    m = build(healthcheck_timer="1.5", healthcheck_delay="2min")
    assert (m.healthcheck_timer_ms, m.healthcheck_delay_ms) == (1500, 120000)
    assert capsys.readouterr().err == ""
    m = build(healthcheck_timer="30x")
    assert m.healthcheck_timer_ms == 30000
    assert "healthcheck_timer: '30x' is read as 30sec" in capsys.readouterr().err


def test_before_062_respawn_values_are_read_as_c_reads_them(capsys):
    m = build(supervise_daemon_compat="0.45", respawn_delay="1.5", respawn_period="1fortnight")
    assert (m.respawn_delay_ms, m.respawn_period_ms) == (1500, 1000)
    assert "respawn_period: '1fortnight' is read as 1sec" in capsys.readouterr().err


def test_the_restart_policy_variables_become_typed_fields():
    m = build(respawn_on="Signal", respawn_stop_status="78,64-65 ABRT", respawn_delay="100ms",
              respawn_delay_factor="1.5", respawn_delay_cap="1min", respawn_reset_after="10min")
    assert (m.respawn_on, m.respawn_stop_exits, m.respawn_stop_signals) == (
        "signal", {64, 65, 78}, {signal.SIGABRT})
    assert (m.respawn_delay_factor, m.respawn_delay_cap_ms, m.respawn_reset_after_ms) == (
        1500, 60000, 600000)


def test_without_the_policy_variables_nothing_changes():
    m = build(supervise_daemon_compat="0.62")
    assert (m.respawn_on, m.respawn_stop_exits, m.respawn_delay_factor,
            m.respawn_reset_after_ms) == ("always", frozenset(), 0, 0)
    assert (m.respawn_delay_step_ms, m.respawn_delay_cap_ms) == (128, 30000)


def test_the_step_and_the_cap_are_variables_too():
    m = build(respawn_delay_step="1sec", respawn_delay_cap="5sec", supervise_daemon_compat="0.45")
    assert (m.respawn_delay_step_ms, m.respawn_delay_cap_ms) == (1000, 5000)


@pytest.mark.parametrize("variables, message", [
    ({"respawn_delay_factor": "2"},
     "respawn_delay_factor: '2' needs respawn_delay above 0: the first delay, which the "
     "factor multiplies (such as 100ms)"),
    ({"respawn_delay_factor": "2", "respawn_delay": "1", "respawn_delay_step": "1"},
     "respawn_delay_factor: '2' cannot be combined with respawn_delay_step (choose one way "
     "for the delay to grow: a factor or a step)"),
])
def test_settings_that_cannot_go_together_are_one_line_naming_them(variables, message):
    with pytest.raises(UserError) as e:
        build(**variables)
    assert e.value.message == message


def test_the_watchdog_timer_needs_the_notify_socket_and_reaches_the_supervisor():
    from openrc_sv.backends.options import in_variables, start_options
    m = build(notify="socket:ready", watchdog_timer="30s")
    assert m.watchdog_timer_ms == 30000
    words = start_options(m)
    assert words[words.index("--watchdog-timer") + 1] == "30sec"
    assert "--watchdog-timer" not in start_options(build())
    assert in_variables("--watchdog-timer: '5' needs ...") == "watchdog_timer: '5' needs ..."
    for notify in (None, "fd:4"):
        with pytest.raises(UserError) as e:
            build(watchdog_timer="30s", **({"notify": notify} if notify else {}))
        assert e.value.message == ("watchdog_timer: '30s' needs notify=socket:ready "
                                   "(the daemon sends WATCHDOG=1 to $NOTIFY_SOCKET)")


@pytest.mark.parametrize("backend", ["runit", "monit"])
def test_backends_without_a_notify_socket_refuse_the_watchdog_naming_both(backend):
    want = ("watchdog_timer: '%%s' is not supported with sv_backend=%s (%s has no notify "
            "socket for the daemon's keepalives); use sv_backend=native" % (backend, backend))
    # Whatever notify says: the backend is the reason, not notify.
    for extra in ({}, {"notify": "socket:ready"}):
        with pytest.raises(UserError) as e:
            build(sv_backend=backend, watchdog_timer="30s", **extra)
        assert e.value.message == want % "30s"
    want = want % "30sec"
    # The renderers refuse a model made any other way too.
    m = build(notify="socket:ready", watchdog_timer="30s")
    m.backend = backend
    if backend == "runit":
        from openrc_sv.backends.runit.render import refuse_unsupported as refuse
        call = lambda: refuse(m)  # noqa: E731
    else:
        from openrc_sv.backends.monit import render as monit_render
        call = lambda: monit_render.render(m, None)  # noqa: E731
    with pytest.raises(UserError) as e:
        call()
    assert e.value.message == want
