"""The restart policy (openrc_sv.respawnpolicy): the delay sequences, the
decisions, the settings' parsing, and runit's ./finish held to the same
table of cases, so that the backends cannot drift."""

import os
import signal
import subprocess

import pytest

from openrc_sv import convert, respawnpolicy as rp, sd_args
from openrc_sv.backends.model import from_variables
from openrc_sv.backends.options import start_options
from openrc_sv.backends.runit import RunitBackend
from openrc_sv.backends.runit.render import Tools
from openrc_sv.errors import UserError


def settings(**kw):
    return rp.Settings(**kw)


def delays(s, exits, uptimes=None, restart=False):
    """The delays of `exits` successive exits (exit 1), each daemon having
    run uptimes[i] ms (default 10ms), 1ms apart unless it ran longer."""
    h, now, out = rp.History(), 1000, []
    for i in range(exits):
        up = uptimes[i] if uptimes else 10
        now += up
        d, h = rp.decide(s, h, now, exit_code=1, uptime_ms=up if i else None, restart=restart)
        out.append(d.delay_ms if d.action == rp.RESPAWN else d.action)
        now += d.delay_ms if d.action == rp.RESPAWN else 0
    return out


# -- the delay sequence ---------------------------------------------------------------

def test_before_062_the_delay_is_fixed():
    assert delays(settings(delay_ms=2000, step_ms=0, respawn_max=0), 5) == [2000] * 5


def test_062_grows_the_delay_128ms_per_respawn_in_the_window_capped_at_30s():
    s = settings(delay_ms=1000, step_ms=128, cap_ms=30000, respawn_max=0, period_ms=0)
    assert delays(s, 4) == [1128, 1256, 1384, 1512]
    assert delays(settings(delay_ms=29000, step_ms=128, respawn_max=0), 9)[-1] == 30000


def test_multiplicative_100ms_doubling_up_to_a_minute():
    s = settings(delay_ms=100, factor=2000, cap_ms=60000, respawn_max=0)
    assert delays(s, 13) == [100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 51200,
                             60000, 60000, 60000]


def test_a_fractional_factor_rounds_each_step_up_so_it_always_grows():
    s = settings(delay_ms=1, factor=1001, cap_ms=5, respawn_max=0)
    assert delays(s, 7) == [1, 2, 3, 4, 5, 5, 5]
    assert delays(settings(delay_ms=100, factor=1500, cap_ms=1000, respawn_max=0), 7) == \
        [100, 150, 225, 338, 507, 761, 1000]


def test_the_delay_starts_again_once_the_daemon_stayed_up_respawn_reset_after():
    s = settings(delay_ms=100, factor=2000, cap_ms=60000, respawn_max=0, reset_after_ms=5000)
    ups = [10, 10, 10, 10, 6000, 10, 10, 4999, 10]
    assert delays(s, 9, ups) == [100, 200, 400, 800, 100, 200, 400, 800, 1600]


def test_reset_applies_to_the_linear_step_too():
    s = settings(delay_ms=0, step_ms=1000, cap_ms=30000, respawn_max=0, reset_after_ms=2000)
    assert delays(s, 5, [10, 10, 10, 3000, 10]) == [1000, 2000, 3000, 1000, 2000]


def test_without_reset_the_growth_follows_openrcs_window():
    # OpenRC: a respawn after respawn_period starts counting afresh, at 0.
    s = settings(delay_ms=100, factor=2000, cap_ms=60000, respawn_max=0, period_ms=12000)
    assert delays(s, 5, [10, 10, 10, 13000, 10]) == [100, 200, 400, 100, 100]


# -- decisions --------------------------------------------------------------------------

def test_defaults_respawn_everything_as_openrc_does():
    s = settings()
    for status in ({"exit_code": 0}, {"exit_code": 78}, {"signum": signal.SIGKILL}):
        d, _ = rp.decide(s, rp.History(), 1000, **status)
        assert (d.action, d.reason) == (rp.RESPAWN, "")


