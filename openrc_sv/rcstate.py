"""OpenRC's service state directory, read and written the way librc does.

Layout under the service dir (svcdir(): $RC_SVCDIR, else $XDG_RUNTIME_DIR/openrc
in user mode, else /run/openrc), as librc keeps it:

  options/SVC/KEY        service_get_value / service_set_value
  daemons/SVC/NNN        exec=, argv_N=, pidfile= : what service_crashed checks
  started/SVC, failed/SVC, ...   symlinks to the init script
  supervise-SVC.ctl      the supervisor's control fifo

Writes are atomic (KEY.new then rename) so that a reader such as
rc-service never sees half a value.  Only stdlib built-ins are used: the
long-running supervisor imports this module.
"""

import os

# The state directories librc knows, in the order rc_service_mark() clears
# them (src/librc/librc.c, rc_service_state_names).
_STATE_DIRS = ("started", "starting", "stopping", "inactive", "wasinactive",
               "failed", "hotplugged", "scheduled")


def user_mode(environ=None):
    """OpenRC's user mode (0.60+): RC_USER_SERVICES=yes, which `openrc
    --user`, `rc-service --user` and `-U` set (librc's rc_set_user)."""
    env = os.environ if environ is None else environ
    return (env.get("RC_USER_SERVICES") or "").strip().lower() in ("yes", "y", "true", "on", "1")


def svcdir(environ=None):
    """The service dir, found as OpenRC finds it: RC_SVCDIR first (what
    openrc-run exports, and all OpenRC master relies on), then user mode's
    $XDG_RUNTIME_DIR/openrc (OpenRC 0.60-0.63), then /run/openrc."""
    env = os.environ if environ is None else environ
    if env.get("RC_SVCDIR"):
        return env["RC_SVCDIR"]
    if user_mode(env):
        runtime = env.get("XDG_RUNTIME_DIR")
        if not runtime:
            from .errors import UserError
            raise UserError("user mode (RC_USER_SERVICES=yes or -U) needs XDG_RUNTIME_DIR "
                            "(or RC_SVCDIR) to find the service dir")
        return os.path.join(runtime, "openrc")
    return "/run/openrc"


# Where OpenRC builds put $RC_LIBEXECDIR, newest layout first:
#   /usr/libexec/rc   upstream since 0.56, Alpine 3.21+, Gentoo
#   /usr/lib/rc       Debian 13
#   /lib/rc           Debian 12, Devuan, Alpine up to 3.20
# Layouts have only ever moved from /lib/rc towards /usr, never back, so
# when an upgrade leaves an old tree behind the newer path is the live one.
LIBEXEC_LAYOUTS = ("/usr/libexec/rc", "/usr/lib/rc", "/lib/rc")
# openrc-run as init scripts name it in their #! line, then as PATH finds it.
_OPENRC_RUN = ("/sbin/openrc-run", "/usr/sbin/openrc-run")
_RUNSCRIPT = b"/sh/openrc-run.sh\0"
_PATH_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._+-")


def _is_tree(d):
    # openrc-run.sh is what openrc-run executes for every service: a
    # package manager removes it with the package, so a leftover
    # directory (our own sbin link, an old cache) does not count.
    return os.path.isfile(os.path.join(d, "sh", "openrc-run.sh"))


def compiled_libexecdir(binaries=None):
    """The RC_LIBEXECDIR compiled into openrc-run, or None.

    openrc-run execs "$RC_LIBEXECDIR/sh/openrc-run.sh" by a path fixed at
    build time, so the string is in the binary exactly as openrc-run
    spells it (and exports it).  Only read when the file system alone is
    ambiguous."""
    for path in _OPENRC_RUN if binaries is None else binaries:
        try:
            with open(path, "rb") as f:
                data = f.read(16 << 20)
        except OSError:
            continue
        at = data.find(_RUNSCRIPT)
        while at > 0:
            start = at
            while start > 0 and data[start - 1] in _PATH_BYTES:
                start -= 1
            d = data[start:at].decode("ascii", "replace")
            if d.startswith("/") and len(d) > 1:
                return d
            at = data.find(_RUNSCRIPT, at + 1)
    return None


