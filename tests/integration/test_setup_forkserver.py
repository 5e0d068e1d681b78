"""openrc-sv setup installs, starts and (--undo) removes the fork server,
against the real OpenRC 0.45 (rc-update, rc-service, openrc-run) in a
sandbox.

The sandbox keeps /run, /etc/init.d, /etc/conf.d and a copy of
$RC_LIBEXECDIR/sbin private; here /etc/runlevels gets a tmpfs too, so that
rc-update writes nothing of the host's.  Every test checks those mounts
before running setup.
"""

import os

import pytest

from openrc_sv.cli import setup_forkserver as F
from openrc_sv.nsroot import RUNLEVELS

from sandbox import libexecdir, our_script, wait_for

pytestmark = pytest.mark.integration

SBIN = os.path.join(libexecdir() or "/lib/rc", "sbin")
LAUNCHER = SBIN + "/supervise-daemon"
SOCK = "/run/openrc-sv/forkserver.sock"
SERVICE = """#!/sbin/openrc-run
supervisor=supervise-daemon
command=/bin/sleep
command_args=1000
"""


def pristine(sandbox):
    """A sandbox as a system before setup, whose runlevels are its own."""
    sb = sandbox("ours")
    sb.assert_private(SBIN, "/etc/init.d", "/run", "/etc/runlevels")
    sb.run("rm", "-f", LAUNCHER, check=True)
    return sb


def setup(sb, *flags, code=0):
    r = sb.run("openrc-sv", "setup", "--supervise-daemon", *flags)
    assert r.returncode == code, r.stdout + r.stderr
    return r


def server_pids(sb):
    """The fork server processes: its command line, which the supervisors
    it forked share (they name themselves sv-SVC) and which its own
    supervise-daemon holds after the daemon's name."""
    return [p for p in sb.pids_of("data/%s --socket" % F.NAME)
            if not comm(sb, p).startswith("sv-")
            and "supervise-daemon" not in sb.read("/proc/%d/cmdline" % p, "")]


def comm(sb, pid):
    return sb.run("cat", "/proc/%d/comm" % pid).stdout.strip()


def supervisor_pid(sb, svc):
    return int(sb.read("/run/supervise-%s.pid" % svc).split()[0])


def boot_link(sb):
    return sb.run("readlink", F.LINK).stdout.strip()


def test_setup_installs_starts_and_undo_removes_the_fork_server(sandbox):
    sb = pristine(sandbox)
    r = setup(sb)
    out = r.stdout + r.stderr
    assert "installed the fork server's init script %s" % F.SCRIPT in out
    assert "added %s to the boot runlevel" % F.NAME in out
    assert "started %s" % F.NAME in out and r.stderr == ""

    # The script is ours (marked), runs this installation's code, and is in
    # boot as rc-update puts it there.
    text = sb.read(F.SCRIPT)
    assert text.splitlines()[1].startswith(F.MARKER)
    assert F.is_ours(sb.host_path(F.SCRIPT))
    assert "command_args=\"-I -S %s --socket %s\"" % (F.LAUNCHER, SOCK) in text
    assert boot_link(sb) == F.SCRIPT
    assert sb.run("rc-update", "show", "boot").stdout.split()[:1] == [F.NAME]
    assert sb.rc(F.NAME, "status").returncode == 0
    wait_for(lambda: sb.exists(SOCK), 10, what="the fork server's socket")
    [server] = server_pids(sb)
    assert str(server) == sb.value(F.NAME, "child_pid")    # supervised, as the script says

    # A supervise-daemon service started now goes through the server.
    sb.install_script("fsvc", SERVICE)
    r = sb.rc("fsvc", "start")
    assert r.returncode == 0, r.stdout + r.stderr
    sup = supervisor_pid(sb, "fsvc")
    assert comm(sb, sup) == "sv-fsvc"

    # Twice: everything is already there, nothing changes.
    r = setup(sb)
    assert "%s is already installed" % F.SCRIPT in r.stdout
    assert "%s is already in the boot runlevel" % F.NAME in r.stdout
    assert "%s is already running" % F.NAME in r.stdout
    assert server_pids(sb) == [server] and sb.read(F.SCRIPT) == text

    assert sb.rc("fsvc", "stop").returncode == 0
    r = setup(sb, "--undo")
    out = r.stdout + r.stderr
    assert "stopped %s" % F.NAME in out and r.stderr == ""
    assert sb.listdir("/etc/init.d") == ["fsvc"]
    assert all(sb.listdir("/etc/runlevels/" + lv) == [] for lv in RUNLEVELS)
    assert not sb.exists(LAUNCHER)
    wait_for(lambda: not sb.alive(server), 10, what="the fork server's exit")
    assert not sb.exists(SOCK)


