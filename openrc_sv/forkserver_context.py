"""What a supervisor forked by the fork server takes on from the process
that asked for it, so that neither it nor its daemon can tell that it was
not forked by `supervise-daemon --start` itself.

openrc-run prepares its own process before it calls supervise-daemon: it
applies rc_ulimit, moves itself into the service's cgroup, and it runs with
whatever nice, I/O priority, OOM score, CPU affinity and umask the caller
of rc-service had.  A supervisor forked by `--start` inherits all of that;
one forked by the server would inherit the server's.  So the supervisor's
worker (leanstart) reads the requester's context, makes the supervisor
take it on (apply_to, take_own) and takes it on itself before the daemon
starts.

Who says what.  The server reads everything the kernel can tell it about
the requester from /proc/PID (the pid from SO_PEERCRED, whose uid must be
the server's own): cgroups, rlimits (prlimit), nice, scheduling policy, I/O
priority, OOM score, CPU affinity, umask, groups, gids, ignored signals,
loginuid and the working directory (opened through /proc/PID/cwd, so it is
the same directory even where its path is not reachable).  The pid is
checked against its start time before and after the reading, so a pid
recycled in between cannot lend us another process's context.  Only the
environment (/proc/PID/environ is the one at exec, not the current one) and
the request itself come from the client, and the requester is root (or,
for a user's server, the user) who could run the supervisor itself anyway.

What cannot be carried over by a fork: a seccomp filter, no_new_privs,
capability sets, an LSM label, other namespaces, another uid.  For those
the client does not use the server (why_not, checked by the client against
the server's pid before it sends anything, and again by the server), and
`--start` forks the supervisor itself, as without a server.
"""

import os

# Lines of /proc/PID/status that must be equal for a fork to be faithful.
_MUST_MATCH = ("Uid", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb",
               "NoNewPrivs", "Seccomp", "Seccomp_filters")


def _read(path, binary=False):
    try:
        with open(path, "rb" if binary else "r") as f:
            return f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    except OSError as e:                   # EINVAL: attr/current with no LSM
        return None if e.errno == 22 else e


def status(pid):
    """/proc/PID/status as {field: value}, or {} if the process is gone."""
    text = _read("/proc/%d/status" % pid)
    if not isinstance(text, str):
        return {}
    out = {}
    for line in text.splitlines():
        k, _, v = line.partition(":")
        out[k] = v.strip()
    return out


def _namespaces(pid):
    ns = {}
    try:
        names = os.listdir("/proc/%d/ns" % pid)
    except OSError:
        return None
    for n in names:
        try:
            ns[n] = os.readlink("/proc/%d/ns/%s" % (pid, n))
        except OSError:
            return None
    return ns


def why_not(requester, server):
    """None if a supervisor forked from `server` can be made the same as one
    forked by `requester`; else the reason it cannot, in a few words."""
    if requester <= 0 or server <= 0:
        return "the other process is not in our pid namespace"
    rs, ss = status(requester), status(server)
    if not rs or not ss:
        return "cannot read /proc/PID/status"
    if rs.get("Seccomp", "0") != "0":
        return "a seccomp filter (Seccomp %s)" % rs["Seccomp"]
    if rs.get("NoNewPrivs", "0") != "0":
        return "no_new_privs is set"
    for k in _MUST_MATCH:
        if rs.get(k) != ss.get(k):
            return "%s differs (%s, server %s)" % (k, rs.get(k), ss.get(k))
    rl = _read("/proc/%d/attr/current" % requester, True)
    sl = _read("/proc/%d/attr/current" % server, True)
    if isinstance(rl, OSError) or isinstance(sl, OSError) or rl != sl:
        return "the LSM label differs"
    rn, sn = _namespaces(requester), _namespaces(server)
    if rn is None or sn is None:
        return "cannot read /proc/PID/ns"
    for n in sorted(set(rn) | set(sn)):
        if rn.get(n) != sn.get(n):
            return "another %s namespace" % n
    return None


# -- the server reads the requester's context -----------------------------------

_syscall = None         # libc's syscall(), made once (ctypes builds a class per CDLL)


def _ioprio_syscall(get):
    import platform
    from .privs import _IOPRIO_SET
    nr = _IOPRIO_SET.get(platform.machine())
    # ioprio_get is ioprio_set + 1 on every architecture in the table.
    return None if nr is None else nr + (1 if get else 0)


def ioprio(pid):
    """ioprio_get(IOPRIO_WHO_PROCESS, pid), or None where we cannot ask."""
    nr = _ioprio_syscall(True)
    if nr is None:
        return None
    global _syscall
    if _syscall is None:
        import ctypes
        _syscall = ctypes.CDLL(None, use_errno=True).syscall
    v = _syscall(nr, 1, pid)
    return None if v < 0 else v


