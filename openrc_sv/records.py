"""What a supervisor records about itself, and the per-service start lock.

Three things live here, each with one home:

- write_pidfile(): the supervisor's pidfile (replaced by rename, never
  written through: it may sit in a directory the daemon's user owns).
- ServiceLock: `flock` on $RC_SVCDIR/supervise-SVC.lock, held by
  `supervise-daemon --start` around "is it running?" and the claim, and by
  `--stop`, so two starts at once give one daemon.  Taking it first checks
  that only the caller (or root) can change the service dir
  (trust.require_service_dir): root handed a user's RC_SVCDIR or, in user
  mode, XDG_RUNTIME_DIR writes nothing there.
- The keeper record: $RC_SVCDIR/../openrc-sv/services/SVC (root only, 0600;
  in user mode, or for a non-root supervisor, $svcdir/openrc-sv/services/SVC:
  the user's own service dir, never /run),
  written by the supervisor when it starts.  It holds the supervisor's
  identity (pid and start time) and the command it runs.  `rc-service SVC
  zap` removes options/SVC and a wiped /run/openrc removes all of
  OpenRC's state, but not this: so a later start or stop still finds the
  supervisor that runs the service, or the daemon a dead supervisor left.

Format of the record: NUL-separated fields, "v1", supervisor identity,
pidfile, then the daemon's argv (argv[0] is the command).  Identity is always
pid plus start time, checked against /proc before anything is signalled.

The supervisor imports this module: stdlib built-ins only.
"""

import os

from .rcstate import svcdir, user_mode, write_atomic

_VERSION = "v1"


def write_pidfile(path, pid):
    if os.path.islink(path):
        os.unlink(path)
    write_atomic(path, "%d\n" % pid)


# -- the start lock -----------------------------------------------------------

def lock_path(st):
    return st.path("supervise-%s.lock" % st.name)


class ServiceLock:
    """An exclusive flock on the service's lock file (a context manager).

    The file is never removed: removing a lock file while another process
    waits on it would let a third take a different one.  It is close-on-exec
    and a forked supervisor closes its copy (close_in_child)."""

    def __init__(self, st):
        self.path = lock_path(st)
        self.fd = None

    def __enter__(self):
        import fcntl
        from .trust import require_service_dir
        require_service_dir(os.path.dirname(self.path))
        os.makedirs(os.path.dirname(self.path), 0o755, exist_ok=True)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        self.release()

    def release(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def close_in_child(self):
        """In a forked child: drop the descriptor without unlocking (the
        lock belongs to the open file description the parent holds)."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


# -- the keeper record -----------------------------------------------------------

def records_dir(root=None):
    root = (root or svcdir()).rstrip("/") or "/"
    if user_mode() or os.geteuid() != 0:
        # A user's services keep everything in the user's service dir: its
        # parent ($XDG_RUNTIME_DIR, /run) is not ours to write.
        return os.path.join(root, "openrc-sv", "services")
    return os.path.join(os.path.dirname(root), "openrc-sv", "services")


def record_path(name, root=None):
    return os.path.join(records_dir(root), name)


def encode_record(supervisor_ident, pidfile, argv):
    fields = [_VERSION, supervisor_ident or "", pidfile or ""] + list(argv)
    return "\0".join(fields).encode("utf-8", "surrogateescape")


def decode_record(data):
    """(supervisor_ident, pidfile, argv), or None for anything else."""
    try:
        f = data.decode("utf-8", "surrogateescape").split("\0")
    except AttributeError:
        return None
    if len(f) < 4 or f[0] != _VERSION or ":" not in f[1]:
        return None
    return f[1], f[2], f[3:]


def write_record(st, supervisor_ident, pidfile, argv):
    d = records_dir(st.root)
    os.makedirs(d, 0o700, exist_ok=True)
    write_atomic(os.path.join(d, st.name), encode_record(supervisor_ident, pidfile, argv), 0o600)


def read_record(st):
    """The record, if it is a regular root-owned file we wrote; else None."""
    import stat
    path = record_path(st.name, st.root)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        s = os.fstat(fd)
        if not stat.S_ISREG(s.st_mode) or s.st_uid != os.geteuid() or s.st_mode & 0o022:
            return None
        return decode_record(os.read(fd, 1 << 20))
    except OSError:
        return None
    finally:
        os.close(fd)


def forget_record(st, supervisor_ident=None):
    """Remove the record (only if it still names supervisor_ident, when given)."""
    if supervisor_ident is not None:
        rec = read_record(st)
        if rec and rec[0] != supervisor_ident:
            return
    try:
        os.unlink(record_path(st.name, st.root))
    except OSError:
        pass
