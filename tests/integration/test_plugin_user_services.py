"""User services (OpenRC 0.60+, issue 9 §1) through the runscript plugin.

Debian's OpenRC 0.45 has no user services, so each test does what 0.60+'s
openrc-run does for `rc-service --user SVC VERB`, as far as the plugin can
see it: it runs as the user (setpriv) with RC_USER_SERVICES=yes,
XDG_RUNTIME_DIR, RC_SVCDIR=$XDG_RUNTIME_DIR/openrc, RC_SVCNAME and
RC_SERVICE (the script in ~/.config/rc/init.d) exported, sources the
installed plugin, the user's conf.d and the script, and calls the plugin's
function for the verb (`status` is what _openrc_sv_status asks once OpenRC
calls the service started).
"""

import pytest

import initscripts as I
from sandbox import wait_for

pytestmark = pytest.mark.integration

USERS = {"nobody": (65534, "nogroup"), "daemon": (1, "daemon")}

# The part of openrc-run (0.60+, user mode) the plugin relies on.
DRIVER = r'''#!/bin/sh
ebegin() { :; }
eend() { _rc=${1:-0}; shift; [ "$_rc" = 0 ] || echo " * $*" >&2; return "$_rc"; }
einfo() { echo " * $*"; }
ewarn() { echo " * $*" >&2; }
eerror() { echo " * $*" >&2; }
verb=$1
. /etc/rc.conf.d/openrc-sv.conf
if [ -e "$HOME/.config/rc/conf.d/$RC_SVCNAME" ]; then
	. "$HOME/.config/rc/conf.d/$RC_SVCNAME"
fi
sourcex "$RC_SERVICE"
case $verb in
	start|stop|reload) _openrc_sv_run "$verb" ;;
	status) _openrc_sv_dump | "$_openrc_sv_bin" status --quiet --model - "$RC_SVCNAME" ;;
	*) exit 2 ;;
esac
'''
DRIVER_PATH = I.BIN + "/user-openrc-run"

# Says when it gets SIGHUP, and stays up.
HUPDAEMON = r'''#!/bin/sh
trap 'echo hup >> "$1"' HUP
while :; do sleep 1 & wait $!; done
'''
HUPDAEMON_PATH = I.BIN + "/hupdaemon"


def runtime(user):
    return "/run/user/%d" % USERS[user][0]


def home(user):
    return "/run/home/" + user


def svcdir(user):
    return runtime(user) + "/openrc"


def setup_plugin(sb):
    r = sb.run("openrc-sv", "setup", "--plugin")
    assert r.returncode == 0, r.stdout + r.stderr
    sb.write(DRIVER_PATH, DRIVER, 0o755)
    sb.write(HUPDAEMON_PATH, HUPDAEMON, 0o755)


def user_service(sb, user, svc="svc", conf="", **variables):
    """The user's runtime dir, home and ~/.config/rc/init.d/SVC, all theirs."""
    uid, group = USERS[user]
    script = ["#!/sbin/openrc-run", "supervisor=openrc-sv",
              "command=" + HUPDAEMON_PATH, 'command_args="$XDG_RUNTIME_DIR/hups"',
              "extra_started_commands=reload"]
    script += ["%s=%s" % (k, v) for k, v in variables.items()]
    sb.run("mkdir -p -m 0700 %s %s/.config/rc/init.d %s/.config/rc/conf.d"
           % (runtime(user), home(user), home(user)), check=True)
    sb.write(home(user) + "/.config/rc/init.d/" + svc, "\n".join(script) + "\n", 0o755)
    sb.write(home(user) + "/.config/rc/conf.d/" + svc, conf)
    sb.run("chown -R %s:%s %s %s" % (user, group, runtime(user), home(user)), check=True)


def user_env(user, svc="svc", **extra):
    env = {"RC_USER_SERVICES": "yes", "XDG_RUNTIME_DIR": runtime(user),
           "RC_SVCDIR": svcdir(user), "RC_SVCNAME": svc, "SVCNAME": svc,
           "RC_SERVICE": home(user) + "/.config/rc/init.d/" + svc, "HOME": home(user)}
    env.update(extra)
    return env


def as_user(sb, user, verb, svc="svc", env=None):
    _, group = USERS[user]
    return sb.run("setpriv", "--reuid", user, "--regid", group, "--clear-groups",
                  DRIVER_PATH, verb, env=user_env(user, svc, **(env or {})))


def procs_of(sb, user):
    return [l.strip() for l in sb.run("ps", "-u", user, "-o", "pid=,args=").stdout.splitlines()
            if l.strip()]


