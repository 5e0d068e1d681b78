import signal

import pytest

from openrc_sv import convert
from openrc_sv.errors import UserError


@pytest.mark.parametrize("text,ms", [
    ("0", 0), ("5", 5000), ("500ms", 500), ("2sec", 2000), ("2s", 2000),
    ("3min", 180000), ("1hour", 3600000), ("1h", 3600000), ("10 seconds", 10000),
])
def test_duration_accepts_openrc_units(text, ms):
    assert convert.duration_ms("--respawn-delay", text) == ms


@pytest.mark.parametrize("text", ["", "-1", "abc", "5 parsecs", "1.5", "5sec5"])
def test_bad_duration_names_option_and_value(text):
    with pytest.raises(UserError) as e:
        convert.duration_ms("--respawn-delay", text)
    assert "--respawn-delay" in str(e.value) and repr(text)[1:-1] in str(e.value)


def test_duration_minimum_is_enforced():
    with pytest.raises(UserError, match="at least"):
        convert.duration_ms("--healthcheck-timer", "0", minimum=1)


@pytest.mark.parametrize("text,n", [("TERM", 15), ("SIGHUP", 1), ("kill", 9), ("10", 10), ("0", 0)])
def test_signal_names_and_numbers(text, n):
    assert convert.signal_number("--signal", text) == n


@pytest.mark.parametrize("text", ["FOO", "SIG_DFL", "999", "", "-1", "TERM;ls"])
def test_unknown_signal_is_an_error(text):
    with pytest.raises(UserError, match="--signal"):
        convert.signal_number("--signal", text)


def test_bare_retry_timeout_is_term_then_kill():
    assert convert.retry_schedule("--retry", "7") == [
        ("signal", 15), ("timeout", 7000), ("signal", 9), ("timeout", 7000)]


def test_bare_retry_uses_stopsig():
    steps = convert.retry_schedule("--retry", "3", stopsig=signal.SIGINT)
    assert steps[0] == ("signal", signal.SIGINT)


def test_full_retry_schedule():
    assert convert.retry_schedule("--retry", "SIGTERM/5/-KILL/2/forever") == [
        ("signal", 15), ("timeout", 5000), ("signal", 9), ("timeout", 2000), ("forever", None)]


@pytest.mark.parametrize("text", ["TERM//KILL", "TERM/x/KILL", "5/5", "forever/TERM/forever/5",
                                  "BOGUS/5"])
def test_bad_retry_schedules(text):
    with pytest.raises(UserError, match="--retry"):
        convert.retry_schedule("--retry", text)


def test_format_schedule_round_trips():
    steps = convert.retry_schedule("r", "TERM/5/KILL/500ms")
    assert convert.retry_schedule("r", convert.format_schedule(steps)) == steps


@pytest.mark.parametrize("text,mode", [("022", 0o22), ("0077", 0o77), ("7", 0o7)])
def test_umask(text, mode):
    assert convert.umask("umask", text) == mode


@pytest.mark.parametrize("text", ["8", "abc", "01777", "-1", ""])
def test_bad_umask(text):
    with pytest.raises(UserError, match="umask"):
        convert.umask("umask", text)


def test_count_rejects_negative_and_text():
    for bad in ("-1", "ten", "1.5", ""):
        with pytest.raises(UserError, match="respawn_max"):
            convert.count("respawn_max", bad)
    assert convert.count("respawn_max", "0") == 0


def test_ionice_classes():
    assert convert.ionice("--ionice", "2:4") == (2, 4)
    assert convert.ionice("--ionice", "3") == (3, 7)     # idle has no data
    assert convert.ionice("--ionice", "0:5") == (0, 0)
    with pytest.raises(UserError):
        convert.ionice("--ionice", "4:0")


def test_user_group_resolution():
    uid, gid, name, home = convert.user_group("--user", "root")
    assert (uid, gid, name) == (0, 0, "root")
    assert convert.user_group("--user", "0:0")[:2] == (0, 0)
    with pytest.raises(UserError, match="user 'no-such-user-here' not found"):
        convert.user_group("--user", "no-such-user-here")
    with pytest.raises(UserError, match="group 'no-such-group' of 'root:no-such-group' not found"):
        convert.user_group("--user", "root:no-such-group")


def test_notify_forms():
    assert convert.notify("--notify", "fd:3") == ("fd", 3)
    assert convert.notify("--notify", "socket:ready") == ("socket", None)
    for bad in ("fd:1", "fd:x", "socket", "pipe:3"):
        with pytest.raises(UserError, match="--notify"):
            convert.notify("--notify", bad)


@pytest.mark.parametrize("fn, args", [
    (convert.duration_ms, ("respawn_delay", "\u00b2")),          # superscript two
    (convert.duration_ms, ("respawn_delay", "9" * 5000)),        # past int()'s 4300 digits
    (convert.count, ("respawn_max", "9" * 5000)),
    (convert.count, ("respawn_max", "\u0663")),                  # Arabic-Indic three
    (convert.integer, ("SSD_NICELEVEL", "\u00b2", -20, 19)),
    (convert.signal_number, ("stopsig", "\u0663")),
    (convert.ionice, ("SSD_IONICELEVEL", "\u00b2:1")),
    (convert.retry_schedule, ("retry", "TERM/forever/TERM")),    # would spin for ever
    (convert.retry_schedule, ("retry", "\u00b2")),
    (convert.user_group, ("command_user", "a\0b")),
])
def test_unusual_numbers_are_one_line_naming_the_variable(fn, args):
    with pytest.raises(UserError) as e:
        fn(*args)
    msg = str(e.value)
    assert msg.startswith(args[0] + ":") and "\n" not in msg and len(msg) < 300
