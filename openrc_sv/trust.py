"""Directories root may trust: only root can change what is in them.

A backend keeps scripts root runs (runit's ./run, monit's control script),
the identity of the process it will signal, and the marker that says a
directory is ours, in directories an administrator can choose
(runit_svdir_root, monit_run_dir, runit_logdir...).  If the daemon's user
can change such a directory, or any directory above it, it can rename
ours away and put its own in its place: root then runs its script, or
signals the process its forged identity names.  So such a directory, and
every ancestor, must be root's and not writable by group or others (an
ancestor may be sticky, as /tmp is: there no one can rename what is
root's).  Symbolic links on the way must be root's too.
"""

import os
import stat

from .errors import UserError


def _components(path):
    """(/a, False), (/a/b, False) ... (path, True)."""
    parts = [p for p in path.split("/") if p]
    return [("/" + "/".join(parts[:i + 1]), i == len(parts) - 1) for i in range(len(parts))]


def _root_only(path, last):
    try:
        lst = os.lstat(path)
        st = os.stat(path)
    except OSError:
        return False
    if lst.st_uid != 0 or st.st_uid != 0 or not stat.S_ISDIR(st.st_mode):
        return False
    return not st.st_mode & 0o022 or (not last and bool(st.st_mode & stat.S_ISVTX))


def untrusted_part(path):
    """The first directory on the way to path (itself included) that
    someone other than root can change, or None.  Parts that do not exist
    yet are fine: root will create them."""
    for part, last in [("/", False)] + _components(os.path.normpath(path)):
        if not os.path.lexists(part):
            return None
        if not _root_only(part, last) or not _root_only(os.path.realpath(part), last):
            return part
    return None


def require_root_only(variable, path, why):
    """Raise a one-line UserError naming the variable unless only root can
    change path and the directories above it."""
    part = untrusted_part(path)
    if part is not None:
        raise UserError("%s: %s: %s, and %s can be changed by a user other than root; "
                        "use a directory that only root can change" % (variable, path, why, part))