def pid_in(sb, path):
    text = sb.read(path)
    return int(text) if text and text.strip().isdigit() else None


def owners_under(sb, path):
    """{uid} of everything under path (as the host sees the sandbox)."""
    import os
    found = set()
    top = sb.host_path(path)
    for d, dirs, files in os.walk(top):
        for n in dirs + files + ["."]:
            found.add(os.lstat(os.path.join(d, n)).st_uid)
    return found


def child_of(sb, user):
    """The daemon's pid, as the user's supervisor recorded it."""
    return pid_in(sb, svcdir(user) + "/options/svc/child_pid")


def test_a_user_service_starts_reloads_reports_and_stops_as_its_user(sandbox):
    sb = sandbox("ours")
    setup_plugin(sb)
    user_service(sb, "nobody")
    r = as_user(sb, "nobody", "start")
    assert r.returncode == 0, r.stdout + r.stderr
    daemon = wait_for(lambda: child_of(sb, "nobody"), 10, what="the daemon's pid")
    assert sb.run("ps", "-o", "user=", "-p", str(daemon)).stdout.strip() == "nobody"
    # supervisor and daemon are nobody's; the state is in nobody's service dir
    wait_for(lambda: len(procs_of(sb, "nobody")) >= 2, 10, what="supervisor and daemon")
    assert sb.read(svcdir("nobody") + "/options/svc/sv_backend").strip() == "native"
    assert sb.exists(runtime("nobody") + "/supervise-svc.pid")     # OpenRC's default
    assert owners_under(sb, runtime("nobody")) == {65534}
    assert not sb.exists("/run/openrc/options/svc") and not sb.exists("/run/supervise-svc.pid")
    assert not sb.exists("/run/openrc-sv")

    r = as_user(sb, "nobody", "status")
    assert r.returncode == 0, r.stdout + r.stderr
    r = as_user(sb, "nobody", "reload")
    assert r.returncode == 0, r.stdout + r.stderr
    wait_for(lambda: "hup" in (sb.read(runtime("nobody") + "/hups") or ""), 10,
             what="SIGHUP at the daemon")

    r = as_user(sb, "nobody", "stop")
    assert r.returncode == 0, r.stdout + r.stderr
    wait_for(lambda: not procs_of(sb, "nobody"), 10, what="nothing of nobody's left")
    assert not sb.exists(runtime("nobody") + "/supervise-svc.pid")
    assert not sb.exists(svcdir("nobody") + "/options/svc")
    r = as_user(sb, "nobody", "status")
    assert r.returncode == 3, r.stdout + r.stderr
    assert owners_under(sb, runtime("nobody")) == {65534}


def test_system_service_and_two_users_services_of_one_name_are_apart(sandbox):
    sb = sandbox("ours")
    setup_plugin(sb)
    I.install_programs(sb)
    sb.install_script("svc", "#!/sbin/openrc-run\nsupervisor=openrc-sv\n"
                             "command=/bin/sleep\ncommand_args=1000\n")
    r = sb.rc("svc", "start")
    assert r.returncode == 0, r.stdout + r.stderr
    system = wait_for(lambda: pid_in(sb, "/run/openrc/options/svc/child_pid"), 10,
                      what="the system service's daemon")

    users = {}
    for user in ("nobody", "daemon"):
        user_service(sb, user)
        r = as_user(sb, user, "start")
        assert r.returncode == 0, user + ": " + r.stdout + r.stderr   # not "already running"
        users[user] = wait_for(lambda: child_of(sb, user), 10, what=user + "'s daemon")
    assert len({system, users["nobody"], users["daemon"]}) == 3
    for user in users:
        assert as_user(sb, user, "status").returncode == 0

    # each stop takes down its own service only
    r = as_user(sb, "nobody", "stop")
    assert r.returncode == 0, r.stdout + r.stderr
    wait_for(lambda: not procs_of(sb, "nobody"), 10, what="nobody's service gone")
    assert sb.alive(system) and sb.alive(users["daemon"])
    assert as_user(sb, "daemon", "status").returncode == 0
    assert sb.status("svc") == 0
    r = as_user(sb, "daemon", "stop")
    assert r.returncode == 0, r.stdout + r.stderr
    wait_for(lambda: not procs_of(sb, "daemon"), 10, what="daemon's service gone")
    assert sb.alive(system) and sb.status("svc") == 0
    assert sb.rc("svc", "stop").returncode == 0
    wait_for(lambda: not sb.alive(system), 10, what="the system service gone")


