"""Starting a process the way supervise-daemon starts its daemon.

spawn() forks; the child sets up its process state in OpenRC's order
(session, nice, ionice, oom score, chroot, chdir, groups, gid, uid,
capabilities, no_new_privs, umask, environment, stdio) and execs.  If any
step or the exec fails, the child writes the reason into a close-on-exec
pipe and the parent raises SpawnError with it: a command that cannot run
is an error at `--start`, never a respawn loop (the way CPython's
subprocess reports exec failures).

When the daemon needs none of that beyond a new session, signals reset and
its stdio (the common case), spawn() uses posix_spawn(3) instead: glibc
does it with vfork, without copying the supervisor's page tables or
running Python in the child, and reports an exec failure as an error just
the same.  That halves the cost of a respawn.  The supervisor prepares for
it: its own umask and working directory are the daemon's
(prepare_supervisor), and every fd it holds is close-on-exec.
"""

import os

from . import sigs as signal

# Variables openrc-run and start-stop-daemon use among themselves; the
# daemon must not see them (OpenRC's child_process() drops the same ones).
_SCRUB_PREFIXES = ("RC_", "SSD_", "EINFO_")
_SCRUB_NAMES = ("SVCNAME", "OPENRC_SV_REEXEC")


class SpawnError(Exception):
    pass


class Setup:
    """The process state one child gets.  Built once from the options."""

    def __init__(self, opts, libexecdir=None):
        self.chroot = opts.chroot
        self.chdir = opts.chdir
        self.user = opts.user                  # (uid, gid, name, home) or None
        self.group = opts.group                # --group alone: only the gid changes
        self.umask = 0o022 if opts.umask is None else opts.umask
        self.nicelevel = opts.nicelevel
        self.ionice = opts.ionice
        self.oom_score_adj = opts.oom_score_adj
        self.capabilities = opts.capabilities
        self.secbits = opts.secbits
        self.no_new_privs = opts.no_new_privs
        # OpenRC's C supervisor opens a PAM session whenever --user is
        # given (see pam.py); --group alone does not.
        self.pam = opts.user is not None
        if libexecdir is None:
            from .rcstate import libexecdir as found
            libexecdir = found()
        self.libexecdir = libexecdir
        self.env = self._environment(opts.env, libexecdir)
        # Set by prepare_supervisor() once this process's cwd and umask are
        # the daemon's: then posix_spawn can do the rest.
        self.fast = False

    def needs_fork(self):
        """Anything posix_spawn cannot do for us."""
        return needs_fork(self)

    def _environment(self, assignments, libexecdir):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(_SCRUB_PREFIXES) and k not in _SCRUB_NAMES}
        if "LC_CTYPE" in env and not environ_as_given and not _given_at_exec("LC_CTYPE"):
            # Python itself set it (PEP 538: a C locale is coerced to
            # C.UTF-8, even under -I): the daemon must not inherit our
            # interpreter's choice.
            del env["LC_CTYPE"]
        if "PATH" in env:
            env["PATH"] = _without_libexec(env["PATH"], libexecdir)
        if self.user:
            env["USER"] = env["LOGNAME"] = self.user[2]
            env["HOME"] = self.user[3]
        elif "HOME" not in env or "USER" not in env:
            # openrc-run may not pass them; OpenRC fills them in from the
            # password file, and daemons rely on HOME.
            import pwd
            try:
                pw = pwd.getpwuid(os.getuid())
                env.setdefault("USER", pw.pw_name)
                env.setdefault("HOME", pw.pw_dir)
            except KeyError:
                pass
        for name, value in assignments:
            env[name] = value
        return env

    def add_pam_environment(self, pam_env):
        """PAM's variables go over everything else (--env, HOME, USER), as
        in OpenRC, whose PATH filter then runs on the result."""
        for name, value in pam_env:
            if value is None:
                self.env.pop(name, None)
            else:
                self.env[name] = value
        if "PATH" in self.env:
            self.env["PATH"] = _without_libexec(self.env["PATH"], self.libexecdir)


class Prepared:
    """What a supervisor keeps to respawn its daemon without a Setup of its
    own (building one writes pages that would stay the supervisor's): the
    daemon's environment, which is all posix_spawn needs (fast), and a
    function that builds the Setup, which spawn() calls in the forked
    child when more is needed (a user, a chroot, nice ...)."""

    def __init__(self, make, env, fast):
        self.make = make
        self.env = env
        self.fast = fast and env is not None


def needs_fork(o):
    """Anything posix_spawn cannot do for us.  o: a Setup, or the options
    it is built from (the same names): the supervisor decides this without
    building a Setup, which only its workers do."""
    return bool(o.chroot or o.user or o.group is not None
                or o.nicelevel is not None or o.ionice is not None
                or o.oom_score_adj is not None or o.capabilities
                or o.secbits is not None or o.no_new_privs)


