"""openrc-sv setup / --undo inside a sandbox, against the real OpenRC.

The sandbox (supervisor="ours") bind-mounts a private copy of
$RC_LIBEXECDIR/sbin, holding the link setup would make; each test first
removes that link, so the sandbox looks like a system before setup.  The
host's own $RC_LIBEXECDIR/sbin is never written: a test that cannot see
the private mount stops before touching anything.  Setup also adds the
fork server to the boot runlevel (rc-update): /etc/runlevels gets a tmpfs
of its own here (see test_setup_forkserver.py for the server itself).
"""

import os

import pytest

from openrc_sv import launcher

import initscripts as I
from sandbox import libexecdir

pytestmark = pytest.mark.integration

SBIN = os.path.join(libexecdir() or "/lib/rc", "sbin")
LINK = SBIN + "/supervise-daemon"
PLUGIN = "/etc/rc.conf.d/openrc-sv.conf"


def pristine(sandbox):
    sb = sandbox("ours")
    sb.assert_private(SBIN, "/etc/init.d", "/etc/runlevels")
    sb.run("rm", "-f", LINK, check=True)
    return sb


def snapshot(sb):
    """What setup may change (the test's own service "svc" left out)."""
    return {d: [n for n in sb.listdir(d) if n != "svc"]
            for d in (SBIN, "/etc/rc.conf.d", "/etc/init.d", "/etc/runlevels/boot")}


def supervisor_cmdline(sb, svc):
    [pid] = I.supervisors(sb, svc)
    return sb.read("/proc/%d/cmdline" % pid).split("\0")


def test_setup_makes_openrc_run_use_our_supervise_daemon_and_undo_restores_openrcs(sandbox):
    sb = pristine(sandbox)
    before = snapshot(sb)

    r = sb.run("openrc-sv", "setup")
    assert r.returncode == 0, r.stdout + r.stderr
    assert launcher.is_ours(sb.host_path(LINK))
    assert sb.read(PLUGIN).startswith("# openrc-sv runscript plugin")

    # The default install runs the fork server: our supervise-daemon has it
    # fork the supervisor (named after its service).
    assert sb.rc("openrc-sv-forkserver", "status").returncode == 0
    I.start_service(sb, "svc")
    sup = int(sb.read("/run/supervise-svc.pid").split()[0])
    assert sb.read("/proc/%d/comm" % sup).strip() == "sv-svc"
    assert sb.rc("svc", "stop").returncode == 0
    # Without it, ours is a Python launcher script: the interpreter runs it.
    assert sb.rc("openrc-sv-forkserver", "stop").returncode == 0
    I.start_service(sb, "svc")
    cmd = supervisor_cmdline(sb, "svc")
    assert "python" in os.path.basename(cmd[0]) and LINK in cmd
    assert sb.rc("svc", "stop").returncode == 0

    r = sb.run("openrc-sv", "setup", "--undo")
    assert r.returncode == 0, r.stdout + r.stderr
    assert snapshot(sb) == before

    # OpenRC's own C supervisor again.
    I.start_service(sb, "svc")
    assert supervisor_cmdline(sb, "svc")[0] in ("supervise-daemon", "/sbin/supervise-daemon",
                                                "/usr/sbin/supervise-daemon")
    assert sb.rc("svc", "stop").returncode == 0


def test_setup_plugin_only_leaves_supervise_daemon_alone(sandbox):
    sb = pristine(sandbox)
    assert sb.run("openrc-sv", "setup", "--plugin").returncode == 0
    assert sb.exists(PLUGIN) and not sb.exists(LINK)
    assert sb.run("openrc-sv", "setup", "--plugin", "--undo").returncode == 0
    assert sb.listdir("/etc/rc.conf.d") == []


@pytest.mark.parametrize("kind", ["file", "link"])
def test_setup_refuses_to_clobber_a_foreign_supervise_daemon(sandbox, kind):
    sb = pristine(sandbox)
    if kind == "file":
        sb.write(LINK, "#!/bin/sh\nexec /sbin/supervise-daemon \"$@\"\n", 0o755)
    else:
        sb.run("ln", "-s", "/sbin/supervise-daemon", LINK, check=True)
    before = sb.run("ls", "-l", LINK).stdout

    r = sb.run("openrc-sv", "setup", "--supervise-daemon")
    assert r.returncode == 1
    assert r.stderr.splitlines() == [
        " * ERROR: openrc-sv: refusing to replace %s: it is not openrc-sv's "
        "(remove it yourself if you mean to)" % LINK]
    assert sb.run("ls", "-l", LINK).stdout == before

    r = sb.run("openrc-sv", "setup", "--undo")
    assert r.returncode == 0
    assert " * WARNING: openrc-sv: left %s alone: it is not openrc-sv's link" % LINK in r.stderr
    assert sb.run("ls", "-l", LINK).stdout == before