@pytest.mark.parametrize("backend", ["runit", "monit"])
def test_runit_and_monit_refuse_user_services_in_one_line(sandbox, backend):
    sb = sandbox("ours")
    setup_plugin(sb)
    user_service(sb, "nobody", sv_backend=backend)
    before = sorted(sb.listdir(runtime("nobody")))
    r = as_user(sb, "nobody", "start")
    assert r.returncode != 0
    errors = [l for l in r.stderr.splitlines() if l.startswith(" * ERROR")]
    assert len(errors) == 1, r.stderr
    assert "sv_backend=%s" % backend in errors[0] and "user" in errors[0]
    assert "sv_backend=native" in errors[0]
    assert "Traceback" not in r.stderr
    assert not procs_of(sb, "nobody")
    assert sorted(sb.listdir(runtime("nobody"))) == before
    assert not sb.exists(svcdir("nobody") + "/options/svc")


# -- the fork server: root's is root's, a user may run their own ---------------------------

ROOT_SOCK = "/run/openrc-sv/forkserver.sock"


def comm(sb, pid):
    return sb.run("cat", "/proc/%d/comm" % pid).stdout.strip()


def supervisor_of(sb, user):
    return wait_for(lambda: pid_in(sb, runtime(user) + "/supervise-svc.pid"), 10,
                    what=user + "'s supervisor")


def test_a_user_service_never_uses_roots_fork_server_and_may_use_its_own(sandbox):
    from sandbox import our_script
    sb = sandbox("ours")
    setup_plugin(sb)
    user_service(sb, "nobody")
    root_server = sb.spawn(our_script("openrc-sv-forkserver"), "--socket", ROOT_SOCK)
    wait_for(lambda: sb.exists(ROOT_SOCK), 10, what="root's fork server")
    # Even a socket anyone may connect to is not the user's: the client
    # does not connect (test_user_mode: never even connected), and the
    # server, which checks its peer, would refuse.
    sb.run("chmod", "0777", ROOT_SOCK, check=True)
    r = as_user(sb, "nobody", "start", env={"OPENRC_SV_FORKSERVER": ROOT_SOCK})
    assert r.returncode == 0, r.stdout + r.stderr
    sup = supervisor_of(sb, "nobody")
    assert comm(sb, sup) != "sv-svc"            # forked by the user's own supervise-daemon
    assert sb.run("ps", "-o", "user=", "-p", str(sup)).stdout.strip() == "nobody"
    assert as_user(sb, "nobody", "stop").returncode == 0
    wait_for(lambda: not procs_of(sb, "nobody"), 10, what="nobody's service gone")
    root_server.kill()

    # The user's own server, at its default socket in the user's service dir.
    sb.spawn("setpriv", "--reuid", "nobody", "--regid", "nogroup", "--clear-groups",
             our_script("openrc-sv-forkserver"), env=user_env("nobody"))
    user_sock = svcdir("nobody") + "/openrc-sv/forkserver.sock"
    wait_for(lambda: sb.exists(user_sock), 10, what="the user's fork server")
    r = as_user(sb, "nobody", "start")
    assert r.returncode == 0, r.stdout + r.stderr
    sup = supervisor_of(sb, "nobody")
    assert comm(sb, sup) == "sv-svc"            # forked by the user's server...
    assert sb.run("ps", "-o", "user=", "-p", str(sup)).stdout.strip() == "nobody"
    assert as_user(sb, "nobody", "stop").returncode == 0
    servers = sb.pids_of("openrc-sv-forkserver")
    sb.run("kill", *[str(p) for p in servers])
    wait_for(lambda: not procs_of(sb, "nobody"), 10, what="nothing of nobody's left")


# -- attacks -----------------------------------------------------------------------------

def _root_world(sb):
    """Every root-owned file under /run (but the sandbox's own) with its
    change time, and every root process: what a user service must not touch."""
    import os
    files = {}
    top = sb.host_path("/run")
    for d, dirs, names in os.walk(top):
        for n in dirs + names:
            p = os.path.join(d, n)
            st = os.lstat(p)
            if st.st_uid == 0:
                files[p[len(top):]] = (st.st_mode, st.st_ctime_ns, st.st_mtime_ns)
    procs = {(pid, args) for pid, _, _, args in sb.ps() if args and
             sb.run("ps", "-o", "user=", "-p", str(pid)).stdout.strip() == "root"}
    return files, procs


