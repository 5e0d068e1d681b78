"""The supervise-daemon command line, as /lib/rc/sh/supervise-daemon.sh builds it."""

import pytest

from openrc_sv import sd_args
from openrc_sv.errors import UsageError, UserError

ENV = {"RC_SVCNAME": "foo"}


def parse(*argv, env=ENV):
    return sd_args.parse(list(argv), env)


def test_openrc_045_start_line():
    # What supervise_start() of OpenRC 0.45 passes for a typical script.
    o = parse("foo", "--start", "--retry", "TERM/3/KILL/5", "--chdir", "/tmp",
              "--respawn-delay", "2", "--respawn-max", "4", "--respawn-period", "60",
              "--healthcheck-delay", "5", "--healthcheck-timer", "10", "--no_new_privs",
              "--user", "root", "--umask", "027", "/bin/sleep", "--", "100", "-x")
    assert o.mode == "start"
    assert o.argv == ["/bin/sleep", "100", "-x"]
    assert o.respawn_delay_ms == 2000 and o.respawn_max == 4 and o.respawn_period_ms == 60000
    assert o.healthcheck_delay_ms == 5000 and o.healthcheck_timer_ms == 10000
    assert o.healthcheck_timeout_ms == 10000      # defaults to the timer
    assert o.no_new_privs and o.umask == 0o27 and o.user[0] == 0 and o.chdir == "/tmp"
    assert o.retry == [("signal", 15), ("timeout", 3000), ("signal", 9), ("timeout", 5000)]


def test_upstream_start_line_with_new_options():
    o = parse("foo", "--start", "--stdout-logger", "logger -t foo", "--notify", "fd:3",
              "--stop-group", "--respawn-delay-step", "1sec", "--respawn-delay-cap", "10sec",
              "--capabilities", "^cap_net_bind_service", "--secbits", "0x2f", "--no-new-privs",
              "--oom-score-adj", "-500", "--nicelevel", "5", "--ionice", "2:3",
              "/bin/true", "--")
    assert o.stdout_logger == "logger -t foo" and o.notify == ("fd", 3) and o.stop_group
    assert o.respawn_delay_step_ms == 1000 and o.respawn_delay_cap_ms == 10000
    assert o.capabilities[1] == {10} and o.secbits == 0x2f
    assert (o.oom_score_adj, o.nicelevel, o.ionice) == (-500, 5, (2, 3))


def test_short_options_and_args_after_command():
    # GNU getopt, as OpenRC: options may follow the command; after `--`
    # everything is the daemon's, even words that look like options.
    o = parse("foo", "-S", "/bin/echo", "-D", "500ms", "-m", "0", "--", "-n", "a b", "c")
    assert o.argv == ["/bin/echo", "-n", "a b", "c"]
    assert o.respawn_delay_ms == 500 and o.respawn_max == 0


def test_stop_and_signal_modes():
    assert parse("foo", "--stop").mode == "stop"
    o = parse("foo", "--signal", "HUP")
    assert (o.mode, o.signal) == ("signal", 1)


def test_rc_svcname_must_be_set_and_match():
    with pytest.raises(UserError, match="RC_SVCNAME is not set"):
        parse("foo", "--stop", env={})
    with pytest.raises(UserError, match="must be the service name 'foo'"):
        parse("bar", "--stop")


def test_ssd_variables_and_command_line_precedence():
    env = dict(ENV, SSD_NICELEVEL="3", SSD_IONICELEVEL="2:1", SSD_OOM_SCORE_ADJ="100")
    o = parse("foo", "--start", "-N", "7", "/bin/true", env=env)
    assert (o.nicelevel, o.ionice, o.oom_score_adj) == (7, (2, 1), 100)
    with pytest.raises(UserError, match="SSD_NICELEVEL"):
        parse("foo", "--start", "/bin/true", env=dict(ENV, SSD_NICELEVEL="loud"))


@pytest.mark.parametrize("argv,needle", [
    (["--respawn-delay", "soon"], "--respawn-delay"),
    (["--respawn-max", "-1"], "--respawn-max"),
    (["--respawn-max", "ten"], "--respawn-max"),
    (["--respawn-period", "soon"], "--respawn-period"),
    (["--healthcheck-timer", "0"], "--healthcheck-timer"),
    (["--retry", "TERM/soon"], "--retry"),
    (["--umask", "999"], "--umask"),
    (["--user", "nosuchuser"], "user 'nosuchuser' not found"),
    (["--group", "nosuchgroup"], "group 'nosuchgroup' not found"),
    (["--ionice", "9"], "--ionice"),
    (["--notify", "fd:x"], "--notify"),
    (["--capabilities", "cap_fly"], "unknown capability"),
    (["--env", "NOEQUALS"], "--env"),
])
def test_bad_values_name_the_option(argv, needle):
    with pytest.raises(UserError) as e:
        parse("foo", "--start", *argv, "/bin/true")
    assert needle in str(e.value)
    assert "\n" not in str(e.value)


