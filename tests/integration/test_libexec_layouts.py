"""Every $RC_LIBEXECDIR layout: what of ours needs OpenRC's helper
directory finds it there, with RC_LIBEXECDIR exported and without.

    /lib/rc          Debian 12, Devuan, Alpine <= 3.20
    /usr/lib/rc      Debian 13
    /usr/libexec/rc  Alpine >= 3.21, Gentoo, upstream >= 0.56

Each test gets a sandbox (Sandbox(libexec_at=L)) where Debian 12's OpenRC
files, with the staged private sbin holding our supervise-daemon, are
mounted at L and hidden everywhere else -- except at the host's own path
(/lib/rc), which keeps the plain tree because Debian's openrc-run binary
has /lib/rc compiled in: without it no init script runs at all.

Two ways of running things, because of that binary:

* by hand (`as_layout`): in a nested mount namespace the host's path is
  hidden too, so L is the only tree, and /sbin/openrc-run is a stand-in
  holding just the string a binary built for L carries
  ("L/sh/openrc-run.sh"), the one thing our discovery reads from it.  No
  RC_LIBEXECDIR is exported.  This is what `openrc-sv setup`, a
  supervise-daemon typed by hand and the plugin's variable evaluation see
  on a system with that layout.
* through openrc-run (`test_openrc_run_...`): Debian's openrc-run runs as
  built (execs /lib/rc/sh/openrc-run.sh and exports RC_LIBEXECDIR=/lib/rc);
  a file in /etc/rc.conf.d, sourced before anything of ours runs, re-exports
  RC_LIBEXECDIR=L and puts L's bin and sbin where openrc-run put /lib/rc's,
  as an openrc-run built for L would have done.  From there on
  openrc-run.sh sources L/sh/*.sh and finds supervise-daemon in L/sbin.

What this cannot prove: that an OpenRC built for L (a different binary and
sh/ files of a later release) behaves as Debian's does; only that our side
uses L consistently once OpenRC says or shows that L is its directory.
On this (merged /usr) host /lib/rc and /usr/lib/rc are one directory, so
those two layouts differ only in the spelling openrc-run uses (which our
code must match exactly: it filters "$RC_LIBEXECDIR/bin" out of the
daemon's PATH as OpenRC does); a non-merged /lib/rc is covered by the
unit tests of rcstate.libexecdir (tests/unit/test_libexecdir.py).
"""

import os
import sys

import pytest

from openrc_sv import launcher

import initscripts as I
from sandbox import Sandbox, wait_for

pytestmark = pytest.mark.integration

LAYOUTS = ("/lib/rc", "/usr/lib/rc", "/usr/libexec/rc")
STANDIN = "/run/layout-openrc-run"
SHIM = "/etc/rc.conf.d/00-layout.conf"


@pytest.fixture(params=LAYOUTS, ids=lambda p: p.replace("/", "_").strip("_"))
def sb(request, tmp_path):
    box = Sandbox(tmp_path, supervisor="ours", libexec_at=request.param)
    box.start()
    try:
        assert box.run("findmnt", "--mountpoint", box.libexec + "/sbin").returncode == 0, \
            "the sandbox's %s/sbin is not a private mount" % box.libexec
        yield box
    finally:
        box.close()


def as_layout(sb, *cmd, env=None, standin=True):
    """Run cmd where only sb.libexec holds OpenRC's files, with no
    RC_LIBEXECDIR, and (standin) an openrc-run built for sb.libexec."""
    L = sb.libexec
    with open(sb.host_path(STANDIN), "wb") as f:
        f.write(b"\x7fELF stand-in\0" + L.encode() + b"/sh/openrc-run.sh\0")
    steps = ["set -e"]
    host = os.path.realpath(sb.host_libexec)
    if host != os.path.realpath(L):
        steps.append("mount -t tmpfs -o mode=0755 tmpfs %s" % host)
    if standin:
        steps.append("mount --bind %s %s" % (STANDIN, os.path.realpath("/sbin/openrc-run")))
    steps.append('exec "$@"')
    return sb.run("unshare", "--mount", "--propagation", "private",
                  "sh", "-c", "; ".join(steps), "sh", *cmd, env=env)


def python(sb, code, *args, **kw):
    return as_layout(sb, sys.executable, "-c", code, *args, **kw)


def test_our_discovery_finds_the_layout_without_rc_libexecdir(sb):
    r = python(sb, "from openrc_sv import rcstate; print(rcstate.libexecdir())")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == sb.libexec
    # With Debian 12's real openrc-run: the only tree wins outright; where
    # /lib/rc and /usr/lib/rc are one directory, the spelling the binary
    # has compiled in (it exports that one and puts it on PATH).
    r = python(sb, "from openrc_sv import rcstate; print(rcstate.libexecdir())", standin=False)
    expected = sb.libexec if sb.libexec == "/usr/libexec/rc" else sb.host_libexec
    assert r.stdout.strip() == expected
    assert os.path.samefile(sb.host_path(expected), sb.host_path(sb.libexec))


