"""Where a runit-supervised service's files live.

    ROOT/SVC/                  the service directory runsv runs in
        .openrc-sv             our marker: written when start creates
                               ROOT/SVC; a directory without it is not
                               ours, and is neither used nor removed
        run finish check       rendered scripts
        control/t              rendered when the stop signal is not TERM
        log/run                the log service, when the daemon's output is logged
        health/run             the health watcher's own service directory
        state/                 what finish and the health watcher record:
                               respawn, last_exit, failed, health, scandir
        supervise/             runsv's (status, stat, pid, control, ok)
    SCANDIR/SVC        -> ROOT/SVC         what runsvdir starts a runsv for
    SCANDIR/SVC.health -> ROOT/SVC/health  (only with a periodic health check)

ROOT is runit_svdir_root, else $RC_SVCDIR/openrc-sv/runit: private to
openrc-sv, on tmpfs, so a reboot leaves nothing stale.  SCANDIR is the
directory a runsvdir watches: runit_scandir, else $RC_SVCDIR/sv, the one
OpenRC's own supervisor=runit support links into (sh/runit.sh), else the
usual system-wide ones when a runsvdir watches them.  Pure: nothing here
touches the disk.
"""

import os
from dataclasses import dataclass

from ...errors import UserError
from ...rcstate import svcdir

# Where distributions point their runsvdir (Debian /etc/service, Void
# /var/service, daemontools /service): tried, in this order, after
# $RC_SVCDIR/sv when runit_scandir is unset.
SYSTEM_SCANDIRS = ("/etc/service", "/var/service", "/service")
# The file that makes a service directory ours (see above).
MARKER = ".openrc-sv"


def _checked_dir(key, value):
    if "\n" in value or "\0" in value or not value.startswith("/"):
        raise UserError("%s: invalid value %r (expected an absolute directory path)" % (key, value))
    return os.path.normpath(value)


@dataclass(frozen=True)
class Layout:
    service: str
    root: str

    @property
    def dir(self):
        return os.path.join(self.root, self.service)

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    @property
    def state(self):
        return self.path("state")

    @property
    def health_dir(self):
        return self.path("health")

    def link(self, scandir):
        return os.path.join(scandir, self.service)

    def health_link(self, scandir):
        return os.path.join(scandir, self.service + ".health")


def layout(model, environ=None):
    env = os.environ if environ is None else environ
    root = model.extra.get("runit_svdir_root")
    if root:
        root = _checked_dir("runit_svdir_root", root)
    else:
        root = os.path.join(env.get("RC_SVCDIR") or svcdir(), "openrc-sv", "runit")
    return Layout(model.service, root)


def scandir_candidates(model, environ=None):
    """(variable, [dirs]): the scan directories start may link into, best
    first, and the name of the variable that chooses them (for messages)."""
    env = os.environ if environ is None else environ
    chosen = model.extra.get("runit_scandir")
    if chosen:
        return "runit_scandir", [_checked_dir("runit_scandir", chosen)]
    default = os.path.join(env.get("RC_SVCDIR") or svcdir(), "sv")
    return None, [default] + [d for d in SYSTEM_SCANDIRS if d != default]