# Where librc's user mode finds init scripts after the user's own and
# $XDG_CONFIG_DIRS' (append_user_path: the system paths with /user added).
_SYSTEM_USER_DIRS = ("/etc/rc/user", "/etc/user", "/usr/local/rc/user", "/usr/local/user")


def user_script_dirs(environ=None):
    """The directories OpenRC's user mode takes init.d/ (and conf.d/) from,
    first match wins, as librc's append_user_path orders them:
    $XDG_CONFIG_HOME/rc (else ~/.config/rc), each $XDG_CONFIG_DIRS/rc (else
    /etc/xdg/rc), then the system's .../user directories.  Never /etc: a
    user's service is not the system service of the same name."""
    env = os.environ if environ is None else environ
    dirs = []
    if env.get("XDG_CONFIG_HOME"):
        dirs.append(os.path.join(env["XDG_CONFIG_HOME"], "rc"))
    elif env.get("HOME"):
        dirs.append(os.path.join(env["HOME"], ".config", "rc"))
    xdg = [d for d in (env.get("XDG_CONFIG_DIRS") or "/etc/xdg").split(":") if d]
    dirs += [os.path.join(d, "rc") for d in xdg]
    dirs += list(_SYSTEM_USER_DIRS)
    dirs.append(os.path.join(env.get("RC_LIBEXECDIR") or libexecdir(), "user"))
    return dirs


def libexecdir(environ=None):
    """Where OpenRC keeps its sh/, bin/ and sbin/ ($RC_LIBEXECDIR).

    RC_LIBEXECDIR when openrc-run exported it (every service action).  Run
    by hand, the one tree that holds sh/openrc-run.sh among the known
    layouts; if none or several do (an old tree left by an upgrade, a
    second OpenRC, or /lib/rc and /usr/lib/rc being one directory on a
    merged /usr), the one openrc-run itself has compiled in, which is the
    one it will export and put on PATH; failing that (no readable
    openrc-run) a tree with OpenRC's `version` file, newest layout first."""
    env = os.environ if environ is None else environ
    if env.get("RC_LIBEXECDIR"):
        return env["RC_LIBEXECDIR"]
    trees = [d for d in LIBEXEC_LAYOUTS if _is_tree(d)]
    if len(trees) == 1:
        return trees[0]
    compiled = compiled_libexecdir()
    if compiled and _is_tree(compiled):
        return compiled
    for d in trees:
        if os.path.isfile(os.path.join(d, "version")):
            return d
    # Nothing installed: the upstream default, for messages that name it.
    return trees[0] if trees else LIBEXEC_LAYOUTS[0]


_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def write_atomic(path, data, mode=0o644):
    """Write a file so readers see the old or the new content, never half.

    The temp file is new (O_EXCL, an unguessable name): in a directory a
    less privileged user can write (a pidfile's), nothing it planted under
    a name it predicted -- its own file, a FIFO, a hard link to root's
    file -- can be opened instead.  rename() replaces a symlink at `path`
    rather than following it.  (Plain string operations, no os.path: a
    supervisor in a crash storm writes a few of these per respawn.)
    """
    if isinstance(data, str):
        data = data.encode()
    for _ in range(100):
        tmp = path + ".new." + os.urandom(6).hex()
        try:
            fd = os.open(tmp, _NEW, mode)
            break
        except FileExistsError:
            continue
    else:
        raise FileExistsError(17, "no free temporary name", path)
    try:
        try:
            os.write(fd, data)
            os.fchmod(fd, mode)
        finally:
            os.close(fd)
        os.rename(tmp, path)
    except BaseException:
        _unlink(tmp)
        raise