def test_unknown_option_is_a_usage_error():
    with pytest.raises(UsageError):
        parse("foo", "--start", "--frobnicate", "/bin/true")


def test_conflicting_modes():
    with pytest.raises(UsageError, match="cannot be combined"):
        parse("foo", "--start", "--stop", "/bin/true")


def test_start_needs_a_command():
    with pytest.raises(UserError, match="nothing to start"):
        parse("foo", "--start")


def test_default_stop_schedule_is_term_5_then_kill():
    o = parse("foo", "--stop")
    assert o.stop_schedule() == [("signal", 15), ("timeout", 5000), ("signal", 9), ("timeout", 5000)]


def test_long_options_may_be_abbreviated_and_take_equals():
    o = parse("foo", "--start", "--respawn-m=4", "--healthcheck-d", "3", "/bin/true")
    assert o.respawn_max == 4 and o.healthcheck_delay_ms == 3000


def test_ambiguous_abbreviation_is_refused():
    with pytest.raises(UsageError, match="ambiguous"):
        parse("foo", "--start", "--respawn-d", "1", "/bin/true")


def test_short_options_cluster_and_attach_values():
    o = parse("foo", "-SGvD3", "/bin/true")
    assert o.mode == "start" and o.stop_group and o.verbose and o.respawn_delay_ms == 3000


def test_missing_option_argument():
    with pytest.raises(UsageError, match="requires an argument"):
        parse("foo", "--start", "/bin/true", "--retry")


# -- `forever` in a stop schedule: one meaning everywhere --------------------
# The steps after `forever` repeat until the process is gone; a trailing
# `forever` waits however long it takes (no KILL).  A repeating part with
# no timeout would spin, so it is refused.

def _drive(text, advances):
    from openrc_sv import convert
    from openrc_sv.stopper import StopSchedule
    sent = []
    sched = StopSchedule(convert.retry_schedule("--retry", text), 4242,
                         send=lambda sig: sent.append(sig))
    log = lambda *a: None  # noqa: E731
    now = 0.0
    sched.begin(now, log)
    deadlines = [sched.deadline]
    for _ in range(advances):
        if sched.deadline is None:
            break
        now = sched.deadline
        sched.advance(now, log)
        deadlines.append(sched.deadline)
    return sent, deadlines


def test_forever_repeats_the_steps_after_it_until_the_process_is_gone():
    sent, deadlines = _drive("TERM/forever/HUP/2", 50)
    assert sent == [15] + [1] * 51
    assert all(d is not None for d in deadlines)
    assert [b - a for a, b in zip(deadlines, deadlines[1:])] == [2.0] * 50


def test_a_trailing_forever_waits_and_never_kills():
    sent, deadlines = _drive("TERM/5/forever", 10)
    assert sent == [15]
    assert deadlines == [5.0, None]


def test_without_forever_the_schedule_ends_with_kill():
    sent, deadlines = _drive("TERM/5", 10)
    assert sent == [15, 9] and deadlines == [5.0, None]


@pytest.mark.parametrize("text", ["TERM/forever/TERM", "TERM/5/forever/KILL", "forever/TERM/5",
                                  "TERM/forever/5/forever/5"])
def test_a_schedule_that_would_spin_or_is_ambiguous_is_refused(text):
    from openrc_sv import convert
    with pytest.raises(UserError) as e:
        convert.retry_schedule("--retry", text)
    assert "--retry" in e.value.message and text in e.value.message
    assert "\n" not in e.value.message


def test_retry_forever_on_the_command_line_is_refused_in_one_line(capsys, monkeypatch):
    from openrc_sv import supervise_daemon
    monkeypatch.setenv("RC_SVCNAME", "svc")
    rc = supervise_daemon.main(["svc", "--start", "--retry", "TERM/forever/TERM", "/bin/true"])
    err = capsys.readouterr().err
    assert rc != 0 and err.count("\n") == 1 and "TERM/forever/TERM" in err


# -- differential: our gnu_getopt against Python's getopt.gnu_getopt -------------

def _random_argv(r):
    longs = [l.rstrip("=") for l in sd_args.LONG]
    shorts = [c for c in sd_args.SHORT if c != ":"]
    words = ["x", "5", "a b", "", "-", "--", "=", "-=", "TERM/5", "/bin/true", "é", "-z", "--zzz",
             "---x", "--=x"]
    out = []
    for _ in range(r.randint(0, 8)):
        k = r.random()
        if k < 0.3:
            name = r.choice(longs)
            if r.random() < 0.3:
                name = name[:r.randint(1, len(name))]       # a prefix, maybe ambiguous
            tok = "--" + name
            if r.random() < 0.3:
                tok += "=" + r.choice(words)
            out.append(tok)
        elif k < 0.6:
            cluster = "".join(r.choice(shorts + ["x", ":"]) for _ in range(r.randint(1, 3)))
            out.append("-" + cluster)
        else:
            out.append(r.choice(words))
    return out


