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
root's).  Symbolic links on the way must be root's too, and the
directories on the way to where they lead are on the way as well.
"""

import os
import stat

from .errors import UserError


# The kernel's limit on links followed in one lookup (ELOOP past it).
MAXSYMLINKS = 40


def trusted_owners(euid=None):
    """Whose directories the caller may trust: root's own only root's; a
    user's (user services) their own and root's."""
    euid = os.geteuid() if euid is None else euid
    return (0,) if euid == 0 else (0, euid)


def _unchangeable(st, last, owners):
    """A directory (its lstat) that only the owners can change: theirs, not
    writable by group or others, unless sticky and not the last part."""
    if st.st_uid not in owners or not stat.S_ISDIR(st.st_mode):
        return False
    return not st.st_mode & 0o022 or (not last and bool(st.st_mode & stat.S_ISVTX))


def untrusted_part(path, owners=(0,)):
    """The first directory on the way to path (itself included) that
    someone other than the owners (default: root) can change, or None.

    The way is the one the kernel takes: from /, one component at a time,
    and a symbolic link's target from its own start (/ or the directory
    holding the link), '..' going up from where that led.  So a link
    /var/log/x -> /home/nobody/a/b puts /home/nobody and /home/nobody/a on
    the way, not only its end: whoever can rename /home/nobody/a can swap
    the directory the link leads to.  A link on the way must be the
    owners' too.  Parts that do not exist yet are fine: the caller will
    create them (under directories found trusted)."""
    if not path.startswith("/"):
        path = os.path.join(os.getcwd(), path)
    todo = [p for p in reversed(path.split("/")) if p not in ("", ".")]
    here, links = "/", 0
    try:
        if not _unchangeable(os.lstat("/"), not todo, owners):
            return "/"
    except OSError:
        return "/"
    while todo:
        name = todo.pop()
        if name == "..":
            here = os.path.dirname(here)    # "/".. is "/"; every ancestor was checked
            continue
        part = here.rstrip("/") + "/" + name
        try:
            st = os.lstat(part)
        except FileNotFoundError:
            return None
        except OSError:
            return part
        if stat.S_ISLNK(st.st_mode):
            links += 1
            if st.st_uid not in owners or links > MAXSYMLINKS:
                return part
            try:
                target = os.readlink(part)
            except OSError:
                return part
            if target.startswith("/"):
                here = "/"
            todo.extend(p for p in reversed(target.split("/")) if p not in ("", "."))
            continue
        if not _unchangeable(st, not todo, owners):
            return part
        here = part
    return None


class Untrusted(Exception):
    """open_trusted_dir's refusal: str() says which part and why."""


def open_trusted_dir(path, owners=(0,)):
    """A descriptor of the directory path, reached from / one component at
    a time with O_NOFOLLOW, each checked on its own open descriptor: of the
    owners (default root), not writable by group or others (an ancestor
    may be sticky).  Nothing is resolved twice, so nothing can be swapped
    between the check and the use, as it can between untrusted_part() and
    an open by name.  Raises Untrusted (a symbolic link, a missing part,
    one someone else can change) or OSError."""
    parts = [p for p in os.path.normpath(path).split("/") if p]
    fd = os.open("/", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for i, name in enumerate([""] + parts):
            if name:
                where = "/" + "/".join(parts[:i])
                try:
                    nfd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                                  dir_fd=fd)
                except FileNotFoundError:
                    raise Untrusted("%s does not exist" % where)
                except OSError as e:
                    if os.path.islink(where):
                        raise Untrusted("%s is a symbolic link (name the directory itself)" % where)
                    raise
                os.close(fd)
                fd = nfd
            else:
                where = "/"
            st = os.fstat(fd)
            last = i == len(parts)
            if st.st_uid not in owners or (st.st_mode & 0o022 and
                                           (last or not st.st_mode & stat.S_ISVTX)):
                raise Untrusted("%s can be changed by a user other than %s"
                                % (where, "root" if owners == (0,) else "you or root"))
        return fd
    except BaseException:
        os.close(fd)
        raise


def shown(path, part):
    """untrusted_part's answer for a message: one a symbolic link led to,
    outside path as written, says so (else the user looks for it in vain)."""
    full = os.path.normpath(os.path.join(os.getcwd(), path))
    if full == part or full.startswith(part.rstrip("/") + "/"):
        return part
    return "%s (a symbolic link on the way leads through it)" % part


def require_root_only(variable, path, why):
    """Raise a one-line UserError naming the variable unless only root can
    change path and the directories above it."""
    part = untrusted_part(path)
    if part is not None:
        raise UserError("%s: %s: %s, and %s can be changed by a user other than root; "
                        "use a directory that only root can change"
                        % (variable, path, why, shown(path, part)))


def service_dir_variable(environ=None):
    """The variable a service dir came from, for messages: RC_SVCDIR when
    set, XDG_RUNTIME_DIR in user mode without it (OpenRC 0.60-0.63)."""
    from .rcstate import user_mode
    env = os.environ if environ is None else environ
    if env.get("RC_SVCDIR") or not user_mode(env):
        return "RC_SVCDIR"
    return "XDG_RUNTIME_DIR"


def require_service_dir(path, variable=None):
    """Raise a one-line UserError unless only the caller (or root) can
    change the service dir and the directories above it.

    Everything a service's supervisor writes is there: its pidfile, lock,
    control fifo and the record of what it will signal.  A user's services
    (OpenRC's user mode) keep it in their own $XDG_RUNTIME_DIR; root's is
    root's.  A service dir someone else can change (an XDG_RUNTIME_DIR or
    RC_SVCDIR inherited from another user, a shared /tmp directory) would
    let them swap those files for links or forged records: refused."""
    owners = trusted_owners()
    part = untrusted_part(path, owners)
    if part is not None:
        who = "root" if owners == (0,) else "you or root"
        raise UserError("%s: service dir %s: %s can be changed by someone other than %s; "
                        "use a service dir only %s can change (user services: "
                        "XDG_RUNTIME_DIR=/run/user/$(id -u))"
                        % (variable or service_dir_variable(), path, shown(path, part), who,
                           who))