def test_no_forkserver_leaves_it_out(sandbox):
    sb = pristine(sandbox)
    setup(sb, "--no-forkserver")
    assert sb.exists(LAUNCHER)
    assert sb.listdir("/etc/init.d") == [] and sb.listdir("/etc/runlevels/boot") == []
    assert server_pids(sb) == []
    # And an undo without it leaves an installed server in place.
    setup(sb)
    setup(sb, "--undo", "--no-forkserver")
    assert not sb.exists(LAUNCHER)
    assert sb.exists(F.SCRIPT) and sb.exists(F.LINK)


def test_a_packaged_script_is_used_and_kept(sandbox):
    """Alpine's openrc-sv-openrc installs the packaged script as it is:
    setup uses it (in boot, started), --undo takes it out of boot and
    leaves the file, saying so."""
    sb = pristine(sandbox)
    with open(F.TEMPLATE) as f:
        theirs = f.read()
    sb.install_script(F.NAME, theirs, "forkserver_bin=%s\n" % our_script(F.NAME))

    r = setup(sb)
    out = r.stdout + r.stderr
    assert "using %s, which is not openrc-sv's: left as it is" % F.SCRIPT in out
    assert "added %s to the boot runlevel" % F.NAME in out
    assert sb.read(F.SCRIPT) == theirs and boot_link(sb) == F.SCRIPT
    wait_for(lambda: sb.exists(SOCK), 10, what="the packaged server's socket")
    sb.install_script("fsvc", SERVICE)
    assert sb.rc("fsvc", "start").returncode == 0
    assert comm(sb, supervisor_pid(sb, "fsvc")) == "sv-fsvc"
    assert sb.rc("fsvc", "stop").returncode == 0

    r = setup(sb, "--undo")
    assert " * WARNING: openrc-sv: left %s alone: it was not installed by openrc-sv" \
        % F.SCRIPT in r.stderr
    assert sb.read(F.SCRIPT) == theirs
    assert sb.listdir("/etc/runlevels/boot") == []
    assert sb.listdir("/etc/init.d") == ["fsvc", F.NAME]      # no record left either


def test_a_service_already_in_boot_stays_when_the_script_is_not_ours(sandbox):
    sb = pristine(sandbox)
    with open(F.TEMPLATE) as f:
        sb.install_script(F.NAME, f.read(), "forkserver_bin=%s\n" % our_script(F.NAME))
    sb.run("rc-update", "add", F.NAME, "boot", check=True)
    r = setup(sb)
    assert "%s is already in the boot runlevel" % F.NAME in r.stdout
    setup(sb, "--undo")
    assert boot_link(sb) == F.SCRIPT            # the administrator's, before setup


def test_a_failed_runlevel_step_leaves_nothing_behind(sandbox):
    sb = pristine(sandbox)
    sb.run("rmdir", "/etc/runlevels/boot", check=True)
    r = setup(sb, code=1)
    [line] = r.stderr.splitlines()
    assert line.startswith(" * ERROR: openrc-sv: rc-update add %s boot failed" % F.NAME), line
    assert "--no-forkserver" in line and "Traceback" not in r.stderr
    assert sb.listdir("/etc/init.d") == [] and not sb.exists(LAUNCHER)
    assert server_pids(sb) == []


def test_a_server_that_does_not_start_is_a_warning(sandbox):
    sb = pristine(sandbox)
    sb.write("/etc/conf.d/" + F.NAME, 'supervise_daemon_args="--no-such-option"\n')
    r = setup(sb)
    [line] = r.stderr.splitlines()
    assert line.startswith(" * WARNING: openrc-sv: %s did not start (supervise-daemon: option "
                           "--no-such-option not recognized" % F.NAME), line
    assert "forks its own supervisor" in line
    assert F.is_ours(sb.host_path(F.SCRIPT)) and boot_link(sb) == F.SCRIPT
    # Services still start: their supervise-daemon forks the supervisor.
    sb.install_script("fsvc", SERVICE)
    assert sb.rc("fsvc", "start").returncode == 0
    assert comm(sb, supervisor_pid(sb, "fsvc")) != "sv-fsvc"
    assert sb.rc("fsvc", "stop").returncode == 0
    setup(sb, "--undo")
    assert sb.listdir("/etc/init.d") == ["fsvc"] and sb.listdir("/etc/runlevels/boot") == []
