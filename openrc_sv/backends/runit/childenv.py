"""The environment the daemon starts with.

runsv starts ./run with runsvdir's environment, not the one of the
openrc-run that asked for the start.  So that a daemon sees what it would
see under supervise-daemon (conf.d's exports among it), the run script
replaces its environment with the caller's, cleaned the way OpenRC's
supervise-daemon cleans it before exec (child_process(): RC_*, SSD_*,
EINFO_* and SVCNAME removed; $RC_LIBEXECDIR/bin and /sbin dropped from
PATH).
"""

import os

_DROP_PREFIXES = ("RC_", "SSD_", "EINFO_")
_DROP = ("SVCNAME",)
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def daemon_environment(environ, libexecdir):
    """Sorted [(name, value)] the daemon gets, from the caller's environ."""
    rc_dirs = {os.path.join(libexecdir, "bin"), os.path.join(libexecdir, "sbin")}
    out = {}
    for name, value in environ.items():
        if name.startswith(_DROP_PREFIXES) or name in _DROP or not name or "=" in name:
            continue
        if name == "PATH":
            value = ":".join(p for p in value.split(":") if p and p not in rc_dirs)
        out[name] = value
    out.setdefault("PATH", DEFAULT_PATH)
    return sorted(out.items())
