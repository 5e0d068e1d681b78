"""sv_backend=runit with the daemon's user attacking, and what native does.

The backend is driven as in test_runit_backend.py (a real runsvdir in a
sandbox).  The attacker is `nobody` (setpriv), working only in the
directories it owns; each attack test asserts that nothing outside them
changed.  Also here: the OpenRC state after the respawn limit, through
rc-service and the plugin, and a hidden healthcheck().
"""

import os
import shlex

import pytest

import initscripts as I
from sandbox import wait_for
from test_runit_backend import SCANDIR, STATE, SVROOT, Runit

pytestmark = pytest.mark.integration

AS_NOBODY = ["setpriv", "--reuid", "nobody", "--regid", "nogroup", "--clear-groups"]
VICTIM = "/run/victim"


@pytest.fixture
def rt(sandbox):
    return Runit(sandbox("c"))


def as_nobody(rt, shell):
    r = rt.sb.run(*AS_NOBODY, "sh", "-c", shell)
    assert r.returncode == 0, r.stdout + r.stderr


def victim(rt):
    """Root's files the attacker would like to read, write or create:
    {path: (content, uid, mode)} as they are now."""
    rt.sb.run("mkdir", "-p", "-m", "0755", VICTIM, check=True)
    rt.sb.write(VICTIM + "/root-file", "root's own\n", 0o644)
    rt.sb.write(VICTIM + "/secret", "top secret\n", 0o600)
    return snapshot(rt, VICTIM)


def snapshot(rt, top):
    out = {}
    for d, dirs, files in os.walk(rt.sb.host_path(top)):
        for name in sorted(dirs + files):
            p = os.path.join(d, name)
            st = os.lstat(p)
            content = os.readlink(p) if os.path.islink(p) else \
                open(p).read() if os.path.isfile(p) else None
            out[p[len(rt.sb.host_path("")):]] = (content, st.st_uid, st.st_mode)
    return out


def user_dir(rt, path):
    rt.sb.run("mkdir", "-p", path, check=True)
    rt.sb.run("chown", "nobody:nogroup", path, check=True)


def test_svlogd_config_and_current_planted_by_the_user_do_not_act_as_root(rt):
    before = victim(rt)
    user_dir(rt, "/run/log/svc")
    # A processor svlogd runs at each rotation, and `current` pointing at
    # root's file; the processor records who ran it and tries root's things.
    processor = ("id -u >>%s/svc/processor-uid; touch /run/pwned; "
                 "echo x >>%s/root-file; cat" % (STATE, VICTIM))
    as_nobody(rt, "printf '%%s\\n' s100 %s >/run/log/svc/config && "
                  "ln -s %s/root-file /run/log/svc/current"
              % (shlex.quote("!sh -c " + shlex.quote(processor)), VICTIM))
    rt.install("svc", {"command_user": "nobody", "runit_logdir": "/run/log/svc"})
    pid = rt.start("svc")
    svlogd = wait_for(lambda: rt.sb.pids_of("svlogd"), 10, what="svlogd")[0]
    assert rt.sb.run("ps", "-o", "uid=", "-p", str(svlogd)).stdout.strip() == "65534"
    # Rotate now: the processor runs (as nobody).
    rt.sb.run("kill", "-ALRM", str(svlogd), check=True)
    wait_for(lambda: rt.read("svc", "processor-uid"), 10, what="svlogd's processor to run")
    assert set(rt.read("svc", "processor-uid").split()) == {"65534"}
    assert not rt.sb.exists("/run/pwned")
    assert snapshot(rt, VICTIM) == before
    rt.stop("svc")
    assert rt.leftovers("svc") == ([], [])
    assert (str(pid), "SIGTERM") in rt.signals("svc")


def test_root_svlogd_is_refused_in_a_directory_the_user_can_write(rt):
    user_dir(rt, "/run/log/svc")
    rt.install("svc", {"runit_logdir": "/run/log/svc"})
    r = rt.drive("svc", "start")
    assert (r.returncode, r.stderr.count("\n")) == (1, 1)
    assert r.stderr.startswith("runit_logdir: /run/log/svc: svlogd would run as root")
    assert rt.leftovers("svc") == ([], []) and rt.starts("svc") == []


def test_output_log_symlinks_planted_by_the_user_reach_no_root_file(rt):
    before = victim(rt)
    user_dir(rt, "/run/log/svc")
    as_nobody(rt, "ln -s %s/root-file /run/log/svc/out.log && "
                  "ln -s %s/new-file /run/log/svc/err.log" % (VICTIM, VICTIM))
    rt.install("svc", {"command_user": "nobody", "output_log": "/run/log/svc/out.log",
                       "error_log": "/run/log/svc/err.log"})
    r = rt.drive("svc", "start")
    assert r.returncode == 1
    assert r.stderr == "output_log: cannot open '/run/log/svc/out.log' as the daemon's user: " \
        "Permission denied\n"
    assert snapshot(rt, VICTIM) == before, "not appended to, nothing created"
    assert rt.leftovers("svc") == ([], []) and rt.starts("svc") == []


