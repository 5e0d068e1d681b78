"""User services (OpenRC 0.60+, issue 9 §1) through our supervise-daemon.

Debian's OpenRC 0.45 has no user services, so these drive supervise-daemon
directly, as OpenRC 0.60-0.63's supervise-daemon.sh would in user mode:
RC_USER_SERVICES=yes (or -U), the service dir $XDG_RUNTIME_DIR/openrc, and
no --pidfile, so the default one is used.
"""

import pytest

from openrc_sv import launcher
from sandbox import wait_for

pytestmark = pytest.mark.integration

AS_NOBODY = ["setpriv", "--reuid", "nobody", "--regid", "nogroup", "--clear-groups"]
RUNTIME = "/run/user/65534"
SVCDIR = RUNTIME + "/openrc"
# A daemon that says when it gets SIGHUP (and stays up).
DAEMON = ["/bin/sh", "--", "-c",
          'trap "echo hup >> $0" HUP; while :; do sleep 0.05; done', RUNTIME + "/hups"]


def _sd(sb, *args, user=True, env=None, flags=()):
    e = {"RC_SVCNAME": "svc"}
    if user:
        e.update({"RC_USER_SERVICES": "yes", "XDG_RUNTIME_DIR": RUNTIME, "HOME": RUNTIME})
    e.update(env or {})
    cmd = (AS_NOBODY if user else []) + launcher.argv() + ["svc"] + list(flags) + list(args)
    return sb.run(*cmd, env=e)


def _user_runtime(sb):
    sb.run("mkdir -p %s && chown nobody:nogroup %s && chmod 700 %s" % (RUNTIME, RUNTIME, RUNTIME),
           check=True)


def _nobody_procs(sb):
    return [l for l in sb.run("ps", "-u", "nobody", "-o", "pid=,args=").stdout.splitlines()
            if l.strip()]


def _pid(sb, path):
    text = sb.read(path)
    return int(text) if text and text.strip().isdigit() else None


@pytest.mark.parametrize("flags, user_env", [((), {}), (("-U",), {"RC_USER_SERVICES": ""})],
                         ids=["RC_USER_SERVICES", "dash-U"])
def test_a_non_root_user_starts_signals_and_stops_a_service(sandbox, flags, user_env):
    sb = sandbox("ours")
    _user_runtime(sb)
    r = _sd(sb, "--start", *DAEMON, env=user_env, flags=flags)
    assert r.returncode == 0, r.stdout + r.stderr
    pidfile = RUNTIME + "/supervise-svc.pid"      # OpenRC's: $XDG_RUNTIME_DIR
    sup = wait_for(lambda: _pid(sb, pidfile), 10, what="the default pidfile in the user's svcdir")
    assert sb.alive(sup)
    assert sb.exists(SVCDIR + "/supervise-svc.ctl")
    assert sb.exists(SVCDIR + "/openrc-sv/services/svc")
    # Nothing of root's: /run/openrc-sv holds at most root's fork server's
    # socket (OPENRC_SV_TEST_FORKSERVER: sandbox.py).
    assert not sb.exists("/run/openrc/options/svc")
    assert sb.listdir("/run/openrc-sv") in ([], ["forkserver.sock"])
    assert not sb.exists("/run/supervise-svc.pid")
    # everything it runs is nobody's
    wait_for(lambda: len(_nobody_procs(sb)) >= 2, 10, what="supervisor and daemon as nobody")

    r = _sd(sb, "--signal", "HUP", env=user_env, flags=flags)
    assert r.returncode == 0, r.stdout + r.stderr
    wait_for(lambda: "hup" in (sb.read(RUNTIME + "/hups") or ""), 10, what="SIGHUP at the daemon")
    assert sb.alive(sup)

    r = _sd(sb, "--stop", env=user_env, flags=flags)
    assert r.returncode == 0, r.stdout + r.stderr
    wait_for(lambda: not _nobody_procs(sb), 10, what="nothing of nobody's left")
    assert not sb.exists(pidfile)
    assert not sb.exists(SVCDIR + "/supervise-svc.ctl")
    assert not sb.exists(SVCDIR + "/openrc-sv/services/svc")


def test_user_mode_without_xdg_runtime_dir_fails_in_one_line(sandbox):
    sb = sandbox("ours")
    r = _sd(sb, "--start", *DAEMON, env={"XDG_RUNTIME_DIR": ""})
    assert r.returncode == 1
    assert "XDG_RUNTIME_DIR" in r.stderr and "Traceback" not in r.stderr
    assert not _nobody_procs(sb)


def test_a_user_service_runs_beside_a_system_service_of_the_same_name(sandbox):
    sb = sandbox("ours")
    _user_runtime(sb)
    r = _sd(sb, "--start", "/bin/sleep", "1000", user=False)
    assert r.returncode == 0, r.stdout + r.stderr
    # /var/run/supervise-svc.pid, read as /run (the link is absolute: host_path cannot follow it)
    sys_sup = wait_for(lambda: _pid(sb, "/run/supervise-svc.pid"), 10, what="system pidfile")

    r = _sd(sb, "--start", *DAEMON)
    assert r.returncode == 0, r.stdout + r.stderr      # not "already running"
    user_sup = wait_for(lambda: _pid(sb, RUNTIME + "/supervise-svc.pid"), 10, what="user pidfile")
    assert user_sup != sys_sup and sb.alive(sys_sup) and sb.alive(user_sup)

    # root's own user services are apart from the system's too
    r = sb.run(*launcher.argv(), "svc", "-U", "--start", "/bin/sleep", "1001",
               env={"RC_SVCNAME": "svc", "XDG_RUNTIME_DIR": "/run/user/0"})
    assert r.returncode == 0, r.stdout + r.stderr
    root_user_sup = wait_for(lambda: _pid(sb, "/run/user/0/supervise-svc.pid"), 10,
                             what="root's user pidfile")
    assert len({sys_sup, user_sup, root_user_sup}) == 3

    # stopping the user's leaves the system's running, and the other way round
    assert _sd(sb, "--stop").returncode == 0
    wait_for(lambda: not _nobody_procs(sb), 10, what="the user's service gone")
    assert sb.alive(sys_sup) and sb.alive(root_user_sup)
    r = sb.run(*launcher.argv(), "svc", "-U", "--stop",
               env={"RC_SVCNAME": "svc", "XDG_RUNTIME_DIR": "/run/user/0"})
    assert r.returncode == 0, r.stdout + r.stderr
    wait_for(lambda: not sb.pids_of("sleep 1001"), 10, what="root's user service gone")
    assert sb.alive(sys_sup)
    assert _sd(sb, "--stop", user=False).returncode == 0
    wait_for(lambda: not sb.pids_of("sleep 1000"), 10, what="the system service gone")
    assert not sb.exists("/run/supervise-svc.pid")