@pytest.mark.parametrize("on, status, action, reason", [
    ("failure", {"exit_code": 0}, rp.STOP, "not respawned: exit 0 (respawn_on=failure)"),
    ("failure", {"exit_code": 1}, rp.RESPAWN, ""),
    ("failure", {"signum": 9}, rp.RESPAWN, ""),
    ("signal", {"exit_code": 0}, rp.STOP, "not respawned: exit 0 (respawn_on=signal)"),
    ("signal", {"exit_code": 3}, rp.FAIL, "not respawned: exit 3 (respawn_on=signal)"),
    ("signal", {"signum": 11}, rp.RESPAWN, ""),
])
def test_respawn_on(on, status, action, reason):
    d, h = rp.decide(settings(on=on), rp.History(), 1000, **status)
    assert (d.action, d.reason) == (action, reason)
    assert d.failed == (action == rp.FAIL)
    if d.over:
        assert h == rp.History(), "a stop is not a respawn"


def test_stop_statuses_fail_for_good_naming_the_status():
    s = settings(stop_exits={78}, stop_signals={signal.SIGABRT})
    d, _ = rp.decide(s, rp.History(), 1000, exit_code=78)
    assert (d.action, d.reason, d.failed) == (rp.FAIL, "stop status: exit 78", True)
    d, _ = rp.decide(s, rp.History(), 1000, signum=signal.SIGABRT)
    assert d.reason == "stop status: signal ABRT"
    # 6 in the list is exit 6, never signal 6
    d, _ = rp.decide(settings(stop_exits={6}), rp.History(), 1000, signum=6)
    assert d.action == rp.RESPAWN


def test_a_restart_we_asked_for_is_always_respawned_and_counted():
    s = settings(on="signal", stop_signals={signal.SIGTERM}, respawn_max=1)
    d, h = rp.decide(s, rp.History(), 1000, signum=signal.SIGTERM, restart=True)
    assert d.action == rp.RESPAWN and h.count == 1
    d, h = rp.decide(s, h, 1001, signum=signal.SIGTERM, restart=True)
    assert d.action == rp.GIVE_UP


def test_giving_up_says_how_often_within_what():
    s = settings(respawn_max=2, period_ms=60000)
    h = rp.History()
    for i in range(3):
        d, h = rp.decide(s, h, 1000 + i, exit_code=3)
    assert (d.action, d.reason) == (rp.GIVE_UP, "respawned more than 2 times within 1min "
                                                "(last: exit 3)")
    d, _ = rp.decide(settings(respawn_max=0), rp.History(10, 99, 99, 99), 20, exit_code=1)
    assert d.action == rp.RESPAWN


def test_an_unknown_status_only_counts_and_waits():
    # monit: the launcher never sees the exit
    s = settings(on="failure", respawn_max=1, delay_ms=5)
    d, h = rp.decide(s, rp.History(), 1000)
    assert (d.action, d.delay_ms) == (rp.RESPAWN, 5)
    d, h = rp.decide(s, h, 1001)
    assert d.reason == "respawned more than 1 times"


# -- settings: options and variables ----------------------------------------------------

def parse(*opts, compat="0.45"):
    return sd_args.parse(["svc", "--start", "--compat", compat] + list(opts) + ["/bin/true"],
                         {"RC_SVCNAME": "svc"})


def test_the_options_read_as_the_variables():
    o = parse("--respawn-on", "Failure", "--respawn-stop-status", "78, 64-66 SIGABRT term",
              "--respawn-delay", "100ms", "--respawn-delay-factor", "2",
              "--respawn-delay-cap", "1min", "--respawn-reset-after", "5min")
    s = rp.Settings.of(o)
    assert (s.on, s.stop_exits, s.stop_signals) == (
        "failure", {64, 65, 66, 78}, {signal.SIGABRT, signal.SIGTERM})
    assert (s.delay_ms, s.factor, s.cap_ms, s.reset_after_ms) == (100, 2000, 60000, 300000)