def test_input_file_symlink_to_a_root_only_file_is_not_read(rt):
    before = victim(rt)
    user_dir(rt, "/run/lib/svc")
    as_nobody(rt, "ln -s %s/secret /run/lib/svc/in" % VICTIM)
    rt.install("svc", {"command_user": "nobody", "input_file": "/run/lib/svc/in"})
    r = rt.drive("svc", "start")
    assert r.returncode == 1
    assert r.stderr == "input_file: cannot open '/run/lib/svc/in' as the daemon's user: " \
        "Permission denied\n"
    assert rt.starts("svc") == [], "the daemon never ran with it"
    assert snapshot(rt, VICTIM) == before
    assert rt.leftovers("svc") == ([], [])


def test_runit_svdir_root_at_an_admins_directory_is_refused_and_left_alone(rt):
    rt.sb.write("/etc/sv/svc/run", "#!/bin/sh\nexec sleep 1000\n", 0o755)
    rt.sb.write("/etc/sv/svc/notes", "the admin's\n")
    rt.sb.run("mkdir", "-p", "/etc/sv/svc/supervise", check=True)
    before = snapshot(rt, "/etc/sv")
    rt.install("svc", {"runit_svdir_root": "/etc/sv"})
    r = rt.drive("svc", "start")
    assert (r.returncode, r.stderr) == (
        1, "runit_svdir_root: /etc/sv/svc already exists and is not openrc-sv's; choose "
           "another runit_svdir_root= (openrc-sv neither uses nor removes a directory it did "
           "not create)\n")
    assert snapshot(rt, "/etc/sv") == before
    assert not rt.sb.exists(SCANDIR + "/svc")
    r = rt.drive("svc", "stop")
    assert r.returncode == 0, r.stderr
    assert snapshot(rt, "/etc/sv") == before
    assert rt.starts("svc") == []


def test_a_hidden_healthcheck_is_recorded_once_and_never_restarts(rt):
    state = rt.install("svc", {"healthcheck_timer": "1", "healthcheck_delay": "1"})
    # extra_commands without healthcheck: openrc-run refuses the command.
    rt.sb.install_script("svc", "#!/sbin/openrc-run\nextra_commands=other\n"
                         "other() { :; }\nhealthcheck() { echo >>%s/checks; }\n" % state)
    pid = rt.start("svc")
    wait_for(lambda: rt.status("svc")["health"] == "hidden", 10, interval=0.2,
             what="the check to be recorded hidden")
    # The watcher took itself down: nothing is left that could restart.
    wait_for(lambda: not rt.sb.pids_of("healthwatch"), 10, what="the watcher to stop")
    r = rt.sb.run("sv", "status", SVROOT + "/svc/health")
    assert r.stdout.startswith("down: "), r.stdout
    assert rt.starts("svc") == [(pid, rt.starts("svc")[0][1])] and rt.sb.alive(pid)
    assert rt.read("svc", "checks") is None, "healthcheck() itself never ran"
    assert rt.signals("svc") == []
    rt.stop("svc")
    assert rt.leftovers("svc") == ([], [])


# Through rc-service and the plugin ---------------------------------------------

def plugin_world(sb):
    r = sb.run("openrc-sv", "setup", "--plugin")
    assert r.returncode == 0, r.stdout + r.stderr
    I.install_programs(sb)
    sb.run("mkdir", "-p", SCANDIR, check=True)
    sb.spawn("runsvdir", "-P", SCANDIR)
    wait_for(lambda: sb.pids_of("runsvdir -P " + SCANDIR), 5, what="runsvdir")


def test_respawn_limit_leaves_the_openrc_state_native_leaves(sandbox):
    sb = sandbox("ours")
    plugin_world(sb)
    d = I.statedir("svc")
    sb.run("mkdir", "-p", "-m", "0777", d, check=True)
    sb.install_script("svc", "\n".join([
        "#!/sbin/openrc-run", "supervisor=openrc-sv", "command=%s" % I.DAEMON,
        "command_args=%s" % d, "respawn_max=2", "respawn_period=60"]) + "\n",
        "sv_backend=runit\n")
    r = sb.rc("svc", "start")
    assert r.returncode == 0, r.stdout + r.stderr
    pid = wait_for(lambda: I.daemon_pid(sb, "svc"), 10, what="the daemon")
    wait_for(lambda: sb.value("svc", "child_pid") == str(pid), 10, what="child_pid")
    sb.write(d + "/exit-code", "3")
    sb.run("kill", "-KILL", str(pid), check=True)
    wait_for(lambda: sb.exists("/run/openrc/failed/svc"), 30, interval=0.2,
             what="OpenRC's failed mark")
    wait_for(lambda: not [a for _, _, st, a in sb.ps()
                          if a.startswith("runsv svc") and not st.startswith("Z")],
             10, what="svc's runsvs to exit")
    assert len(I.starts(sb, "svc")) == 3, "the first run and two respawns"
    r = sb.rc("svc", "status")
    assert r.returncode == 3, r.stdout + r.stderr
    assert sb.exists("/run/openrc/failed/svc") and not sb.exists("/run/openrc/started/svc")
    assert sb.value("svc", "child_pid") is None
    assert I.daemons(sb) == []
    assert sb.listdir(SCANDIR) == []