def _without_libexec(path, libexecdir):
    """PATH without OpenRC's own bin/ and sbin/, as OpenRC's child gets it."""
    drop = (libexecdir + "/bin", libexecdir + "/sbin")
    return ":".join(p for p in path.split(":") if p and p not in drop)


# True in a supervisor forked by the fork server: its environment is the
# request's, from which the client interpreter's own LC_CTYPE was taken out
# already (leanstart.without_coerced_locale), and /proc/self/environ is the
# server's, which says nothing about the request.
environ_as_given = False


def _given_at_exec(name):
    """Was `name` in the environment this process was started with?
    /proc/self/environ holds it as exec() gave it, before any setenv()."""
    try:
        with open("/proc/self/environ", "rb") as f:
            return any(item.startswith(name.encode() + b"=") for item in f.read().split(b"\0"))
    except OSError:
        return True     # cannot tell: keep it


def _reset_signals():
    # _SIGDEF's signals, as posix_spawn resets them: the interpreter ignores
    # SIGXFSZ from its start, and an ignored signal stays ignored across
    # exec (a daemon writing past RLIMIT_FSIZE must die of it, as under C).
    signal.set_wakeup_fd(-1)
    for s in _SIGDEF:
        signal.signal(s, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, set())


def apply(setup, step_report):
    """Everything between fork and exec, in OpenRC's order (also run in
    place by openrc_sv.daemon_exec)."""
    step_report[0] = "setsid"
    try:
        os.setsid()
    except PermissionError:
        # Already a process group leader (runsv makes ./run one): it is
        # the group a stopgroup signal reaches all the same.
        if os.getpgrp() != os.getpid():
            raise
    if setup.nicelevel is not None:
        step_report[0] = "nicelevel %d" % setup.nicelevel
        os.setpriority(os.PRIO_PROCESS, 0, setup.nicelevel)
    if setup.ionice is not None:
        step_report[0] = "ionice %d:%d" % setup.ionice
        from . import privs
        privs.set_ionice(*setup.ionice)
    if setup.oom_score_adj is not None:
        step_report[0] = "oom_score_adj %d" % setup.oom_score_adj
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("%d\n" % setup.oom_score_adj)
    if setup.pam:
        _open_pam_session(setup, step_report)
    groups = None
    if setup.user:
        step_report[0] = "getgrouplist %s" % setup.user[2]
        groups = os.getgrouplist(setup.user[2], setup.user[1])
    if setup.chroot:
        step_report[0] = "chroot '%s'" % setup.chroot
        os.chroot(setup.chroot)
        os.chdir("/")
    if setup.chdir:
        step_report[0] = "chdir '%s'" % setup.chdir
        os.chdir(setup.chdir)
    if setup.capabilities or setup.secbits is not None or setup.no_new_privs:
        from . import privs
    if setup.user:
        uid, gid = setup.user[0], setup.user[1]
        step_report[0] = "setgid %d" % gid
        os.setgid(gid)
        step_report[0] = "setgroups"
        os.setgroups(groups)
        if setup.capabilities:
            step_report[0] = "capabilities"
            privs.before_setuid(setup.capabilities)
        step_report[0] = "setuid %d" % uid
        # setuid() as root sets real, effective and saved ids: the daemon
        # cannot regain root.
        os.setuid(uid)
    else:
        if setup.group is not None:
            step_report[0] = "setgid %d" % setup.group
            os.setgid(setup.group)
        if setup.capabilities:
            privs.before_setuid(setup.capabilities)
    if setup.capabilities:
        step_report[0] = "capabilities"
        privs.after_setuid(setup.capabilities)
    if setup.secbits is not None:
        step_report[0] = "secbits %#x" % setup.secbits
        privs.prctl(privs.PR_SET_SECUREBITS, setup.secbits)
    if setup.no_new_privs:
        step_report[0] = "no_new_privs"
        privs.prctl(privs.PR_SET_NO_NEW_PRIVS, 1)
    os.umask(setup.umask)


def _open_pam_session(setup, step_report):
    # Where OpenRC 0.63 does it: before groups, chroot and ids change, so
    # the host's /etc/pam.d and modules are used and modules run as root.
    # OpenRC passes --user as typed, a number too; we pass the account's
    # name, which is what PAM modules and limits.conf look up.
    from . import pam
    step_report[0] = "load libpam"
    loaded = pam.load()
    step_report[0] = "open PAM session '%s' for user '%s'" % (pam.SERVICE, setup.user[2])
    setup.add_pam_environment(pam.open_session(loaded, setup.user[2]))