def test_defaults_are_openrcs_per_rule_set():
    for compat, step in (("0.45", 0), ("0.62", 128)):
        s = rp.Settings.of(parse(compat=compat))
        assert (s.on, s.stop_exits, s.factor, s.reset_after_ms, s.step_ms) == (
            "always", frozenset(), 0, 0, step)


@pytest.mark.parametrize("opts, message", [
    (["--respawn-on", "sometimes"],
     "--respawn-on: invalid value 'sometimes' (expected always, failure or signal)"),
    (["--respawn-stop-status", "78 FOO"],
     "--respawn-stop-status: invalid value '78 FOO' ('FOO' is neither an exit code (0-255, or "
     "a range such as 64-78) nor a signal name such as ABRT)"),
    (["--respawn-stop-status", "256"],
     "--respawn-stop-status: invalid value '256' ('256': exit codes go from 0 to 255, a range "
     "from low to high)"),
    (["--respawn-stop-status", "9-3"],
     "--respawn-stop-status: invalid value '9-3' ('9-3': exit codes go from 0 to 255, a range "
     "from low to high)"),
    (["--respawn-stop-status", " "],
     "--respawn-stop-status: invalid value ' ' (expected exit codes (0-255, or ranges such as "
     "64-78) and signal names such as ABRT)"),
    (["--respawn-delay-factor", "1", "--respawn-delay", "1"],
     "--respawn-delay-factor: invalid value '1' (must be above 1 and at most 100)"),
    (["--respawn-delay-factor", "1.2345", "--respawn-delay", "1"],
     "--respawn-delay-factor: invalid value '1.2345' (expected a number above 1, such as 2 "
     "or 1.5 (at most three decimals))"),
    (["--respawn-delay-factor", "2"],
     "--respawn-delay-factor: '2' needs --respawn-delay above 0: the first delay, which the "
     "factor multiplies (such as 100ms)"),
    (["--respawn-delay-factor", "2", "--respawn-delay", "1", "--respawn-delay-step", "1"],
     "--respawn-delay-factor: '2' cannot be combined with --respawn-delay-step (choose one "
     "way for the delay to grow: a factor or a step)"),
    (["--respawn-delay-factor", "2", "--respawn-delay", "1", "--respawn-delay-cap", "0"],
     "--respawn-delay-factor: '2' needs --respawn-delay-cap above 0: the longest delay "
     "(such as 1min)"),
    (["--respawn-reset-after", "soon"],
     "--respawn-reset-after: invalid value 'soon' (expected a whole number of seconds, or a "
     "number followed by ms, sec, min or hour)"),
])
def test_bad_options_are_one_line_naming_them(opts, message):
    with pytest.raises(UserError) as e:
        parse(*opts)
    assert e.value.message == message


def test_a_factor_replaces_the_062_step_instead_of_being_refused_for_it():
    s = rp.Settings.of(parse("--respawn-delay", "1", "--respawn-delay-factor", "3", compat="0.62"))
    assert rp.delay_for(s, 3) == 9000


def test_statuses_and_factors_round_trip_through_their_canonical_spelling():
    exits, sigs = convert.exit_statuses("x", "1 2 3 5 78 ABRT 7-9")
    text = convert.format_statuses(exits, sigs)
    assert text == "1-3 5 7-9 78 ABRT"
    assert convert.exit_statuses("x", text) == (exits, sigs)
    for t in ("2", "1.5", "1.25", "1.001", "100"):
        assert convert.format_factor(convert.factor("x", t)) == t


def model(variables, backend="native", functions=()):
    v = {"command": "/usr/bin/daemon", "sv_backend": backend,
         "supervise_daemon_compat": "0.45"}
    v.update(variables)
    return from_variables("svc", "/etc/init.d/svc", v, [], list(functions))


