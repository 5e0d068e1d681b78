"""openrc_sv.backends.model: every variable is validated once, before any
backend renders or starts anything, and a bad value is one line naming the
variable and the value."""

import signal

import pytest

from openrc_sv.backends.model import from_variables, resolve_command
from openrc_sv.errors import UserError

BASE = {"command": "/bin/sleep"}


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
    ("respawn_period", "0"),
    ("respawn_period", "1fortnight"),
    ("healthcheck_timer", "often"),
    ("healthcheck_timer", "0"),
    ("healthcheck_delay", "later"),
    ("healthcheck_timeout", "5 parsecs"),
    ("notify", "fd:1"),
    ("notify", "socket:maybe"),
    ("reload_signal", "SIGNOPE"),
    ("reload_signal", "999"),
    ("directory", "/srv/a\nb"),
    ("chroot", "/srv/jail\n"),
    ("pidfile", "/run/x\n.pid"),
    ("output_log", "/var/log/a\nb"),
    ("error_log", "/var/log/a\nb"),
    ("input_file", "/dev/\nnull"),
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