def _python_getopt(argv):
    import getopt
    try:
        return getopt.gnu_getopt(argv, sd_args.SHORT, sd_args.LONG)
    except getopt.GetoptError:
        return "error"


def _ours(argv):
    try:
        return sd_args.gnu_getopt(argv, sd_args.SHORT, sd_args.LONG)
    except UsageError:
        return "error"


def test_gnu_getopt_agrees_with_pythons_on_random_argv(monkeypatch):
    monkeypatch.delenv("POSIXLY_CORRECT", raising=False)
    import random
    r = random.Random(8)
    errors = 0
    for n in range(5000):
        argv = _random_argv(r)
        ours, theirs = _ours(argv), _python_getopt(argv)
        assert ours == theirs, (n, argv)
        errors += ours == "error"
    # Both outcomes were exercised, many times.
    assert 500 < errors < 4500, errors



def test_the_restart_policy_options_are_ours_and_default_to_openrcs_behaviour():
    from openrc_sv import respawnpolicy
    o = sd_args.parse(["svc", "--start", "--compat", "0.45", "/bin/true"], {"RC_SVCNAME": "svc"})
    s = respawnpolicy.Settings.of(o)
    assert (s.on, s.stop_exits, s.stop_signals, s.factor, s.reset_after_ms) == (
        "always", frozenset(), frozenset(), 0, 0)
    o = sd_args.parse(["svc", "--start", "--compat", "0.45", "--respawn-on=signal",
                       "--respawn-stop-status=78", "--respawn-delay=1",
                       "--respawn-delay-factor=1.5", "--respawn-reset-after=2min",
                       "/bin/true"], {"RC_SVCNAME": "svc"})
    assert (o.respawn_on, o.respawn_stop_exits, o.respawn_delay_factor,
            o.respawn_reset_after_ms) == ("signal", {78}, 1500, 120000)


def test_start_warns_as_openrc_does_about_respawn_settings():
    """OpenRC's binary's two warnings at --start, in its words, per the
    rule set of the OpenRC in use (its supervise-daemon.c at 0.45 and 0.63)."""
    from openrc_sv.supervise_daemon import respawn_warnings

    def warn(compat, *args):
        return respawn_warnings(sd_args.parse(["svc", "--start", "--compat", compat] + list(args)
                                              + ["/bin/true"], {"RC_SVCNAME": "svc"}))
    assert warn("0.62") == []
    assert warn("0.62", "--respawn-delay", "5", "--respawn-max", "10", "--respawn-period", "12") == [
        "Please increase the value of --respawn-period to more than 50 to avoid infinite respawning"]
    assert warn("0.62", "--respawn-delay", "40", "--respawn-period", "0") == [
        "Please increase the value of --respawn-delay (40000ms) to more than "
        "--respawn-delay-cap (30000ms)"]
    # 0.45: the lifetime (period 0) warns as soon as there is a delay.
    assert warn("0.45", "--respawn-delay", "2", "--respawn-max", "3") == [
        "Please increase the value of --respawn-period to more than 6 to avoid infinite respawning"]
    assert warn("0.45") == []


def test_the_watchdog_timer_is_ours_and_needs_the_notify_socket():
    o = parse("foo", "--start", "--notify", "socket:ready", "--watchdog-timer", "30s",
              "/bin/true")
    assert o.watchdog_timer_ms == 30000
    assert parse("foo", "--start", "/bin/true").watchdog_timer_ms == 0
    assert parse("foo", "--start", "--notify=socket:ready", "--watchdog-timer=500ms",
                 "/bin/true").watchdog_timer_ms == 500
    # Without the socket nothing could feed it: one line naming both.
    for extra in ([], ["--notify", "fd:4"]):
        with pytest.raises(UserError) as e:
            parse("foo", "--start", *extra, "--watchdog-timer", "30s", "/bin/true")
        assert str(e.value) == ("--watchdog-timer: '30s' needs --notify socket:ready "
                                "(the daemon sends WATCHDOG=1 to $NOTIFY_SOCKET)")
    for bad in ("0", "soon", "1.5"):
        with pytest.raises(UserError) as e:
            parse("foo", "--start", "--notify", "socket:ready", "--watchdog-timer", bad,
                  "/bin/true")
        assert "--watchdog-timer" in str(e.value) and bad in str(e.value)
        assert "\n" not in str(e.value)
    # --stop and --signal never look at it.
    assert parse("foo", "--stop", "--watchdog-timer", "5").mode == "stop"