def test_the_variables_reach_supervise_daemon_as_the_same_settings():
    v = {"respawn_on": "signal", "respawn_stop_status": "78 ABRT", "respawn_delay": "100ms",
         "respawn_delay_factor": "1.5", "respawn_delay_cap": "1min",
         "respawn_reset_after": "90"}
    m = model(v)
    words = start_options(m)
    o = sd_args.parse(["svc", "--start"] + words + ["--", "/usr/bin/daemon"],
                      {"RC_SVCNAME": "svc"})
    a, b = rp.Settings.of(m), rp.Settings.of(o)
    assert {k: getattr(a, k) for k in a.__slots__} == {k: getattr(b, k) for k in b.__slots__}
    assert "--respawn-reset-after" in words and words[words.index("--respawn-reset-after") + 1] \
        == "90sec"


def test_defaults_pass_nothing_new_to_supervise_daemon():
    words = start_options(model({}))
    assert not [w for w in words if w.startswith("--respawn-") and w != "--respawn-max"]


# -- runit's ./finish against the module ------------------------------------------------

TABLE = [
    # (variables, [(how it ended, how long it ran in ms)], health restart indexes)
    ({}, [("e1", 10)] * 3, ()),
    ({"respawn_delay": "300ms"}, [("e0", 10), ("s9", 10)], ()),
    ({"respawn_delay": "1", "supervise_daemon_compat": "0.62", "respawn_max": "0"},
     [("e1", 10)] * 4, ()),
    ({"respawn_max": "2", "respawn_period": "1min"}, [("e3", 10)] * 3, ()),
    ({"respawn_max": "2", "respawn_period": "2sec", "respawn_delay": "1ms"},
     [("e3", 10), ("e3", 10), ("e3", 3000), ("e3", 10), ("e3", 10)], ()),
    ({"respawn_on": "failure"}, [("e1", 10), ("s15", 10), ("e0", 10)], ()),
    ({"respawn_on": "signal"}, [("s11", 10), ("e2", 10)], ()),
    ({"respawn_on": "signal"}, [("e0", 10)], ()),
    ({"respawn_stop_status": "78 ABRT"}, [("e77", 10), ("s6", 10)], ()),
    ({"respawn_stop_status": "64-78"}, [("e78", 10)], ()),
    ({"respawn_stop_status": "6"}, [("s6", 10), ("e6", 10)], ()),
    ({"respawn_delay": "100ms", "respawn_delay_factor": "2", "respawn_delay_cap": "1sec",
      "respawn_max": "0"}, [("e1", 10)] * 6, ()),
    ({"respawn_delay": "100ms", "respawn_delay_factor": "1.5", "respawn_delay_cap": "2sec",
      "respawn_max": "0", "respawn_reset_after": "2sec"},
     [("e1", 10), ("e1", 10), ("e1", 10), ("e1", 3000), ("e1", 10)], ()),
    ({"respawn_delay": "200ms", "respawn_delay_step": "100ms", "respawn_delay_cap": "500ms",
      "respawn_max": "0", "respawn_reset_after": "2sec"},
     [("e1", 10)] * 5 + [("e1", 2500), ("e1", 10)], ()),
    # a failed health check's restart: TERM, always respawned
    ({"respawn_on": "signal", "respawn_stop_status": "TERM", "healthcheck_timer": "5"},
     [("s15", 10), ("s15", 10)], (0,)),
]


def uptime_ms():
    with open("/proc/uptime") as f:
        return int(float(f.read().split()[0]) * 1000)


def _shift(path, fields, by):
    """Move the times in a state file `by` ms into the past (0 stays 0)."""
    if not path.exists():
        return
    words = path.read_text().split()
    for i in fields:
        if int(words[i]):
            words[i] = str(int(words[i]) - by)
    path.write_text(" ".join(words) + "\n")


