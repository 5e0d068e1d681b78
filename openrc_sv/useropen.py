"""Opening the daemon's files as the daemon's user.

output_log, error_log and input_file name paths in directories the
daemon's user usually owns (`checkpath -d -o $command_user /var/log/foo`).
Root opening such a path follows whatever that user planted there: a
symlink to /etc/ld.so.preload creates that file (and we would then chown
it to the user), a symlink to /etc/shadow appends the daemon's output to
it, or hands the daemon a root-only file as its standard input.

So a file the daemon will use is opened by a process that is already the
daemon: same chroot, same directory, same uid, gid and groups.  It can
reach nothing the daemon could not reach itself.  OpenRC's C supervisor
gets the same effect by opening the files in the child after setuid();
we need the descriptor in the (root) supervisor too, which keeps it across
respawns and reopens it after rotation, so a short-lived child opens it and
passes it back over a socket (SCM_RIGHTS).

Without a user the daemon is root, and so is the open, exactly as in
OpenRC.  Every open here refuses anything but a regular file or a
character device (/dev/null, a tty), or a FIFO to read from: a FIFO to
write to would block the daemon, a directory is a mistake the message
should name.
"""

import errno
import os
import stat

# What the daemon's stdout/stderr and stdin are opened with.
WRITE = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOCTTY | os.O_CLOEXEC | os.O_NONBLOCK
READ = os.O_RDONLY | os.O_NOCTTY | os.O_CLOEXEC | os.O_NONBLOCK
MODE = 0o600    # what OpenRC creates log files with (S_IRUSR | S_IWUSR)
OPEN_TIMEOUT = 10   # seconds an opener may take before root gives up on it


class Who:
    """Whom to open as: the daemon's (uid, gid, groups), root and chroot, and
    the directory relative paths start from."""

    def __init__(self, user=None, chroot=None, chdir=None, group=None):
        self.uid = user[0] if user else None
        self.gid = user[1] if user else group
        self.name = user[2] if user else None
        self.chroot = chroot
        self.chdir = chdir
        # The groups come from the host's group database, now: looked up
        # after chroot(), they would come from a file in the chroot, which
        # the daemon's user may be able to write (child.apply does the same).
        self.groups = None
        if user:
            try:
                self.groups = os.getgrouplist(self.name, self.gid)
            except OSError:
                self.groups = [self.gid]

    @classmethod
    def of(cls, setup):
        """From an openrc_sv.child.Setup."""
        return cls(setup.user, setup.chroot, setup.chdir, setup.group)

    @property
    def is_root(self):
        return not self.uid and self.gid in (None, 0) and not self.chroot


def _check(fd, path, flags):
    """Keep only what a daemon can use as a stream; the fd is ours to close.
    A FIFO is fine to read from (opened without blocking, it waits for no
    writer); written to, it would block the daemon until a reader comes."""
    st = os.fstat(fd)
    reading = flags & os.O_ACCMODE == os.O_RDONLY
    if stat.S_ISREG(st.st_mode) or stat.S_ISCHR(st.st_mode) or \
            (reading and stat.S_ISFIFO(st.st_mode)):
        os.set_blocking(fd, True)
        return fd
    os.close(fd)
    kind = "a directory" if stat.S_ISDIR(st.st_mode) else \
        "a FIFO" if stat.S_ISFIFO(st.st_mode) else \
        "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file"
    raise OSError(0, "is %s" % kind, path)


def open_here(path, flags, mode=MODE):
    """open(2) in this process; O_NONBLOCK so that a FIFO cannot hang us
    before _check refuses it."""
    try:
        fd = os.open(path, flags, mode)
    except OSError as e:
        # A FIFO without a reader, opened for writing without blocking,
        # fails with ENXIO ("No such device or address"): say what it is.
        if e.errno == errno.ENXIO and _is_fifo(path):
            raise OSError(e.errno, "is a FIFO", path)
        raise
    return _check(fd, path, flags)


def _is_fifo(path):
    try:
        return stat.S_ISFIFO(os.stat(path).st_mode)
    except OSError:
        return False


def become(who):
    """Turn this process (a child about to open, or exec) into the daemon's
    identity as far as files go: chroot, directory, groups, gid, uid."""
    if who.chroot:
        os.chroot(who.chroot)
        os.chdir("/")
    if who.chdir:
        os.chdir(who.chdir)
    if who.uid is not None:
        os.setgroups(who.groups or [who.gid])
        os.setgid(who.gid)
        os.setuid(who.uid)
    elif who.gid is not None:
        os.setgid(who.gid)


def open_as(who, path, flags, mode=MODE):
    """An fd for path, opened as `who` would open it.  Raises OSError with
    the path and the reason, as a plain open would."""
    if who is None or who.is_root:
        return open_here(path, flags, mode)
    import socket
    parent, kid = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    pid = os.fork()
    if pid == 0:                                     # pragma: no cover (child)
        code = 0
        try:
            parent.close()
            become(who)
            fd = open_here(path, flags, mode)
            socket.send_fds(kid, [b"ok"], [fd])
        except BaseException as e:
            err = e.errno if isinstance(e, OSError) and e.errno else 0
            why = (e.strerror if isinstance(e, OSError) and e.strerror else str(e)) or "failed"
            try:
                kid.sendall(("%d %s" % (err, why)).encode(errors="replace"))
            except BaseException:
                pass
            code = 1
        os._exit(code)
    kid.close()
    try:
        # The opener runs as the daemon's user, who may stop it (SIGSTOP)
        # or hang its open (a FUSE mount): root waits a bounded time.
        parent.settimeout(OPEN_TIMEOUT)
        try:
            msg, fds, _, _ = socket.recv_fds(parent, 4096, 1)
        except socket.timeout:
            _kill(pid)
            raise OSError(errno.ETIMEDOUT, "the open did not finish within %ds" % OPEN_TIMEOUT,
                          path)
    finally:
        parent.close()
        _reap(pid)
    for fd in fds:
        os.set_inheritable(fd, False)       # recvmsg gives them without CLOEXEC
    if fds:
        return fds[0]
    err, _, why = msg.decode(errors="replace").partition(" ")
    raise OSError(int(err) if err.isdigit() else 0, why or "could not be opened", path)


def open_named(what, who, path, flags):
    """open_as(), a failure being the one line every caller reports:
    "WHAT: cannot open 'PATH' as the daemon's user: REASON".  WHAT is the
    option or variable the path came from."""
    try:
        return open_as(who, path, flags)
    except OSError as e:
        from .errors import UserError
        raise UserError("%s: cannot open '%s' as the daemon's user: %s"
                        % (what, path, e.strerror or e))


def _kill(pid):
    try:
        os.kill(pid, 9)
    except OSError:
        pass


def _reap(pid):
    while True:
        try:
            os.waitpid(pid, 0)
            return
        except InterruptedError:
            continue
        except ChildProcessError:
            return      # a SIGCHLD handler reaped it first
