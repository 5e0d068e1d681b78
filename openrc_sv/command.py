"""Finding the daemon's program, as it will be exec'ed.

One place for the check every way of starting a daemon makes first, so a
command that cannot run fails the start with a clear reason, never a
respawn loop: it must exist, not be a directory, and be executable, seen
from inside the chroot when there is one.
"""

import os

from .errors import UserError

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def resolve(exe, chroot=None, what="command"):
    """The path to exec (as seen inside the chroot), or a UserError."""
    root = (chroot or "").rstrip("/")
    if "/" in exe:
        candidates = [exe]
    else:
        candidates = [os.path.join(d, exe) for d in
                      os.environ.get("PATH", DEFAULT_PATH).split(":") if d]
    for c in candidates:
        full = root + c if root and c.startswith("/") else c
        if os.path.isdir(full):
            if "/" in exe:
                raise UserError("%s: '%s' is a directory, not a program" % (what, full))
            continue
        if os.path.exists(full):
            if not os.access(full, os.X_OK):
                raise UserError("%s: '%s' is not executable (chmod +x it, or fix command=)"
                                % (what, full))
            return c
    raise UserError("%s: '%s' does not exist%s" % (what, exe, " in the chroot %s" % root if root else ""))
