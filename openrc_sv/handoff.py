"""The re-exec hand-off: what a supervisor passes to the fresh interpreter
it execs on SIGHUP, in one environment variable.

    OPENRC_SV_REEXEC=DAEMON_PID|CTL_FD,KEEP_FD|STREAMS|RESTARTS

STREAMS is logpipes' own export text (it never contains "|" at either end
that matters: it is split off by position, from both sides).  The producer
is Supervisor._reexec, the consumer daemonize.resume_supervisor: both use
encode()/decode() here.  Stdlib built-ins only.
"""

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
