"""The hand-offs of a supervisor's state to another process image.

1. The re-exec hand-off: what a supervisor passes to the fresh interpreter
it execs on SIGHUP, in one environment variable.

    OPENRC_SV_REEXEC=DAEMON_PID|CTL_FD,KEEP_FD|STREAMS|RESTARTS

STREAMS is logpipes' own export text (it never contains "|" at either end
that matters: it is split off by position, from both sides).  The producer
is Supervisor._reexec, the consumer daemonize.resume_supervisor: both use
encode()/decode() here.  Stdlib built-ins only.

2. The lean hand-off (leanstart): the worker that started a lean
supervisor's daemon passes the Supervisor it built to the supervisor, which
keeps it as bytes until its first event and only then builds its own
(daemonize.adopt_supervisor).  lean_export() in the worker: a small header
for the idle wait, the state (marshal bytes) and the fds to send
(SCM_RIGHTS); lean_adopt() in the supervisor.  The fds travel as a list:
the state names them by their place in it.
"""

import marshal

ENV = "OPENRC_SV_REEXEC"


def encode(daemon_pid, ctl_fds, streams, restarts):
    a, b = ctl_fds
    return "%d|%d,%d|%s|%d" % (daemon_pid, a, b, streams, restarts)


def decode(spec):
    """(daemon_pid, (ctl_fd, keep_fd), streams, restarts); ValueError if malformed."""
    pid_s, ctl_s, rest = spec.split("|", 2)
    streams, restarts = rest.rsplit("|", 1)
    fds = tuple(int(x) for x in ctl_s.split(","))
    if len(fds) != 2:
        raise ValueError("bad control fds in %s: %r" % (ENV, ctl_s))
    return int(pid_s), fds, streams, int(restarts)


def lean_export(sup, opts_line, env, argv):
    """(header, state bytes, respawn bytes or None, fds) of a Supervisor
    whose daemon has started.
    The header is what the lean supervisor needs while it waits: its
    service; the deadline (monotonic) and the places of the fds at which
    it wakes (with its signal pipe and the control fifo); the umask and
    directory it takes on at once, as the worker's Supervisor did
    (child.prepare_supervisor), where there are some; and the output it
    copies into files itself, (pipe, file, path) by place."""
    fds = [sup.ctl.fd, sup.ctl.keep_fd] + sup.out.inheritable_fds()
    files = {}
    for name, fd in sup.out.files().items():
        files[name] = len(fds)
        fds.append(fd)
    notify = None
    if sup.notify_sock is not None:
        notify = len(fds)
        fds.append(sup.notify_sock.fileno())
    place = {fd: i for i, fd in enumerate(fds)}
    polled = [place[fd] for fd in sup.out.poll_fds()]
    nfd = sup._notify_fd_polled()
    if nfd is not None:
        polled.append(notify)
    from . import child
    setup = sup._setup
    state = {
        "opts": opts_line, "env": env, "argv": list(argv),
        "pid": sup.pid, "restarts": sup.restarts,
        "started_at": sup.started_at, "spawned_at": sup.spawned_at,
        # The daemon's environment, if the start left only that (child.Prepared).
        "prepared": setup.env if isinstance(setup, child.Prepared) else False,
        "streams": _renumber(sup.out.export(), place.get),
        "files": files,
        # Where the worker's Supervisor publishes (read from rc.conf once).
        "textfile": (sup.prom.dir, sup.prom.service, sup.prom.backend) if sup.prom else None,
        "writer": sup.writer.carried(),
        "watchdog": dict(sup.watchdog.__dict__) if sup.watchdog else None,
        "notify": notify,
        "history": sup.history.astuple(),
    }
    from .logpipes import FILE
    header = {
        "svc": sup.o.svcname,
        "deadline": sup.next_deadline(),
        "poll": polled,
        "takes": child.supervisor_takes(sup.o),
        # What the lean supervisor copies itself (logpipes.copy_to_file):
        # its daemon's output into --stdout/--stderr files.
        "copy": [(place[s.r], files[s.name], s.path) for s in sup.out.streams if s.mode == FILE],
    }
    respawn = _lean_respawn(sup, place)
    return header, marshal.dumps(state), respawn and marshal.dumps(respawn), fds


def _lean_respawn(sup, place):
    """What the lean supervisor needs to respawn the daemon itself at its
    exit, before it builds its Supervisor (leanstart.respawn_first), and
    nothing more (it is all read before the respawn): the daemon's pid,
    start and environment (bytes: posix_spawn encodes str), the respawn
    policy's settings and history, the daemon's argv and its stdio (places
    of the fds, None for /dev/null, and whether stdin is a file to rewind).
    None where the respawn is more than a posix_spawn with the prepared
    environment (child.spawn's fast way): a watchdog, --notify, a Setup
    to build in a forked child; the full Supervisor then takes it all."""
    from . import child
    from .respawnpolicy import Settings
    setup, o = sup._setup, sup.o
    if not (isinstance(setup, child.Prepared) and setup.fast and sup.fast) or o.notify \
            or not o.argv[0].startswith("/"):
        return None
    # Each is sent (inheritable_fds, files): none is missing from place.
    stdin = sup.out.stdin_fd
    stdio = [place[fd] if fd is not None else None
             for fd in [stdin] + [s.w for s in sup.out.streams]]
    import os
    return {
        "pid": sup.pid, "started_at": sup.started_at,
        "env": {os.fsencode(k): os.fsencode(v) for k, v in setup.env.items()},
        "settings": tuple(getattr(sup.policy, k) for k in Settings.__slots__),
        "history": sup.history.astuple(),
        "argv": list(o.argv),
        "stdio": stdio,
        "rewind": stdin is not None,
    }



def lean_files(state, fds):
    """The daemon's files the worker opened, for the Supervisor that takes
    over (never opened again: see logpipes.OutputPipes)."""
    return {name: fds[i] for name, i in state["files"].items()}


def lean_children(state, early=None):
    """The daemon and loggers the worker started: the supervisor's children
    (early: the daemon was reaped, and maybe respawned, already)."""
    pids = [state["pid"]] if state["pid"] and early is None else []
    if early is not None and early.pid is not None:
        pids.append(early.pid)
    for part in state["streams"].split(";") if state["streams"] else []:
        logger = part.split(",")[2]
        if logger:
            pids.append(int(logger))
    return pids


def lean_adopt(sup, state, fds):
    """Make sup (built from the same options, lean_files given, its fast
    already decided) the worker's Supervisor."""
    from . import child
    from .respawnpolicy import History
    sup.out.adopt(_renumber(state["streams"], lambda i: fds[i]))
    sup.pid = state["pid"]
    sup.restarts = state["restarts"]
    sup.started_at = state["started_at"]
    sup.spawned_at = state["spawned_at"]
    sup.history = History(*state["history"])
    if state["prepared"] is not False:
        sup._setup = child.Prepared(sup._setup, state["prepared"], sup.fast)
    sup.writer.carry_on(state["writer"])
    if state["watchdog"] is not None and sup.watchdog is not None:
        sup.watchdog.__dict__.update(state["watchdog"])
    if state["notify"] is not None:
        import _socket
        sup.watch_notify(_socket.socket(fileno=fds[state["notify"]]))


def _renumber(streams, new):
    """logpipes' export text with each fd replaced by new(fd)."""
    parts = []
    for part in streams.split(";") if streams else []:
        r, w, pid = part.split(",")
        parts.append("%s,%s,%s" % ("" if r == "" else new(int(r)), "" if w == "" else new(int(w)), pid))
    return ";".join(parts)
