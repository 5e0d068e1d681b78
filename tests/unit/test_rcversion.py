"""openrc_sv.rcversion: which OpenRC called us, and the rule set that follows
(issue 9 section 2).  No test here depends on the OpenRC of this machine:
each points RC_LIBEXECDIR and /etc at a temporary directory."""

import os
import stat

import pytest

from openrc_sv import rcversion, sd_args
from openrc_sv.errors import UserError


@pytest.mark.parametrize("text,version", [
    ("0.45.2\n", (0, 45, 2)),
    ("0.62", (0, 62, 0)),
    ("openrc (OpenRC) 0.63.3\n", (0, 63, 3)),
    ("openrc (OpenRC [DOCKER]) 0.45.2", (0, 45, 2)),
    ("openrc (OpenRC) 0.56-r1 (Gentoo Linux)", (0, 56, 0)),
    ("openrc (OpenRC) v0.60.1_p2", (0, 60, 1)),
    ("", None),
    ("openrc (OpenRC) unknown", None),
])
def test_parse_reads_every_form_openrc_writes(text, version):
    assert rcversion.parse(text) == version


def _world(tmp_path, version=None, rc_conf=None, rc_conf_d=None, confd=None):
    libexec = tmp_path / "libexec"
    libexec.mkdir(parents=True)
    if version is not None:
        (libexec / "version").write_text(version + "\n")
    etc = tmp_path / "etc"
    (etc / "conf.d").mkdir(parents=True)
    (etc / "init.d").mkdir()
    if rc_conf is not None:
        (etc / "rc.conf").write_text(rc_conf)
    for name, text in (rc_conf_d or {}).items():
        (etc / "rc.conf.d").mkdir(exist_ok=True)
        (etc / "rc.conf.d" / name).write_text(text)
    for name, text in (confd or {}).items():
        (etc / "conf.d" / name).write_text(text)
    env = {"RC_LIBEXECDIR": str(libexec), "RC_SERVICE": str(etc / "init.d" / "svc"),
           "PATH": str(tmp_path / "nobin")}     # no `openrc` to ask
    return env, str(etc)


def _choose(tmp_path, svc="svc", argv=None, **kw):
    env, etc = _world(tmp_path, **kw)
    return rcversion.choose(svc, env, argv=argv, etc=etc)


@pytest.mark.parametrize("version,name", [
    ("0.45.2", "0.45"), ("0.52", "0.45"), ("0.56", "0.45"), ("0.60.1", "0.45"),
    ("0.61", "0.45"), ("0.62", "0.62"), ("0.62.10", "0.62"), ("0.63.3", "0.62"),
    ("1.0", "0.62"),
])
def test_the_version_file_chooses_the_rule_set(tmp_path, version, name):
    r = _choose(tmp_path, version=version)
    assert r.name == name
    assert r.why.startswith("OpenRC %s" % rcversion.text(rcversion.parse(version)))


def test_the_two_rule_sets(tmp_path):
    old, new = rcversion.rules("0.45"), rcversion.rules("0.62")
    assert (old.respawn_period_ms, old.respawn_delay_step_ms, old.raw_strings,
            old.sscanf_respawn) == (0, 0, False, True)
    assert (new.respawn_period_ms, new.respawn_delay_step_ms, new.respawn_delay_cap_ms,
            new.respawn_period_text, new.raw_strings, new.sscanf_respawn) == (
            12000, 128, 30000, "12sec", True, False)


def test_openrc_version_is_asked_only_without_the_file(tmp_path):
    env, etc = _world(tmp_path)
    bindir = tmp_path / "nobin"
    bindir.mkdir()
    fake = bindir / "openrc"
    fake.write_text("#!/bin/sh\necho 'openrc (OpenRC) 0.63.3'\n")
    fake.chmod(0o755)
    r = rcversion.choose("svc", env, etc=etc)
    assert (r.name, r.why) == ("0.62", "OpenRC 0.63.3 (openrc --version)")
    (tmp_path / "libexec" / "version").write_text("0.45.2\n")
    assert rcversion.choose("svc", env, etc=etc).name == "0.45"


