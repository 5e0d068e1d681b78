"""A root-only directory reached through a symbolic link, the daemon's user
(`nobody`) owning a directory on the way to where the link leads.

The administrator points runit_svdir_root (or monit_run_dir) at a link of
root's, /run/svroot, whose target looks root's: a 0755 directory of root's.
But the way there passes through /run/owned, which nobody owns, either
because the target is a directory root made inside it (the review's
/var/log/x -> /home/nobody/a/b) or because nobody's own link there leads
on to root's directory.  trust.untrusted_part checked the link and its
final target only, so the start went ahead; nobody then swaps what the
link leads to, and runsvdir runs nobody's ./run as root.  Now the start is
refused, in one line naming the variable and /run/owned, and nothing is
left behind.
"""

import pytest

import initscripts as I
from sandbox import wait_for
from test_attack_backends import as_nobody, drive, owned_dir, snapshot
from test_monit_backend import INCLUDE, start_monit
from test_monit_backend import service as monit_service
from test_runit_backend import SCANDIR, Runit

pytestmark = pytest.mark.integration

OWNED = "/run/owned"            # nobody's
LINK = "/run/svroot"            # root's link, what the administrator names
ROOTS = "/run/rootsv"           # a directory of root's, for nobody's link to lead to


def build(sb, how):
    """LINK -> ... a root-owned 0755 directory, through OWNED.  Returns the
    path inside OWNED that nobody can swap."""
    owned_dir(sb, OWNED)
    if how == "root's directory in nobody's":
        sb.run("mkdir", "-m", "0755", OWNED + "/sv", check=True)
    else:   # nobody's link to root's directory
        sb.run("mkdir", "-p", "-m", "0755", ROOTS, check=True)
        as_nobody(sb, "ln -s %s %s/sv" % (ROOTS, OWNED))
    sb.run("ln", "-s", OWNED + "/sv", LINK, check=True)
    return OWNED + "/sv"


def refusal(variable, why):
    return ("%s: %s: %s, and %s (a symbolic link on the way leads through it) can be changed "
            "by a user other than root; use a directory that only root can change\n"
            % (variable, LINK, why, OWNED))


HOW = ["root's directory in nobody's", "nobody's link to root's directory"]


@pytest.mark.parametrize("how", HOW)
def test_runit_svdir_root_through_a_users_directory_is_refused(sandbox, how):
    rt = Runit(sandbox("c"))
    sb = rt.sb
    swap = build(sb, how)
    before = snapshot(sb, "/run/owned"), snapshot(sb, SCANDIR)
    rt.install("svc", {"command_user": "nobody", "runit_svdir_root": LINK})
    r = rt.drive("svc", "start")
    assert "Traceback" not in r.stderr, r.stderr
    if r.returncode == 0:
        # What the check is for: nobody swaps what the link leads to, and
        # runsvdir's next rescan (another service's start) runs its ./run.
        as_nobody(sb, "mv %(s)s %(o)s/old; mkdir -p %(s)s/svc && "
                      "printf '#!/bin/sh\\nid -u >%(o)s/pwned\\nexec sleep 1000\\n' "
                      ">%(s)s/svc/run && chmod 755 %(s)s/svc/run" % {"s": swap, "o": OWNED})
        rt.install("other")
        rt.start("other")
        who = wait_for(lambda: sb.read(OWNED + "/pwned"), 30, interval=0.2,
                       what="runsvdir to pick up the swapped directory")
        pytest.fail("start went ahead; then runsvdir ran nobody's ./run as uid %s" % who.strip())
    assert r.stderr == refusal("runit_svdir_root", "runsv runs the scripts there as root")
    assert (snapshot(sb, "/run/owned"), snapshot(sb, SCANDIR)) == before, "left behind"
    assert sb.listdir(ROOTS) == []


@pytest.mark.parametrize("how", HOW)
def test_monit_run_dir_through_a_users_directory_is_refused(sandbox, how):
    sb = sandbox()
    I.install_programs(sb)
    sb.run("mkdir", "-p", "/run/monit", INCLUDE, check=True)
    start_monit(sb)
    build(sb, how)
    before = snapshot(sb, "/run/owned"), snapshot(sb, INCLUDE)
    spec = monit_service(sb, "svc", command_user="nobody", monit_run_dir=LINK)
    r = drive(sb, "svc", spec, "start")
    assert r.returncode != 0, "start went ahead: %s%s" % (r.stdout, r.stderr)
    assert r.stderr == refusal("monit_run_dir", "monit runs the control script there as root")
    assert (snapshot(sb, "/run/owned"), snapshot(sb, INCLUDE)) == before, "left behind"
    assert sb.listdir(ROOTS) == []
    assert I.daemon_pid(sb, "svc") is None


def test_the_same_link_to_a_root_only_way_is_accepted(sandbox):
    """The refusal is for the way, not for links: LINK -> /run/rootsv, all
    root's, starts and stops as usual."""
    rt = Runit(sandbox("c"))
    sb = rt.sb
    sb.run("mkdir", "-p", "-m", "0755", ROOTS, check=True)
    sb.run("ln", "-s", ROOTS, LINK, check=True)
    rt.install("svc", {"runit_svdir_root": LINK})
    rt.start("svc")
    assert "svc" in sb.listdir(ROOTS)
    r = rt.drive("svc", "stop")
    assert r.returncode == 0, r.stderr