def test_setup_installs_into_the_layouts_sbin_and_undo_removes_it(sb):
    staged = os.path.join(sb.tmp, "rc-sbin", "supervise-daemon")
    link = sb.libexec + "/sbin/supervise-daemon"
    # The sandbox's L/sbin is our staged copy (never the host's): the file
    # we remove here is the one the sandbox shows there.
    assert os.path.samefile(sb.host_path(link), staged)
    os.unlink(staged)

    # --no-forkserver: the fork server's part (tested in test_setup_forkserver)
    # would add it to /etc/runlevels/boot, which this sandbox shares with the host.
    r = as_layout(sb, "openrc-sv", "setup", "--plugin", "--supervise-daemon", "--no-forkserver")
    assert r.returncode == 0, r.stdout + r.stderr
    assert link in r.stdout + r.stderr
    assert launcher.is_ours(staged)
    assert sb.read("/etc/rc.conf.d/openrc-sv.conf").startswith("# openrc-sv runscript plugin")

    r = as_layout(sb, "openrc-sv", "setup", "--undo", "--plugin", "--supervise-daemon",
                  "--no-forkserver")
    assert r.returncode == 0, r.stdout + r.stderr
    assert not os.path.lexists(staged)
    assert not sb.exists("/etc/rc.conf.d/openrc-sv.conf")


def test_the_plugins_variable_evaluation_sources_the_layouts_functions_sh(sb):
    sb.install_script("vars", "#!/sbin/openrc-run\n"
                      'sourced="$(yesno yes && echo functions.sh)"\n'
                      'libexec="$RC_LIBEXECDIR"\n')
    r = python(sb, "from openrc_sv import shellvars; v = shellvars.read('vars').variables; "
               "print(v.get('sourced'), v.get('libexec'))")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["functions.sh", sb.libexec]


def test_our_supervise_daemon_by_hand_filters_the_layouts_dirs_from_the_daemons_path(sb):
    I.install_service(sb, "byhand")
    L = sb.libexec
    path = "%s/bin:/usr/sbin:/usr/bin:%s/sbin:/sbin:/bin" % (L, L)
    r = as_layout(sb, L + "/sbin/supervise-daemon", "byhand", "--start",
                  "--pidfile", "/run/supervise-byhand.pid", I.DAEMON, I.statedir("byhand"),
                  env={"PATH": path, "RC_SVCNAME": "byhand"})
    assert r.returncode == 0, r.stdout + r.stderr
    pid = I.wait_daemon(sb, "byhand")
    env = I.environ(sb, "byhand", pid)
    assert env["PATH"] == "/usr/sbin:/usr/bin:/sbin:/bin"
    assert "RC_LIBEXECDIR" not in env
    r = as_layout(sb, L + "/sbin/supervise-daemon", "byhand", "--stop",
                  "--pidfile", "/run/supervise-byhand.pid", I.DAEMON, env={"PATH": path, "RC_SVCNAME": "byhand"})
    assert r.returncode == 0, r.stdout + r.stderr
    wait_for(lambda: not sb.alive(pid), 10, what="the daemon to stop")


def shim(sb):
    """What an openrc-run built for sb.libexec exports (see the module doc)."""
    L, host = sb.libexec, sb.host_libexec
    sb.write(SHIM, "RC_LIBEXECDIR=%s; export RC_LIBEXECDIR\n"
             "_layout_path=\n"
             "_layout_ifs=$IFS; IFS=:\n"
             "for _layout_p in $PATH; do\n"
             "\tcase $_layout_p in\n"
             "\t\t%s/bin|%s/sbin) _layout_p=%s/${_layout_p##*/} ;;\n"
             "\tesac\n"
             "\t_layout_path=${_layout_path:+$_layout_path:}$_layout_p\n"
             "done\n"
             "IFS=$_layout_ifs; PATH=$_layout_path; export PATH\n"
             "unset _layout_path _layout_ifs _layout_p\n" % (L, host, host, L))


def test_openrc_run_starts_and_stops_through_the_layout(sb):
    shim(sb)
    assert sb.run("openrc-sv", "setup", "--plugin").returncode == 0
    L = sb.libexec

    # The drop-in: openrc-run.sh finds supervise-daemon in L/sbin (the
    # host's /lib/rc/sbin has none: there, /sbin's C binary would run).
    pid = I.start_service(sb, "dropin")
    [sup] = I.supervisors(sb, "dropin")
    cmd = sb.read("/proc/%d/cmdline" % sup).split("\0")
    assert L + "/sbin/supervise-daemon" in cmd
    sup_env = dict(e.split("=", 1) for e in sb.read("/proc/%d/environ" % sup).split("\0") if "=" in e)
    assert sup_env["RC_LIBEXECDIR"] == L
    env = I.environ(sb, "dropin", pid)
    assert not [p for p in env["PATH"].split(":") if p.startswith((L + "/", sb.host_libexec + "/"))]
    assert sb.rc("dropin", "stop").returncode == 0
    wait_for(lambda: not sb.alive(pid), 10, what="the drop-in's daemon to stop")

    # supervisor=openrc-sv through the plugin (native backend).
    I.install_service(sb, "plugin")
    sb.write("/etc/conf.d/plugin", "supervisor=openrc-sv\nsv_backend=native\n")
    r = sb.rc("plugin", "start")
    assert r.returncode == 0, r.stdout + r.stderr
    pid = I.wait_daemon(sb, "plugin")
    env = I.environ(sb, "plugin", pid)
    assert not [p for p in env["PATH"].split(":") if p.startswith((L + "/", sb.host_libexec + "/"))]
    assert sb.status("plugin") == 0
    assert sb.rc("plugin", "stop").returncode == 0
    wait_for(lambda: not sb.alive(pid), 10, what="the plugin's daemon to stop")