def _finish_runs(tmp_path, variables, exits, restarts):
    """Each exit through the rendered ./finish: [(action, delay, reason)]."""
    functions = ["healthcheck"] if restarts else []
    m = model(dict(variables, runit_svdir_root=str(tmp_path / "root")), "runit", functions)
    rc = tmp_path / "rc"
    (rc / "options").mkdir(parents=True)
    # `env` starts giveup.py: a stub records whether it was told "failed".
    gave = tmp_path / "gave"
    envstub = tmp_path / "env-stub"
    envstub.write_text('#!/bin/sh\nfor a; do last=$a; done; echo "$last" >> %s\n' % gave)
    envstub.chmod(0o755)
    b = RunitBackend(m, environ={"RC_SVCDIR": str(rc)},
                     tools=Tools(env=str(envstub), svlogd="svlogd", python="/usr/bin/python3"))
    finish = [f for f in b.render() if f.path.endswith("/finish")][0]
    script = tmp_path / "finish"
    script.write_text(finish.content)
    d = tmp_path / "svc"
    for sub in ("supervise", "state"):
        (d / sub).mkdir(parents=True)
    (d / "supervise" / "stat").write_text("run\n")
    (d / "supervise" / "control").write_text("")
    stub = tmp_path / "stub"
    stub.mkdir()
    log = tmp_path / "slept"
    (stub / "sleep").write_text('#!/bin/sh\necho "$1" >> %s\n' % log)
    (stub / "sleep").chmod(0o755)
    env = dict(os.environ, PATH="%s:%s" % (stub, os.environ.get("PATH", "/usr/bin:/bin")))
    out = []
    for i, (how, ran) in enumerate(exits):
        # The daemon ran `ran` ms: the clock moves on that much.
        _shift(d / "state" / "respawn", [0], ran)
        _shift(d / "state" / "backoff", [1], ran)
        if i in restarts:
            (d / "state" / "health").write_text("failing %d check %d failed\n" % (i, i))
        args = ["-1", how[1:]] if how[0] == "s" else [how[1:], "0"]
        if log.exists():
            log.unlink()
        r = subprocess.run(["/bin/sh", str(script)] + args, cwd=d, env=env, timeout=60,
                           capture_output=True, text=True, stdin=subprocess.DEVNULL)
        assert r.returncode == 0, r.stderr
        slept = round(sum(float(x) for x in log.read_text().split()) * 1000) \
            if log.exists() else 0
        failed = d / "state" / "failed"
        if failed.exists():
            reason = failed.read_text().strip()
            assert (rc / "options" / "svc" / "down_reason").read_text() == reason
            out.append(({"yes\n": "failed", "no\n": "stopped"}[gave.read_text()], 0, reason))
            assert (d / "supervise" / "control").read_text() == "dx"
            break
        out.append((rp.RESPAWN, slept, ""))
    return out


def _module_runs(variables, exits, restarts):
    s = rp.Settings.of(model(variables))
    h, now, out = rp.History(), 10 ** 6, []
    for i, (how, ran) in enumerate(exits):
        now += ran
        status = {"signum": int(how[1:])} if how[0] == "s" else {"exit_code": int(how[1:])}
        d, h = rp.decide(s, h, now, uptime_ms=ran if i else None, restart=i in restarts,
                         **status)
        if d.over:
            out.append(("failed" if d.failed else "stopped", 0, d.reason))
            break
        out.append((rp.RESPAWN, d.delay_ms, ""))
        now += d.delay_ms
    return out


@pytest.mark.parametrize("case", range(len(TABLE)))
def test_runit_finish_decides_as_the_module(tmp_path, case):
    variables, exits, restarts = TABLE[case]
    expected = _module_runs(variables, exits, restarts)
    assert _finish_runs(tmp_path, variables, exits, restarts) == expected


def test_the_table_covers_every_outcome():
    seen = set()
    for variables, exits, restarts in TABLE:
        s = rp.Settings.of(model(variables))
        h, now = rp.History(), 10 ** 6
        for i, (how, ran) in enumerate(exits):
            now += ran
            status = {"signum": int(how[1:])} if how[0] == "s" else {"exit_code": int(how[1:])}
            d, h = rp.decide(s, h, now, uptime_ms=ran, restart=i in restarts, **status)
            seen.add(d.action)
    assert seen == {rp.RESPAWN, rp.STOP, rp.FAIL, rp.GIVE_UP}
