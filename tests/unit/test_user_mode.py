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


def test_default_pidfile_user_mode_is_in_xdg_runtime_dir_as_openrcs(env):
    # supervise-daemon.c (0.60 to master): rc_is_user() ? XDG_RUNTIME_DIR : /var/run
    env.setattr(os, "geteuid", lambda: 0)       # root's own user services too
    env.setenv("RC_USER_SERVICES", "yes")
    env.setenv("XDG_RUNTIME_DIR", "/run/user/0")
    assert supervise_daemon.default_pidfile("svc") == "/run/user/0/supervise-svc.pid"
    env.setenv("RC_SVCDIR", "/run/user/0/elsewhere")
    assert supervise_daemon.default_pidfile("svc") == "/run/user/0/supervise-svc.pid"


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


# -- the plugin path (openrc-sv VERB --model - SVC) in user mode ------------------------

from openrc_sv import forkserver_client, trust  # noqa: E402
from openrc_sv.backends.base import Backend  # noqa: E402
from openrc_sv.cli import evaluate  # noqa: E402


def test_only_the_native_backend_runs_user_services():
    from openrc_sv.backends import get
    assert get("native").user_services is True
    assert Backend.user_services is False          # a third-party backend must say so
    for name in ("runit", "monit"):
        assert get(name).user_services is False


class _Fake(Backend):
    name = "fake"

    def __init__(self, model):
        super().__init__(model)


@pytest.mark.parametrize("name", ["runit", "monit", "fake"])
def test_a_backend_without_user_services_is_refused_in_one_line(env, name):
    env.setenv("RC_USER_SERVICES", "yes")
    env.setenv("XDG_RUNTIME_DIR", "/run/user/7")
    env.setattr(evaluate, "backend_class", lambda n: _Fake)
    with pytest.raises(UserError) as e:
        evaluate.backend_for(evaluate.bare_model("svc", {"RC_SERVICE": "/x/svc"}), name)
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith("sv_backend=%s does not run user services" % name)
    assert "RC_USER_SERVICES=yes" in msg and "use sv_backend=native" in msg


def test_outside_user_mode_every_backend_is_allowed(env):
    env.setattr(evaluate, "backend_class", lambda n: _Fake)
    b = evaluate.backend_for(evaluate.bare_model("svc", {"RC_SERVICE": "/x/svc"}), "runit")
    assert isinstance(b, _Fake) and b.model.backend == "runit"


def test_user_scripts_are_found_where_librc_finds_them_never_in_etc_init_d(env, tmp_path):
    home = tmp_path / "home"
    env.setenv("HOME", str(home))
    env.delenv("XDG_CONFIG_HOME", raising=False)
    env.delenv("XDG_CONFIG_DIRS", raising=False)
    env.setenv("RC_LIBEXECDIR", "/lib/rc")
    dirs = evaluate.user_script_dirs()
    assert dirs[0] == str(home / ".config" / "rc")
    assert dirs[1] == "/etc/xdg/rc"
    assert "/etc/user" in dirs and dirs[-1] == "/lib/rc/user"
    assert "/etc" not in dirs
    env.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    env.setenv("XDG_CONFIG_DIRS", "/a:/b")
    assert evaluate.user_script_dirs()[:3] == [str(tmp_path / "cfg" / "rc"), "/a/rc", "/b/rc"]

    env.setenv("RC_USER_SERVICES", "yes")
    env.setenv("XDG_RUNTIME_DIR", str(tmp_path / "rt"))
    env.delenv("RC_SERVICE", raising=False)
    # nothing installed: the user's own init.d is named, not /etc/init.d
    assert evaluate.script_of("sshd") == str(tmp_path / "cfg" / "rc" / "init.d" / "sshd")
    # what OpenRC marked the service started with comes first
    started = tmp_path / "rt" / "openrc" / "started"
    started.mkdir(parents=True)
    os.symlink("/somewhere/init.d/sshd", str(started / "sshd"))
    assert evaluate.script_of("sshd") == "/somewhere/init.d/sshd"


# -- trust: whose directories a user-mode caller may rely on ------------------------------

def test_root_trusts_root_a_user_trusts_themselves_and_root():
    assert trust.trusted_owners(0) == (0,)
    assert trust.trusted_owners(1000) == (0, 1000)


def test_a_users_own_service_dir_is_trusted_by_them_only(tmp_path):
    me = os.geteuid()
    d = tmp_path / "rt" / "openrc"
    d.mkdir(parents=True, mode=0o700)
    os.chmod(str(tmp_path), 0o700)
    if me != 0:
        assert trust.untrusted_part(str(d), (0, me)) is None
        assert trust.untrusted_part(str(d), (0,)) is not None     # root would not trust it
        trust.require_service_dir(str(d))
        os.chmod(str(d), 0o777)                                    # others may write: no
        assert trust.untrusted_part(str(d), (0, me)) == str(d)
        with pytest.raises(UserError) as e:
            trust.require_service_dir(str(d), "XDG_RUNTIME_DIR")
        assert str(e.value).startswith("XDG_RUNTIME_DIR: service dir %s: %s can be changed "
                                       "by someone other than you or root" % (d, d))
    else:
        os.chown(str(tmp_path / "rt"), 65534, 65534)              # a user's, as root sees it
        with pytest.raises(UserError) as e:
            trust.require_service_dir(str(d))
        assert "can be changed by someone other than root" in str(e.value)