def test_unknown_version_means_the_rules_before_062(tmp_path):
    r = _choose(tmp_path)
    assert (r.name, r.why) == ("0.45", "OpenRC's version unknown")


@pytest.mark.parametrize("argv,name", [
    (["svc", "--start", "--no_new_privs", "/bin/x"], "0.45"),     # 0.45-0.51's script
    (["svc", "--start", "--ready", "fd:3", "/bin/x"], "0.45"),    # 0.60-0.61's
    (["svc", "--start", "/bin/x", "--", "--no_new_privs"], "0.45"),  # the daemon's: no hint
])
def test_what_supervise_daemon_sh_passed_is_a_hint_when_nothing_else_says(tmp_path, argv, name):
    r = _choose(tmp_path, argv=argv)
    assert r.name == name
    assert ("on its command line" in r.why) == ("--" not in argv)


def test_a_hint_never_overrides_the_version_file(tmp_path):
    r = _choose(tmp_path, version="0.63.3", argv=["svc", "--start", "--no_new_privs", "/x"])
    assert r.name == "0.62"


# -- the pin ---------------------------------------------------------------------

def test_rc_conf_pins_over_the_version(tmp_path):
    r = _choose(tmp_path, version="0.45.2", rc_conf='# comment\nsupervise_daemon_compat="0.62"\n')
    assert r.name == "0.62"
    assert r.why.startswith("supervise_daemon_compat=0.62 in ") and r.why.endswith("rc.conf")


def test_rc_conf_d_overrides_rc_conf_and_conf_d_overrides_both(tmp_path):
    kw = dict(version="0.63.3", rc_conf="supervise_daemon_compat=0.62\n",
              rc_conf_d={"10-a.conf": "export supervise_daemon_compat='0.45'\n",
                         "ignored.txt": "supervise_daemon_compat=0.62\n"})
    assert _choose(tmp_path / "a", **kw).name == "0.45"
    kw["confd"] = {"svc": "  supervise_daemon_compat=0.63.3 # Gentoo's\n"}
    assert _choose(tmp_path / "b", **kw).name == "0.62"
    kw["confd"] = {"svc": "supervise_daemon_compat=auto\n"}
    assert _choose(tmp_path / "c", **kw).name == "0.62"      # detected: 0.63.3


def test_conf_d_of_a_multiplexed_service_and_its_runlevel_variant(tmp_path):
    env, etc = _world(tmp_path, version="0.45.2",
                      confd={"net": "supervise_daemon_compat=0.62\n",
                             "net.eth0.default": "supervise_daemon_compat=0.45\n"})
    assert rcversion.choose("net.eth0", env, etc=etc).name == "0.62"
    env["RC_RUNLEVEL"] = "default"
    assert rcversion.choose("net.eth0", env, etc=etc).name == "0.45"


def test_an_exported_pin_in_the_environment_wins(tmp_path):
    env, etc = _world(tmp_path, version="0.45.2", confd={"svc": "supervise_daemon_compat=0.45\n"})
    env["supervise_daemon_compat"] = "0.62"
    assert rcversion.choose("svc", env, etc=etc).name == "0.62"


def test_compat_option_wins_over_everything(tmp_path):
    env, etc = _world(tmp_path, version="0.63.3", confd={"svc": "supervise_daemon_compat=0.62\n"})
    r = rcversion.choose("svc", env, pin="0.45", etc=etc)
    assert (r.name, r.why) == ("0.45", "--compat 0.45")


@pytest.mark.parametrize("line", ["supervise_daemon_compat=new", "supervise_daemon_compat=0.62x",
                                  "supervise_daemon_compat=$OTHER",
                                  "supervise_daemon_compat='0..62'"])
def test_a_bad_pin_is_one_line_naming_the_variable_and_value(tmp_path, line):
    with pytest.raises(UserError) as e:
        _choose(tmp_path, version="0.45.2", confd={"svc": line + "\n"})
    msg = str(e.value)
    value = line.split("=", 1)[1].strip("'")
    assert msg.startswith("supervise_daemon_compat: invalid value '%s'" % value)
    assert "\n" not in msg