def _rlimits():
    import resource
    return sorted((n, getattr(resource, n)) for n in dir(resource) if n.startswith("RLIMIT_"))


def _cgroups(pid):
    """{hierarchy "ID:CONTROLLERS": path} from /proc/PID/cgroup."""
    text = _read("/proc/%d/cgroup" % pid)
    if not isinstance(text, str):
        raise OSError("cannot read /proc/%d/cgroup" % pid)
    out = {}
    for line in text.splitlines():
        hid, ctrl, path = line.split(":", 2)
        out[hid + ":" + ctrl] = path
    return out


class Context:
    """The requester's process context, read by the supervisor's worker;
    apply() makes it the worker's own, apply_to(pid) and take_own() the
    supervisor's.

    The worker compares it with its own (which is the supervisor's, until
    they take it on) here, so that applying only makes the changes: every
    reading and comparing run in the supervisor would write pages it shared
    with the server, which would stay its own for the life of the
    service."""

    def __init__(self, pid, fallback_umask):
        import resource
        from . import procinfo
        ident = procinfo.identity(pid)
        if ident is None:
            raise OSError("the requester is gone")
        st = status(pid)
        cgroups = _cgroups(pid)
        rlimits = [(name, res, resource.prlimit(pid, res)) for name, res in _rlimits()]
        nice = os.getpriority(os.PRIO_PROCESS, pid)
        policy = os.sched_getscheduler(pid)
        sched_priority = os.sched_getparam(pid).sched_priority
        prio = ioprio(pid)
        oom = _read("/proc/%d/oom_score_adj" % pid)
        affinity = os.sched_getaffinity(pid)
        self.umask = int(st["Umask"], 8) if "Umask" in st else fallback_umask
        gids = [int(g) for g in st["Gid"].split()[:3]]
        groups = sorted(int(g) for g in st.get("Groups", "").split())
        sigign = int(st.get("SigIgn", "0"), 16)
        login = _read("/proc/%d/loginuid" % pid)
        self.cwd_fd = os.open("/proc/%d/cwd" % pid, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        # Everything above is the requester's only if it is still the same
        # process: a pid recycled in between must not lend us its context.
        if procinfo.identity(pid) != ident:
            os.close(self.cwd_fd)
            raise OSError("the requester is gone")

        # What differs from this process: the steps, in apply()'s order.
        me = os.getpid()
        mine = _cgroups(me)
        joins = [(hier, path) for hier, path in cgroups.items() if mine.get(hier) != path]
        self.cgroup_files = []
        if joins:
            mounts = _cgroup_mounts()
            for hier, path in joins:
                where = _cgroup_dir(mounts, hier, path)
                if where is None:
                    raise OSError(2, "no mount of cgroup hierarchy %s for %s" % (hier, path))
                self.cgroup_files.append(os.path.join(where, "cgroup.procs"))
        self.groups = groups if sorted(os.getgroups()) != groups else None
        self.gids = gids if list(os.getresgid()) != gids else None
        self.rlimits = [(name, res, value) for name, res, value in rlimits
                        if resource.getrlimit(res) != value]
        self.sched = ((policy, sched_priority)
                      if (os.sched_getscheduler(0), os.sched_getparam(0).sched_priority)
                      != (policy, sched_priority) else None)
        self.nice = nice if os.getpriority(os.PRIO_PROCESS, 0) != nice else None
        self.ioprio = prio if prio is not None and ioprio(me) != prio else None
        oom = oom.strip() if isinstance(oom, str) else None
        self.oom_score_adj = (oom if oom is not None
                              and _read("/proc/self/oom_score_adj") != oom + "\n" else None)
        self.affinity = affinity if os.sched_getaffinity(0) != affinity else None
        login = login.strip() if isinstance(login, str) else None
        mylogin = _read("/proc/self/loginuid")
        self.loginuid = (login if login is not None
                         and (mylogin.strip() if isinstance(mylogin, str) else None) != login
                         else None)
        self.signals = []
        from . import sigs
        for s in range(1, sigs.NSIG):
            if s in (sigs.SIGKILL, sigs.SIGSTOP):
                continue
            want = bool(sigign & (1 << (s - 1)))
            try:
                if want != (sigs.getsignal(s) == sigs.SIG_IGN):
                    self.signals.append((s, sigs.SIG_IGN if want else sigs.SIG_DFL))
            except (OSError, ValueError):
                pass                    # signals the C library keeps for itself

    def close(self):
        os.close(self.cwd_fd)

    def apply(self):
        """In the forked supervisor (or its worker): become the requester's
        twin, making only the changes the server found.  Raises OSError
        naming the step that failed (the client is then told no, and forks
        the supervisor itself)."""
        self.apply_to(0)
        take_own(self.own(), self.cwd_fd)

    def apply_to(self, pid):
        """The changes one process can make for another: process pid (0:
        this one) joins the requester's cgroups and takes on its limits,
        scheduling, nice, I/O priority, OOM score and CPU affinity.  The
        lean supervisor's worker makes them for the supervisor (leanstart),
        which has only to take on the rest (take_own)."""
        import resource
        step = "cgroup"
        try:
            for path in self.cgroup_files:  # first: cpuset bounds the affinity below
                _write(path, b"%d" % pid, os.O_NOFOLLOW)   # 0: the writing process
            for name, res, value in self.rlimits:   # before nice: RLIMIT_NICE allows it
                step = name
                resource.prlimit(pid, res, value)
            step = "scheduling policy"
            if self.sched is not None:
                os.sched_setscheduler(pid, self.sched[0], os.sched_param(self.sched[1]))
            step = "nice"
            if self.nice is not None:
                os.setpriority(os.PRIO_PROCESS, pid, self.nice)
            step = "ionice"
            if self.ioprio is not None:
                from .privs import set_ionice
                set_ionice(self.ioprio >> 13, self.ioprio & 0x1fff, pid)
            step = "oom_score_adj"
            if self.oom_score_adj is not None:
                _write("/proc/%s/oom_score_adj" % (pid or "self"), self.oom_score_adj.encode())
            step = "affinity"
            if self.affinity is not None:
                os.sched_setaffinity(pid, self.affinity)
        except OSError as e:
            raise OSError(e.errno, "%s: %s" % (step, e.strerror or e)) from None

    def own(self):
        """What only a process can do for itself, for take_own (plain
        values: marshal carries them to the lean supervisor)."""
        return (self.groups, self.gids, self.loginuid, self.signals, self.umask)


def take_own(own, cwd_fd, leave=()):
    """Take on the requester's groups, login uid, ignored signals (but those
    in leave: a supervisor's own handlers), umask and working directory
    (cwd_fd, closed): Context.own(), here.  Module-level imports and
    _signal only (nothing here may build what the server did not: the lean
    supervisor runs it)."""
    import _signal
    groups, gids, loginuid, signals, umask = own
    step = "groups"
    try:
        if groups is not None:
            os.setgroups(groups)
        if gids is not None:
            os.setresgid(*gids)
        step = "loginuid"
        if loginuid is not None:
            _write("/proc/self/loginuid", loginuid.encode())
        step = "signals"
        for s, how in signals:
            if s in leave:
                continue
            try:
                _signal.signal(s, how)
            except (OSError, ValueError):
                pass                # as the server found: the C library's own
        step = "umask"
        os.umask(umask)
        step = "working directory"
        os.fchdir(cwd_fd)
        os.close(cwd_fd)
    except OSError as e:
        raise OSError(e.errno, "%s: %s" % (step, e.strerror or e)) from None


def _write(path, data, flags=0):
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC | flags)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def _cgroup_mounts():
    """[(kind, options set, root within the hierarchy, mount point)] of the
    cgroup file systems in this mount namespace."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            pre, _, post = line.partition(" - ")
            fields, tail = pre.split(), post.split()
            if len(tail) < 3 or tail[0] not in ("cgroup", "cgroup2"):
                continue
            unescape = lambda s: s.replace("\\040", " ").replace("\\011", "\t") \
                .replace("\\012", "\n").replace("\\134", "\\")           # noqa: E731
            out.append((tail[0], set(tail[2].split(",")), unescape(fields[3]), unescape(fields[4])))
    return out


def _cgroup_dir(mounts, hier, path):
    """The directory of cgroup `path` of hierarchy `hier` ("ID:CONTROLLERS"
    as /proc/PID/cgroup names it), through a mount that shows it, or None."""
    hid, ctrl = hier.split(":", 1)
    for kind, opts, root, point in mounts:
        if hid == "0" and ctrl == "":
            if kind != "cgroup2":
                continue
        elif kind != "cgroup" or not set(ctrl.split(",")) <= opts:
            continue
        if root == "/" or path == root or path.startswith(root.rstrip("/") + "/"):
            rel = path[len(root.rstrip("/")):] if root != "/" else path
            return point + rel if rel not in ("", "/") else point
    return None