def test_the_service_dir_is_named_by_the_variable_it_came_from():
    user = {"RC_USER_SERVICES": "yes", "XDG_RUNTIME_DIR": "/run/user/7"}
    assert trust.service_dir_variable(user) == "XDG_RUNTIME_DIR"
    assert trust.service_dir_variable(dict(user, RC_SVCDIR="/x")) == "RC_SVCDIR"
    assert trust.service_dir_variable({}) == "RC_SVCDIR"


def test_check_service_dir_checks_the_callers_service_dir(env, monkeypatch):
    seen = []
    monkeypatch.setattr(trust, "require_service_dir", lambda p: seen.append(p))
    env.setenv("RC_USER_SERVICES", "yes")
    env.setenv("XDG_RUNTIME_DIR", "/run/user/7")
    assert evaluate.check_service_dir() == "/run/user/7/openrc"
    env.setenv("RC_SVCDIR", "/x/svc")
    evaluate.check_service_dir()
    assert seen == ["/run/user/7/openrc", "/x/svc"]


def test_the_start_lock_is_not_taken_in_a_service_dir_another_user_can_change(env, tmp_path):
    """supervise-daemon --start and --stop (also run by hand, without the
    plugin) take the lock before writing anything."""
    d = tmp_path / "svc"
    d.mkdir()
    os.chmod(str(d), 0o777)
    st = rcstate.ServiceState("svc", root=str(d))
    with pytest.raises(UserError, match="service dir %s: %s can be changed" % (d, d)):
        with records.ServiceLock(st):
            pass
    assert os.listdir(str(d)) == []
    os.chmod(str(d), 0o755)
    with records.ServiceLock(st):
        assert os.path.exists(records.lock_path(st))


# -- the fork server: root's for root, a user's own for a user ----------------------------

def test_fork_server_socket_by_caller(env):
    env.delenv("OPENRC_SV_FORKSERVER", raising=False)
    env.setattr(os, "geteuid", lambda: 0)
    env.setenv("RC_USER_SERVICES", "yes")
    env.setenv("XDG_RUNTIME_DIR", "/run/user/0")
    assert forkserver_client.socket_path() == forkserver_client.DEFAULT_SOCKET
    env.setattr(os, "geteuid", lambda: 7)
    env.setenv("XDG_RUNTIME_DIR", "/run/user/7")
    assert forkserver_client.socket_path() == "/run/user/7/openrc/openrc-sv/forkserver.sock"
    env.delenv("XDG_RUNTIME_DIR")
    assert forkserver_client.socket_path() == forkserver_client.DEFAULT_SOCKET
    env.setenv("OPENRC_SV_FORKSERVER", "/elsewhere.sock")
    assert forkserver_client.socket_path() == "/elsewhere.sock"


def test_a_server_socket_that_is_not_the_callers_is_never_used(env, tmp_path):
    import socket
    path = str(tmp_path / "s.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)
    listener.setblocking(False)
    env.setenv("OPENRC_SV_FORKSERVER", path)
    try:
        real = os.geteuid()
        env.setattr(forkserver_client.os, "geteuid", lambda: real + 1)    # someone else's
        r, w = os.pipe()
        try:
            assert forkserver_client.request(["supervise-daemon", "svc"], w, [], []) is False
        finally:
            os.close(r)
            os.close(w)
        with pytest.raises(BlockingIOError):
            listener.accept()                    # never even connected
    finally:
        listener.close()
    env.setenv("OPENRC_SV_FORKSERVER", str(tmp_path / "plain"))
    (tmp_path / "plain").write_text("")          # not a socket at all
    assert forkserver_client.request(["x"], 1, [], []) is False


def test_a_user_services_state_names_the_users_script_never_etc_init_d(env, tmp_path):
    """ServiceState.init_script() (what a failed mark links to): in user
    mode the user's own directories, even when /etc/init.d has the name."""
    home = tmp_path / "home"
    (home / ".config" / "rc" / "init.d").mkdir(parents=True)
    mine = home / ".config" / "rc" / "init.d" / "cron"
    mine.write_text("#!/sbin/openrc-run\n")
    env.setenv("HOME", str(home))
    for k in ("XDG_CONFIG_HOME", "XDG_CONFIG_DIRS", "RC_SERVICE", "RC_SVCNAME"):
        env.delenv(k, raising=False)
    env.setenv("RC_USER_SERVICES", "yes")
    env.setenv("XDG_RUNTIME_DIR", str(tmp_path / "rt"))
    assert rcstate.ServiceState("cron").init_script() == str(mine)
    assert rcstate.ServiceState("nosuch").init_script() is None
    # RC_SERVICE is openrc-run's for the service it runs, not for another.
    env.setenv("RC_SVCNAME", "other")
    env.setenv("RC_SERVICE", "/home/x/.config/rc/init.d/other")
    assert rcstate.ServiceState("cron").init_script() == str(mine)