def close_on_exec():
    """Mark every fd above 2 close-on-exec: nothing this process inherited
    reaches a program it starts with posix_spawn."""
    for fd in _open_fds():
        if fd > 2:
            try:
                os.set_inheritable(fd, False)
            except OSError:
                pass


def prepare_supervisor(o):
    """Make this (supervisor) process fit for posix_spawn: take on the
    daemon's umask and directory, and make every inherited fd close-on-exec
    (openrc-run may leave its lock on the service open, as OpenRC's own
    supervisor knows: it marks them all too).  o: the options or a Setup.
    Returns whether posix_spawn can start the daemon (Setup.fast); a
    Setup passed in is marked."""
    close_on_exec()
    taken = supervisor_takes(o)
    if taken is None:
        return False
    os.umask(taken[0])
    if taken[1]:
        os.chdir(taken[1])          # raises: reported as a failed start
    if isinstance(o, Setup):
        o.fast = True
    return True


def supervisor_takes(o):
    """(umask, directory or None) the supervisor takes on from its daemon,
    so that posix_spawn passes them on; None if posix_spawn will not do."""
    if needs_fork(o):
        return None
    return (0o022 if o.umask is None else o.umask), o.chdir


# Signals the supervisor handles or ignores: the daemon gets them default.
_SIGDEF = {signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1,
           signal.SIGQUIT, signal.SIGPIPE, signal.SIGALRM, signal.SIGXFSZ}


def _posix_spawn(setup, argv, stdio, keep_fds, extra_env):
    actions = [(os.POSIX_SPAWN_DUP2, src, target)
               for target, src in list(zip((0, 1, 2), stdio)) + list(dict(keep_fds).items())]
    env = setup.env if not extra_env else dict(setup.env, **extra_env)
    try:
        return os.posix_spawn(argv[0], argv, env, file_actions=actions, setsid=True,
                              setsigdef=_SIGDEF, setsigmask=())
    except OSError as e:
        raise SpawnError("unable to exec '%s': %s" % (argv[0], e.strerror))


def spawn(setup, argv, stdio, keep_fds=(), extra_env=None):
    """Start argv with setup applied; returns the pid.

    stdio is (stdin, stdout, stderr) file descriptors; keep_fds maps
    target fd -> source fd to pass on (the --notify fd).  Raises SpawnError
    with the reason when the child could not exec.
    """
    # dup2(fd, fd) would keep an fd close-on-exec: such sources go the slow way.
    srcs = list(stdio) + list(dict(keep_fds).values())
    if setup.fast and argv[0].startswith("/") and min(srcs) > 2:
        return _posix_spawn(setup, argv, stdio, keep_fds, extra_env)
    r, w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        step = ["fork"]
        try:
            os.close(r)
            _reset_signals()
            if isinstance(setup, Prepared):
                step[0] = "prepare the daemon's setup"
                setup = setup.make()
            apply(setup, step)
            step[0] = "redirect stdio"
            # Move every fd we pass on above the range we dup into, so that
            # no dup2() below overwrites one still to be used.
            srcs = [os.dup(fd) for fd in stdio] + [os.dup(fd) for fd in dict(keep_fds).values()]
            for target, src in zip((0, 1, 2), srcs[:3]):
                os.dup2(src, target)
            for (target, _), src in zip(dict(keep_fds).items(), srcs[3:]):
                os.dup2(src, target)
            keep = {0, 1, 2, w} | set(dict(keep_fds))
            for fd in _open_fds():
                if fd not in keep:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
            env = setup.env if not extra_env else dict(setup.env, **extra_env)
            step[0] = "exec '%s'" % argv[0]
            try:
                os.execvpe(argv[0], argv, env)
            except OSError:
                if setup.pam:
                    from . import pam
                    pam.close_session()
                raise
        except BaseException as e:
            reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            try:
                os.write(w, ("unable to %s: %s" % (step[0], reason)).encode())
            finally:
                os._exit(127)
    os.close(w)
    chunks = []
    while True:
        try:
            data = os.read(r, 4096)
        except InterruptedError:
            continue
        if not data:
            break
        chunks.append(data)
    os.close(r)
    if chunks:
        while True:
            try:
                os.waitpid(pid, 0)
                break
            except InterruptedError:
                continue
            except ChildProcessError:
                break
        raise SpawnError(b"".join(chunks).decode(errors="replace"))
    return pid


def kill_and_reap(pid):
    """SIGKILL a child we started in its own session (and all it started),
    and reap it."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def _open_fds():
    try:
        return [int(n) for n in os.listdir("/proc/self/fd")]
    except OSError:
        return list(range(3, 1024))
