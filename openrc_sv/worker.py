"""Short-lived workers: the supervisor's heavy paths, run in a fork.

A supervisor lives as long as its service, so every page it writes stays
its own for that long; what costs it memory is not the idle loop (it
writes nothing) but code run once: the start (recording the supervisor,
building the daemon's setup, starting the daemon and its loggers, writing
the service state).  Respawns do not use workers: a worker's fork would
cost each one more time than it saves pages (Supervisor._in_worker).
Running Python code writes pages (reference
counts, the interpreter's specialised bytecode, new objects landing in
half-full pools) that the process forked from the fork server, or from
`--start`, shared until then.  In a worker those pages are written in a
copy that is gone when the worker exits.

run(job) forks a worker and waits for it: job(report) runs there, and each
report(line) comes back to the supervisor as one line.  The supervisor is a
child subreaper while the worker lives, so what the worker started (the
daemon, a logger) becomes the supervisor's own child when the worker exits:
the process tree is the one a supervisor that forked the daemon itself
would have, waitpid() reaps the daemon, and `child_pid` is our child.  Only
then does it stop being a subreaper, so that what the daemon leaves behind
later goes to init as before.

The waiting is short (the worker reports the daemon's pid as soon as it has
it, exec done, and exits after the state write) and safe:

  * a signal to the supervisor meanwhile (SIGTERM, the daemon's SIGCHLD) is
    queued on its wakeup fd and handled by the loop right after;
  * a daemon that exits before the worker does is the worker's zombie, and
    the supervisor's once the worker exits: the loop reaps it as the daemon,
    whose pid it learnt from the report;
  * a worker that dies without a word (only root can kill it) is a failed
    start; whatever it had started by then is an unknown child of ours,
    reaped by the loop like any other.

A job's exception comes back as WorkerError with its message (a SpawnError's
one line: "unable to exec ...").  Where the kernel or the interpreter cannot
make us a subreaper, jobs run in-process (as before workers existed).

Workers pay off in a process that shares its pages with the one it was
forked from: a supervisor forked by the fork server.  One forked by
`--start` itself owns every page of that interpreter anyway, and loading
_ctypes for the subreaper call would cost it about 0.5 MB more: it runs
its jobs in-process (System(workers=False)).  prepare() builds the
subreaper call ahead, in the fork server, so that its supervisors share it.
"""

import os

from . import sigs as signal
from . import subreaper
from .errors import UserError


def prepare():
    """Build the subreaper call now: the fork server, before it forks
    supervisors, so that they share it.  True if workers can be used."""
    return subreaper.prepare()


class WorkerError(Exception):
    pass


def run(job):
    """job(report) in a worker; returns the reported lines (list of str).
    Raises WorkerError(message, lines reported before) if the job raised,
    or if the worker died without reporting anything."""
    # Without the subreaper (a seccomp filter may forbid prctl) the daemon
    # would go to init, out of our waitpid(): no worker then.
    if not subreaper.prepare() or not subreaper.set(True):
        return inline(job)
    try:
        r, w = os.pipe2(os.O_CLOEXEC)
        try:
            pid = os.fork()
        except OSError:
            os.close(r)
            os.close(w)
            raise
        if pid == 0:                                    # the worker
            try:
                os.close(r)
                # The supervisor's wakeup fd is shared: our own signals
                # (our children's SIGCHLD) must not land there.
                signal.set_wakeup_fd(-1)
                job(lambda line: _write(w, line))
            except BaseException as e:
                _write(w, "!" + message(e))
            finally:
                os._exit(0)
        os.close(w)
        data = _read_all(r)
        status = reap(pid)
    finally:
        subreaper.set(False)
    if not data:
        raise WorkerError("the supervisor's worker died (wait status %d)" % status, [])
    return _lines(data)


def inline(job):
    """The same, in this process (no subreaper; the unit tests' fakes)."""
    out = []
    try:
        job(out.append)
    except Exception as e:
        out.append("!" + message(e))
    return _check(out)


def message(e):
    """An error as the one line --start prints: a UserError's or a
    SpawnError's text, an OSError as "FILE: reason"."""
    if isinstance(e, UserError):
        return e.message
    if isinstance(e, OSError) and e.strerror:
        where = getattr(e, "filename", "") or ""
        return "%s: %s" % (where, e.strerror) if where else e.strerror
    return str(e) or type(e).__name__


def _lines(data):
    lines = data.decode(errors="replace").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return _check(lines)


def _check(lines):
    for line in lines:
        if line.startswith("!"):
            raise WorkerError(line[1:], lines[:lines.index(line)])
    return lines


def _write(fd, line):
    # One line per report: a newline inside (an exec error never has one,
    # but a message may) must not split it.
    os.write(fd, line.replace("\n", " ").encode(errors="replace") + b"\n")


def _read_all(fd):
    chunks = []
    try:
        while True:
            data = os.read(fd, 4096)
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(fd)
    return b"".join(chunks)


def reap(pid):
    """pid's wait status (-1: not ours to wait for)."""
    try:
        return os.waitpid(pid, 0)[1]
    except ChildProcessError:
        return -1