def _unlink(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _rmtree(path):
    try:
        names = os.listdir(path)
    except (FileNotFoundError, NotADirectoryError):
        return
    for n in names:
        _unlink(os.path.join(path, n))
    try:
        os.rmdir(path)
    except OSError:
        pass


class ServiceState:
    """The state of one service, as librc stores it."""

    def __init__(self, name, root=None):
        if not name or "/" in name or name in (".", ".."):
            from .errors import UserError
            raise UserError("invalid service name '%s'" % name)
        self.name = name
        self.root = root or svcdir()
        self._options_made = False      # options/SVC exists (saves a mkdir per value)
        # options/SVC/, joined once: the supervisor writes into it at every
        # respawn.
        self._options = os.path.join(self.root, "options", name, "")

    def path(self, *parts):
        return os.path.join(self.root, *parts)

    # options/SVC/KEY --------------------------------------------------
    def options_dir(self):
        """options/SVC (no trailing slash)."""
        return self._options[:-1]

    def get(self, key, default=None):
        try:
            with open(self._options + key) as f:
                return f.read()
        except (FileNotFoundError, NotADirectoryError):
            return default

    def set(self, key, value):
        path = self._options + key
        if value is None:
            _unlink(path)
            return
        if not self._options_made:
            os.makedirs(self._options, 0o755, exist_ok=True)
            self._options_made = True
        try:
            write_atomic(path, str(value))
        except FileNotFoundError:
            # Removed behind our back (the service was marked stopped):
            # make it again.
            os.makedirs(self._options, 0o755, exist_ok=True)
            write_atomic(path, str(value))

    def set_many(self, values):
        for k, v in values.items():
            self.set(k, v)

    # daemons/SVC/NNN --------------------------------------------------
    def daemon_set(self, exec_, argv, pidfile, started):
        """Record (or forget) a daemon so service_crashed can check it.

        Like rc_service_daemon_set(): entries matching this exec/argv/pidfile
        are removed; when started, a new entry is appended.
        """
        d = self.path("daemons", self.name)
        wanted = self._daemon_text(exec_, argv, pidfile)
        try:
            entries = sorted(os.listdir(d))
        except FileNotFoundError:
            entries = []
        kept = []
        for e in entries:
            p = os.path.join(d, e)
            try:
                with open(p) as f:
                    body = f.read()
            except OSError:
                continue
            if body.strip() == wanted.strip() or ("pidfile=%s\n" % pidfile) in body and pidfile:
                _unlink(p)
            else:
                kept.append((e, body))
        # Renumber what is left, as librc does, so NNN stays dense.
        for i, (e, body) in enumerate(kept, 1):
            want = "%03d" % i
            if want != e:
                os.rename(os.path.join(d, e), os.path.join(d, want))
        if started:
            os.makedirs(d, 0o755, exist_ok=True)
            write_atomic(os.path.join(d, "%03d" % (len(kept) + 1)), wanted)

    @staticmethod
    def _daemon_text(exec_, argv, pidfile):
        lines = ["exec=%s" % (exec_ or "")]
        lines += ["argv_%d=%s" % (i, a) for i, a in enumerate(argv or ())]
        lines.append("pidfile=%s" % (pidfile or ""))
        return "\n".join(lines) + "\n"

    # started/, failed/ ... ------------------------------------------------
    def init_script(self):
        """The service's script: RC_SERVICE when openrc-run runs us for
        this service, else the one OpenRC marked it with, else the first
        found where OpenRC looks (a user's own directories in user mode)."""
        if os.environ.get("RC_SERVICE") and os.environ.get("RC_SVCNAME", self.name) == self.name:
            return os.environ["RC_SERVICE"]
        return self._resolve()

    def _resolve(self):
        for d in ("started", "starting", "stopping", "inactive", "failed"):
            p = self.path(d, self.name)
            if os.path.islink(p):
                return os.readlink(p)
        bases = ([os.path.join(d, "init.d") for d in user_script_dirs()] if user_mode()
                 else ["/etc/init.d", "/usr/local/etc/init.d"])
        for base in bases:
            p = os.path.join(base, self.name)
            if os.path.exists(p):
                return p
        return None

    def mark(self, state):
        """rc_service_mark() for the states a supervisor sets:
        'stopped' (drops options/ and daemons/ as librc does), 'failed'."""
        init = self.init_script()
        if state != "stopped":
            if not init:
                return False
            p = self.path(state, self.name)
            _unlink(p)
            os.makedirs(self.path(state), exist_ok=True)
            os.symlink(init, p)
            if state in ("failed", "hotplugged"):
                return True
        for d in _STATE_DIRS:
            if d == state or d in ("hotplugged", "scheduled"):
                continue
            _unlink(self.path(d, self.name))
        _unlink(self.path("exclusive", self.name))
        if state == "stopped":
            _rmtree(self.path("options", self.name))
            _rmtree(self.path("daemons", self.name))
            self._options_made = False
        return True

    def gave_up(self):
        """What a supervisor leaves when respawn_max is reached: the service
        stopped (options/, child_pid among them, go with it) and failed."""
        self.mark("stopped")
        self.mark("failed")

    def is_marked(self, state):
        return os.path.lexists(self.path(state, self.name))

    # supervisor control files -------------------------------------------
    def fifo_path(self):
        return self.path("supervise-%s.ctl" % self.name)

    def notify_socket_path(self):
        return self.path("supervise-%s.sock" % self.name)


class RetryingWriter:
    """Values for options/SVC that never end supervision: a write that fails
    (a full /run: ENOSPC, a read-only one: EROFS) is said once in the log,
    kept (the newest value per key) and retried at ``retry_at``, 1 s after
    the failure and then doubling up to 60 s, or with the next write.
    OpenRC's C supervisor ignores a failed rc_service_value_set the same
    way; here the value also arrives once there is room.

    Only what changed is written, all of it in one call: a respawn in a
    crash storm repeats most of its values (start_time within the same
    second, last_exit, a health check's "ok"), and each value is an atomic
    file write.  A value counts as unchanged only if this writer wrote that
    very value successfully, and options/SVC is still the directory it
    wrote it into with nothing else added, renamed or removed there since
    (same inode and mtime: `rc-service SVC zap`, a supervisor giving up, a
    wiped /run/openrc or an `rm` of one file all change that).  Whatever
    cannot be told unchanged is written: a failed write forgets the values
    it carried, and a value changed in place behind our back (a truncating
    rewrite leaves the directory alone) is written again when it next
    changes.

    write(values) does the writing (ServiceState.set_many by default: the
    supervisor passes its system-call object's), now() is the clock.

    A crash loop is written at most once per GAP: set_many(values,
    hold=True) (a respawn's values) within GAP of the last successful
    write keeps them pending until GAP after it (``retry_at``; the loop
    flushes them then, or the next write without hold does, with its own).
    A daemon that exits at once is respawned hundreds of times a second,
    and each respawn's four changed values (child_pid, child_ident,
    start_count, restarts) are four atomic file writes: most of the
    supervisor's CPU in such a storm, for values that name a daemon
    already gone.  Held, they are at most GAP late; a respawn GAP or more
    after the last write (any daemon that ran that long) is written at
    once, as before."""

    FIRST, CAP = 1.0, 60.0
    GAP = 0.01
    # A value may be a function, called when the value is written (or read
    # with get): a held respawn's child_pid and child_ident, whose /proc
    # read is needed only for the daemon alive when the gap ends.  DROP from
    # it: nothing to write for that key (what is there stays).
    DROP = object()

    def __init__(self, state, now, log, write=None):
        self.state = state
        self.now = now
        self.log = log
        self.write = write or state.set_many
        self.pending = {}               # key -> str value, or None to remove
        self.written = {}               # key -> what our last successful write left there
        self._dir_seen = None           # options/SVC's identity right after that write
        self.retry_at = None
        self.delay = 0.0
        self.last_write = None          # now() at the last successful write
        self._unchecked = False         # pending holds values not compared with `written`

    # What a lean supervisor's worker hands on (handoff.lean_export): plain
    # values (a start holds no functions), none of them pages to keep.
    CARRIED = ("pending", "written", "_dir_seen", "retry_at", "delay", "last_write")

    def carried(self):
        return {k: getattr(self, k) for k in self.CARRIED}

    def carry_on(self, values):
        for k in self.CARRIED:
            setattr(self, k, values[k])

    def set(self, key, value):
        self.set_many({key: value})

    def set_many(self, values, hold=False):
        if hold and self._held():
            # Taken as given: flush() drops what is already there once it
            # has looked at options/SVC (no stat per respawn in a storm).
            for k, v in values.items():
                self.pending[k] = v if v is None or callable(v) else str(v)
            self._unchecked = True
            return
        if self.written and self._dir_identity() != self._dir_seen:
            self.written.clear()        # someone else changed options/SVC
        changed = False
        for k, v in values.items():
            if callable(v):
                v = v()
                if v is self.DROP:
                    continue
            v = None if v is None else str(v)
            if k not in self.pending and k in self.written and self.written[k] == v:
                continue
            self.pending[k] = v
            changed = True
        if self.pending and not changed and self.retry_at is not None and not self.delay:
            return                      # held: nothing new, it waits with the rest
        self.flush()

    def _held(self):
        """Does a respawn's write wait now: within GAP of the last write,
        or already waiting for the end of it?  (Not while writes fail:
        those are tried again with the next write.)"""
        if self.delay or self.last_write is None:
            return False
        if self.retry_at is None:
            due = self.last_write + self.GAP
            if self.now() >= due:
                return False
            self.retry_at = due         # a crash loop: written at the end of the gap
        return True

    def get(self, key, default=None):
        if key in self.pending:
            v = self.pending[key]
            if callable(v):
                v = v()
            if v is not self.DROP:
                return default if v is None else v
        return self.state.get(key, default)

    def _dir_identity(self):
        """(device, inode, mtime) of options/SVC, or None."""
        try:
            st = os.stat(self.state.options_dir())
        except (OSError, AttributeError, TypeError):
            return None
        return st.st_dev, st.st_ino, st.st_mtime_ns

    def flush(self):
        """Write what is pending; True once nothing is."""
        if self._unchecked:
            # Held values: what they are now, and what this writer knows is
            # there already is not written again, unless options/SVC
            # changed meanwhile.
            self._unchecked = False
            for k, v in list(self.pending.items()):
                if callable(v):
                    v = v()
                    if v is self.DROP:
                        del self.pending[k]
                    else:
                        self.pending[k] = None if v is None else str(v)
            if self.written and self._dir_identity() != self._dir_seen:
                self.written.clear()
            w = self.written
            for k in [k for k, v in self.pending.items() if k in w and w[k] == v]:
                del self.pending[k]
        if not self.pending:
            self.retry_at = None
            return True
        batch = dict(self.pending)
        try:
            self.write(batch)
        except OSError as e:
            # Some of the batch may have been written, some not: none of
            # it is known any more.
            for k in batch:
                self.written.pop(k, None)
            if not self.delay:
                self.log(3, "cannot write the service state (%s): %s; supervision goes on, "
                         "retrying" % (getattr(e, "filename", None) or self.state.path(),
                                       e.strerror or e))
            self.delay = min(self.CAP, self.delay * 2 or self.FIRST)
            self.retry_at = self.now() + self.delay
            return False
        if self.delay:
            self.log(5, "the service state is written again")
        self.written.update(batch)
        self._dir_seen = self._dir_identity()
        self.pending.clear()
        self.retry_at = None
        self.delay = 0.0
        self.last_write = self.now()
        return True