def test_a_user_service_touches_nothing_of_roots(sandbox):
    sb = sandbox("ours")
    setup_plugin(sb)
    user_service(sb, "nobody")
    files, procs = _root_world(sb)
    assert as_user(sb, "nobody", "start").returncode == 0
    wait_for(lambda: child_of(sb, "nobody"), 10, what="the daemon")
    assert as_user(sb, "nobody", "reload").returncode == 0
    assert as_user(sb, "nobody", "status").returncode == 0
    after_files, after_procs = _root_world(sb)
    assert after_files == files
    assert {a for _, a in after_procs} - {a for _, a in procs} == set()    # no root process
    assert as_user(sb, "nobody", "stop").returncode == 0
    wait_for(lambda: not procs_of(sb, "nobody"), 10, what="nothing of nobody's left")
    assert _root_world(sb)[0] == files


def _refused_in_one_line(r, *words):
    assert r.returncode != 0, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    errors = [l for l in r.stderr.splitlines() if l.startswith(" * ERROR")]
    assert len(errors) == 1, r.stderr
    for w in words:
        assert w in errors[0], errors[0]


@pytest.mark.parametrize("hostile", [
    {},                                                          # 0.60+ as openrc-run exports it
    {"RC_SVCDIR": ""},                                           # 0.60-0.63: $XDG_RUNTIME_DIR/openrc
    {"RC_USER_SERVICES": ""},                                    # no user mode, RC_SVCDIR only
], ids=["user-mode", "xdg-runtime-dir", "rc-svcdir"])
def test_root_with_a_users_environment_writes_nothing_into_the_users_directory(sandbox, hostile):
    """Root running the plugin with a user's RC_SVCDIR or XDG_RUNTIME_DIR
    (sudo -E, a caller's environment) would keep its pidfile, lock, fifo and
    its record of what to signal where that user can swap them: refused."""
    sb = sandbox("ours")
    setup_plugin(sb)
    user_service(sb, "nobody")
    # the script root reads is root's; only the directories are the user's
    sb.install_script("svc", "#!/sbin/openrc-run\nsupervisor=openrc-sv\n"
                             "command=/bin/sleep\ncommand_args=1000\n")
    before = owners_under(sb, runtime("nobody")), sorted(sb.listdir(runtime("nobody")))
    env = user_env("nobody", RC_SERVICE="/etc/init.d/svc")
    env.update(hostile)
    for verb in ("start", "status", "stop"):
        r = sb.run(DRIVER_PATH, verb, env=env)
        variable = "XDG_RUNTIME_DIR" if hostile.get("RC_SVCDIR") == "" else "RC_SVCDIR"
        _refused_in_one_line(r, variable, runtime("nobody"), "someone other than root")
    assert (owners_under(sb, runtime("nobody")), sorted(sb.listdir(runtime("nobody")))) == before
    assert not sb.pids_of("sleep 1000")


def test_a_user_refuses_a_service_dir_another_user_can_change(sandbox):
    sb = sandbox("ours")
    setup_plugin(sb)
    user_service(sb, "nobody")
    # /run/shared is sticky and root's, as /tmp; daemon got there first
    sb.run("mkdir -m 1777 /run/shared && setpriv --reuid daemon --regid daemon --clear-groups "
           "mkdir -m 0777 /run/shared/openrc", check=True)
    r = as_user(sb, "nobody", "start", env={"XDG_RUNTIME_DIR": "/run/shared",
                                            "RC_SVCDIR": "/run/shared/openrc"})
    _refused_in_one_line(r, "RC_SVCDIR", "/run/shared/openrc", "someone other than you or root")
    assert sb.listdir("/run/shared/openrc") == []
    assert not procs_of(sb, "nobody")


def test_roots_supervise_daemon_by_hand_refuses_a_users_service_dir(sandbox):
    """The same for our supervise-daemon run by hand (`-U` with a user's
    XDG_RUNTIME_DIR, or their RC_SVCDIR): its start lock is taken only in a
    service dir root alone can change, before anything is written."""
    from openrc_sv import launcher
    sb = sandbox("ours")
    user_service(sb, "nobody")
    before = owners_under(sb, runtime("nobody")), sorted(sb.listdir(runtime("nobody")))
    for env, flags in (({"XDG_RUNTIME_DIR": runtime("nobody")}, ["-U"]),
                       ({"RC_SVCDIR": svcdir("nobody")}, [])):
        for verb in (["--start", "/bin/sleep", "1000"], ["--stop"]):
            r = sb.run(*launcher.argv(), "svc", *flags, *verb, env=dict(env, RC_SVCNAME="svc"))
            assert r.returncode != 0, r.stdout + r.stderr
            assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
            assert "can be changed by someone other than root" in r.stderr
            assert runtime("nobody") in r.stderr
    assert (owners_under(sb, runtime("nobody")), sorted(sb.listdir(runtime("nobody")))) == before
    assert not sb.pids_of("sleep 1000")
