"""The supervisors the bench compares: one entry per column.

The first column is the reference, OpenRC's C supervise-daemon; every other
figure is printed as a ratio to it.  Adding a supervisor is adding one
Column to COLUMNS: how to tell it is installed, which Sandbox to use, the
init-script variables that select it, and anything to start before the
services (a fork server, runsvdir, monit).
"""

import importlib
import os
import shutil
import sys
from dataclasses import dataclass, field
from typing import Callable, Optional

from sandbox import have_openrc, our_script, wait_for


@dataclass
class Column:
    key: str
    title: str
    sandbox: str = "c"                   # Sandbox(supervisor=...): "c" or "ours"
    script_vars: dict = field(default_factory=dict)
    kind: str = "rc"                     # "rc": services go through rc-service; "runit": bare runit
    ours: bool = True                    # our code: targets apply
    expect_exe: Optional[str] = None     # every supervision process must run this executable
    needs: Callable[[], Optional[str]] = lambda: None   # why it cannot run, or None
    prepare: Optional[Callable] = None   # prepare(world) before any service starts
    slow: bool = False                   # starts take seconds: only in --full or when named
    max_services: int = 100000           # fleets beyond this are left out (n/a): too slow
    min_uptime: float = 0.0              # kill a daemon only once it is this old (runsv's 1 s rule)
    missing_reason: Optional[str] = None # set by the run: why this column is n/a

    def missing(self):
        try:
            return self.needs()
        except Exception as e:            # a half-built backend must not stop the bench
            return "%s: %s" % (type(e).__name__, e)


# -- availability -----------------------------------------------------------------

def _need_openrc():
    if not have_openrc():
        return "needs root and OpenRC"
    return None


def _need_module(name, attr=None):
    try:
        mod = importlib.import_module(name)
    except Exception as e:
        return "%s does not import (%s)" % (name, e)
    if attr and not hasattr(mod, attr):
        return "%s has no %s" % (name, attr)
    return None


def _need_script(name):
    try:
        our_script(name)
    except RuntimeError as e:
        return str(e)
    return None


def _needs_all(*checks):
    def check():
        for c in checks:
            why = c()
            if why:
                return why
        return None
    return check


def _need_backend(name):
    def check():
        from openrc_sv import backends
        try:
            backends.get(name)
        except Exception as e:
            return "backend %s: %s" % (name, getattr(e, "message", e))
        return None
    return check


def _need_programs(*names):
    def check():
        gone = [n for n in names if not shutil.which(n)]
        return "not installed: %s" % " ".join(gone) if gone else None
    return check


# -- preparation --------------------------------------------------------------------

def _start_forkserver(world):
    world.spawn(sys.executable, "-m", "openrc_sv.forkserver")
    wait_for(lambda: world.sb.exists("/run/openrc-sv/forkserver.sock"), 10,
             what="the fork server's socket")


def _install_plugin(world):
    r = world.sb.run(our_script("openrc-sv"), "setup", "--plugin")
    if r.returncode != 0:
        raise RuntimeError("openrc-sv setup --plugin failed: %s%s" % (r.stdout, r.stderr))


def _plugin_runit(world):
    _install_plugin(world)
    # The runit backend links services into $RC_SVCDIR/sv, the scan
    # directory OpenRC's own supervisor=runit uses; someone must watch it.
    os.makedirs(world.sb.host_path("/run/openrc/sv"), exist_ok=True)
    world.spawn("runsvdir", "-P", "/run/openrc/sv")


MONIT_CONF = "/run/monit/monitrc"
# `set daemon 1`: monit notices a dead daemon only at its next poll cycle;
# one second is the shortest it has (30 is the usual), so these are monit's
# best figures.
MONITRC = """\
set daemon 1
set log /run/monit/monit.log
set pidfile /run/monit/monit.pid
set idfile /run/monit/monit.id
set statefile /run/monit/monit.state
set httpd unixsocket /run/monit/monit.sock allow openrc-sv:bench-only
include /run/openrc-monit/*
"""


def _plugin_monit(world):
    _install_plugin(world)
    world.sb.write(MONIT_CONF, MONITRC, 0o600)     # monit refuses a control file others can read
    world.spawn("monit", "-I", "-c", MONIT_CONF)
    wait_for(lambda: world.sb.run("monit", "-c", MONIT_CONF, "-B", "summary").returncode == 0,
             10, what="monit to answer")


def _plugin(backend, prepare=_install_plugin, programs=(), **variables):
    return dict(
        sandbox="ours",
        script_vars=dict({"supervisor": "openrc-sv", "sv_backend": backend}, **variables),
        needs=_needs_all(_need_openrc, lambda: _need_script("openrc-sv"),
                         lambda: _need_module("openrc_sv.cli", "main"),
                         _need_backend(backend), _need_programs(*programs)),
        prepare=prepare,
    )


COLUMNS = [
    Column("c", "C supervise-daemon", sandbox="c", ours=False,
           script_vars={"supervisor": "supervise-daemon"},
           expect_exe="supervise-daemon",
           needs=_needs_all(_need_openrc, _need_programs("/sbin/supervise-daemon"))),
    Column("dropin", "drop-in", sandbox="ours",
           script_vars={"supervisor": "supervise-daemon"}, expect_exe="python",
           needs=_needs_all(_need_openrc, lambda: _need_script("supervise-daemon"))),
    Column("dropin-fs", "drop-in+forkserver", sandbox="ours",
           script_vars={"supervisor": "supervise-daemon"}, expect_exe="python",
           needs=_needs_all(_need_openrc, lambda: _need_script("supervise-daemon"),
                            lambda: _need_module("openrc_sv.forkserver", "serve")),
           prepare=_start_forkserver),
    Column("native", "plugin:native", **_plugin("native")),
    # runsv waits a second before restarting a service that ran less than
    # one: the bench lets the daemon live that long before killing it.
    Column("runit", "plugin:runit", slow=True, min_uptime=1.05, max_services=50,
           **_plugin("runit", _plugin_runit, ("runsvdir", "runsv"))),
    Column("monit", "plugin:monit", slow=True, max_services=50,
           **_plugin("monit", _plugin_monit, ("monit",), monit_conf=MONIT_CONF)),
    Column("bare-runit", "bare runit", kind="runit", ours=False, min_uptime=1.05,
           needs=_need_programs("runsvdir", "runsv")),
]

REFERENCE = COLUMNS[0].key


def by_key(key):
    for c in COLUMNS:
        if c.key == key:
            return c
    raise KeyError(key)