def test_conf_value_reads_like_librc(tmp_path):
    f = tmp_path / "rc.conf"
    f.write_text('a=1\n\t a="two words" # c\nexport b=\'x\'\nab=no\n#a=3\nc=$HOME/x\n')
    assert rcversion.conf_value(str(f), "a") == "two words"
    assert rcversion.conf_value(str(f), "b") == "x"
    assert rcversion.conf_value(str(f), "c") == "$HOME/x"
    assert rcversion.conf_value(str(f), "missing") is None
    assert rcversion.conf_value(str(tmp_path / "none"), "a") is None


# -- the supervisor's command line under each rule set ------------------------------

def _parse(tmp_path, *opts, **kw):
    env, etc = _world(tmp_path, **kw)
    env["RC_SVCNAME"] = "svc"
    env["supervise_daemon_compat"] = "auto"     # this machine's /etc/rc.conf says nothing
    return sd_args.parse(["svc", "--start"] + list(opts) + ["/bin/sleep", "--", "9"], env)


def test_sd_args_defaults_follow_the_version(tmp_path):
    new = _parse(tmp_path / "a", version="0.62")
    assert (new.respawn_period_ms, new.respawn_delay_step_ms, new.respawn_delay_cap_ms) == (
        12000, 128, 30000)
    old = _parse(tmp_path / "b", version="0.45.2")
    assert (old.respawn_period_ms, old.respawn_delay_step_ms) == (0, 0)


def test_compat_option_pins_and_a_bad_one_is_refused(tmp_path):
    o = _parse(tmp_path / "a", "--compat", "0.62", version="0.45.2")
    assert o.rules.name == "0.62" and o.respawn_period_ms == 12000
    with pytest.raises(UserError, match=r"^--compat: invalid value 'soon'"):
        _parse(tmp_path / "b", "--compat", "soon", version="0.45.2")


def test_respawn_values_before_062_are_read_as_c_reads_them(tmp_path, capsys):
    o = _parse(tmp_path / "a", "--respawn-delay", "1.5", "--respawn-period", "10x",
               version="0.45.2")
    assert (o.respawn_delay_ms, o.respawn_period_ms) == (1500, 10000)
    assert "--respawn-period: '10x' is read as 10sec" in capsys.readouterr().err
    with pytest.raises(UserError, match=r"^--respawn-delay: invalid value '1.5'"):
        _parse(tmp_path / "b", "--respawn-delay", "1.5", version="0.63.3")   # as C 0.62+


def test_stop_and_signal_never_look_for_the_version(tmp_path):
    env, etc = _world(tmp_path, confd={"svc": "supervise_daemon_compat=bogus\n"})
    env["RC_SVCNAME"] = "svc"
    env["supervise_daemon_compat"] = "bogus"
    assert sd_args.parse(["svc", "--stop"], env).rules is None
    assert sd_args.parse(["svc", "--signal", "HUP"], env).rules is None


# -- what --start writes to options/SVC ----------------------------------------------

def _values(o):
    from openrc_sv import statekeys
    v = statekeys.start_values(o, "/run/x.pid")
    return {k: v.get(k) for k in ("respawn_delay", "respawn_period", "respawn_delay_step",
                                  "respawn_delay_cap", "respawn_max")}


def test_options_written_as_062_writes_them(tmp_path):
    assert _values(_parse(tmp_path / "a", version="0.63.3")) == {
        "respawn_delay": "0", "respawn_period": "12sec", "respawn_delay_step": "128",
        "respawn_delay_cap": "30000", "respawn_max": "10"}
    assert _values(_parse(tmp_path / "b", "--respawn-delay", "2", "--respawn-period", "1min",
                          version="0.63.3")) == {
        "respawn_delay": "2", "respawn_period": "1min", "respawn_delay_step": "128",
        "respawn_delay_cap": "30000", "respawn_max": "10"}


def test_options_written_as_045_writes_them(tmp_path):
    assert _values(_parse(tmp_path / "a", version="0.45.2")) == {
        "respawn_delay": "0", "respawn_period": "0", "respawn_delay_step": None,
        "respawn_delay_cap": None, "respawn_max": "10"}
    assert _values(_parse(tmp_path / "b", "--respawn-delay", "2", "--respawn-period", "1min",
                          version="0.45.2"))["respawn_period"] == "60"
