"""User services (OpenRC 0.60+): where the service dir, the default
pidfile and the supervisor's record are found.  No root needed."""

import os

import pytest

from openrc_sv import rcstate, records, sd_args, supervise_daemon
from openrc_sv.errors import UserError


@pytest.fixture
def env(monkeypatch):
    for k in ("RC_SVCDIR", "RC_USER_SERVICES", "XDG_RUNTIME_DIR"):
        monkeypatch.delenv(k, raising=False)
    return monkeypatch


def test_system_default_is_run_openrc(env):
    assert rcstate.svcdir() == "/run/openrc"
    assert rcstate.svcdir({}) == "/run/openrc"


def test_rc_svcdir_comes_first_even_in_user_mode():
    e = {"RC_SVCDIR": "/x/svc", "RC_USER_SERVICES": "yes", "XDG_RUNTIME_DIR": "/run/user/7"}
    assert rcstate.svcdir(e) == "/x/svc"


@pytest.mark.parametrize("value", ["yes", "YES", "true", "1", "on"])
def test_user_mode_uses_xdg_runtime_dir(value):
    e = {"RC_USER_SERVICES": value, "XDG_RUNTIME_DIR": "/run/user/7"}
    assert rcstate.user_mode(e)
    assert rcstate.svcdir(e) == "/run/user/7/openrc"


@pytest.mark.parametrize("value", ["", "no", "NO", "0"])
def test_not_user_mode(value):
    e = {"RC_USER_SERVICES": value, "XDG_RUNTIME_DIR": "/run/user/7"}
    assert not rcstate.user_mode(e)
    assert rcstate.svcdir(e) == "/run/openrc"


def test_user_mode_without_xdg_runtime_dir_is_one_clear_error():
    with pytest.raises(UserError, match="XDG_RUNTIME_DIR"):
        rcstate.svcdir({"RC_USER_SERVICES": "yes"})


def test_service_state_follows_user_mode(env):
    env.setenv("RC_USER_SERVICES", "yes")
    env.setenv("XDG_RUNTIME_DIR", "/run/user/7")
    assert rcstate.ServiceState("svc").root == "/run/user/7/openrc"


@pytest.mark.parametrize("flag", ["-U", "--user-mode"])
def test_dash_u_selects_user_mode(flag):
    o = sd_args.parse(["svc", flag, "--stop"], {"RC_SVCNAME": "svc"})
    assert o.user_mode and o.mode == "stop"


def test_user_mode_from_environment_and_user_keeps_its_argument():
    o = sd_args.parse(["svc", "--signal", "HUP"], {"RC_SVCNAME": "svc", "RC_USER_SERVICES": "yes"})
    assert o.user_mode
    o = sd_args.parse(["svc", "--stop"], {"RC_SVCNAME": "svc"})
    assert not o.user_mode
    o = sd_args.parse(["svc", "--start", "--user", "0", "/bin/true"], {"RC_SVCNAME": "svc"})
    assert o.user[0] == 0 and not o.user_mode


def test_default_pidfile_system(env):
    env.setattr(os, "geteuid", lambda: 0)
    assert supervise_daemon.default_pidfile("svc") == "/var/run/supervise-svc.pid"


def test_default_pidfile_user_mode_is_in_the_service_dir(env):
    env.setattr(os, "geteuid", lambda: 0)       # root's own user services too
    env.setenv("RC_USER_SERVICES", "yes")
    env.setenv("XDG_RUNTIME_DIR", "/run/user/0")
    assert supervise_daemon.default_pidfile("svc") == "/run/user/0/openrc/supervise-svc.pid"


def test_default_pidfile_follows_rc_svcdir_for_a_non_root_caller(env):
    # OpenRC master: user mode is only the inherited RC_SVCDIR
    env.setattr(os, "geteuid", lambda: 1000)
    env.setenv("RC_SVCDIR", "/run/user/1000/openrc")
    assert supervise_daemon.default_pidfile("svc") == "/run/user/1000/openrc/supervise-svc.pid"


def test_records_system_and_user(env):
    env.setattr(os, "geteuid", lambda: 0)
    assert records.records_dir("/run/openrc") == "/run/openrc-sv/services"
    env.setenv("RC_USER_SERVICES", "yes")
    assert records.records_dir("/run/user/7/openrc") == "/run/user/7/openrc/openrc-sv/services"
    env.delenv("RC_USER_SERVICES")
    env.setattr(os, "geteuid", lambda: 7)
    assert records.records_dir("/run/user/7/openrc") == "/run/user/7/openrc/openrc-sv/services"


def test_lock_is_in_the_user_service_dir(env):
    env.setenv("RC_USER_SERVICES", "yes")
    env.setenv("XDG_RUNTIME_DIR", "/run/user/7")
    assert records.lock_path(rcstate.ServiceState("svc")) == "/run/user/7/openrc/supervise-svc.lock"


def test_dash_u_on_the_command_line_reaches_the_environment(env, tmp_path):
    # as librc's rc_set_user(): what the supervisor and the daemon inherit
    env.setenv("RC_SVCNAME", "svc")
    env.setenv("RC_USER_SERVICES", "no")        # recorded, so restored after
    env.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    assert supervise_daemon.main(["svc", "-U", "--signal", "HUP"]) == 1
    assert os.environ["RC_USER_SERVICES"] == "yes"
    assert rcstate.svcdir() == str(tmp_path / "openrc")
