"""The native backend: our own supervise-daemon, one per service.

Exactly what `supervisor=supervise-daemon` does with our drop-in in place:
start runs ``supervise-daemon SVC --start OPTIONS CMD -- ARGS`` with the
options /lib/rc/sh/supervise-daemon.sh would build from the same variables,
stop runs ``supervise-daemon SVC --stop``, signal ``--signal N``.  The
difference is only in how the command line is built: from the validated
model, as an argv list, never through the shell's eval, so every value
reaches the daemon as the word it was.

There are no files to render: render() returns an empty list, and
describe() gives the command line start would run (shown by
`openrc-sv render`).

The supervisor we run is ours, never /sbin/supervise-daemon, which is
OpenRC's C program.  It runs in this very process: start, stop and signal
call our supervise-daemon's main() with the words the command line would
have, so that the runscript plugin's every start and stop pays for one
interpreter, not two (issue 10: a second `python -I -S` and its imports
were a third of a plugin start).  What it would have printed on stderr is
taken and reworded here, as it was from the separate process.

`--start` forks the supervisor from this process (or asks the fork server,
which forks it from its own): a supervisor forked here keeps the pages of
this interpreter, which has loaded the model's code on top of
supervise-daemon's.  That is why this path imports so little (no
dataclasses, typing, subprocess, re; record.py, options.in_variables).
"""

import os
import sys
import time

from .. import convert, procinfo
from ..errors import UserError
from ..rcstate import ServiceState
from .base import (DOWN_REASON_KEY, HEALTH_FAILURES_KEY, HEALTH_RUNS_KEY, WATCHDOG_MISSES_KEY,
                   Backend, Status)
from .model import resolve_command
from .options import in_variables, start_options


def supervise_daemon_argv():
    """How to run our supervise-daemon as a program of its own: a lean
    interpreter (see launcher).  What a supervisor re-executes on SIGHUP;
    the backend itself calls it in-process (run_supervise_daemon)."""
    from .. import launcher
    return launcher.argv()


class _Said:
    """sys.stderr while our supervise-daemon runs in this process: keeps
    what it writes (see _in_child for a process forked meanwhile)."""

    def __init__(self, real):
        self.real = real
        self.parts = []

    def write(self, text):
        self.parts.append(text)
        return len(text)

    def flush(self):
        pass

    def lines(self):
        return "".join(self.parts).splitlines()


def _in_child(said, title):
    """In the supervisor `--start` forks (supervise_daemon's in_child), at
    once: the real stderr back (it detaches onto /dev/null and must not
    keep writing into our list), and the command line a supervisor shows,
    `... supervise-daemon SVC --start ...` (proctitle), not ours."""
    if said is not None and sys.stderr is said:
        sys.stderr = said.real
    if title:
        from .. import proctitle
        # At least up to the service's name, what ps and supervisor_alive
        # look for: `... supervise-daemon SVC`.  Where our interpreter's
        # words do not fit (`openrc-sv start SVC` typed by hand has a short
        # argument area), the bare name does, as OpenRC's own shows.
        lead = len(supervise_daemon_argv())
        if not proctitle.set_words(title, need=lead + 1):
            proctitle.set_words(["supervise-daemon"] + title[lead:], need=2)


def run_supervise_daemon(words, env, capture=False):
    """Our supervise-daemon's main(words) in this process, with the
    environment changes env (name -> value) made for its run only.
    Returns its exit status, or with capture=True (exit status, the lines
    it wrote on stderr)."""
    from .. import supervise_daemon
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    said = None
    if capture:
        said = _Said(sys.stderr)
        sys.stderr = said
    title = supervise_daemon_argv() + list(words) if "--start" in words[:2] else None
    try:
        rc = supervise_daemon.main(list(words), in_child=lambda: _in_child(said, title))
    finally:
        if said is not None:
            sys.stderr = said.real
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    rc = rc or 0
    return (rc, said.lines()) if capture else rc


class NativeBackend(Backend):
    name = "native"
    # In user mode supervise-daemon runs as the user, with its pidfile,
    # control fifo, lock and record in the user's service dir.
    user_services = True

    # -- what we would run ---------------------------------------------------
    def start_words(self, command=None):
        """Everything after the program name: SVC --start OPTIONS CMD -- ARGS."""
        m = self.model
        return [m.service, "--start"] + start_options(m) + [command or m.command, "--"] + list(m.args)

    def render(self):
        return []

    def describe(self):
        """The start command line as one shell-quoted line (`openrc-sv render`)."""
        import shlex
        return "RC_SVCNAME=%s %s" % (shlex.quote(self.model.service),
                                     shlex.join(["supervise-daemon"] + self.start_words()))

    def _env(self):
        """What the environment must say while supervise-daemon runs: the
        service, as openrc-run says it (the same values inside it)."""
        env = {"RC_SVCNAME": self.model.service, "SVCNAME": self.model.service}
        if self.model.script:
            env["RC_SERVICE"] = self.model.script
        return env

    def _run(self, words, errors=False):
        """Exit status, or with errors=True (exit status, what it said on
        stderr reworded to name variables, not options)."""
        if not errors:
            return run_supervise_daemon(words, self._env())
        rc, lines = run_supervise_daemon(words, self._env(), capture=True)
        said = [line.strip().lstrip("* ").replace("supervise-daemon: ", "", 1)
                for line in lines if line.strip()]
        return rc, [in_variables(line) for line in said]

    # -- the verbs ---------------------------------------------------------------
    def start(self):
        m = self.model
        rc, said = self._run(self.start_words(resolve_command(m)), errors=True)
        if rc != 0:
            # supervise-daemon's own reason, as one line about the variable.
            raise UserError(said[-1] if said else "supervise-daemon could not start %s "
                            "(exit status %d)" % (m.command, rc))
        for line in said:       # warnings of a start that worked
            sys.stderr.write(" * %s\n" % line)

    def stop(self):
        # No --pidfile: the supervisor recorded the one it was started with
        # (options/SVC/pidfile).  supervise_stop's "$chroot$pidfile" would
        # name a file inside the chroot, where the supervisor never wrote.
        rc = self._run([self.model.service, "--stop"])
        if rc != 0:
            raise UserError("supervise-daemon could not stop %s (exit status %d)"
                            % (self.model.service, rc))

    def signal(self, signum):
        rc = self._run([self.model.service, "--signal", str(int(signum))])
        if rc != 0:
            raise UserError("supervise-daemon could not signal %s (exit status %d)"
                            % (self.model.service, rc))

    def status(self):
        return state_status(self.model.service, self.name)


# -- status from the state files ----------------------------------------------

def _int(text):
    try:
        return int(str(text).strip())
    except (TypeError, ValueError):
        return None


def _supervisor_pid(st):
    """The live supervisor of this service, ours or OpenRC's C one."""
    from ..supervise_daemon import default_pidfile, supervisor_alive
    return supervisor_alive(st, st.get("pidfile") or default_pidfile(st.name))


def _child_pid(st):
    ident = st.get("child_ident")
    if ident:
        return int(ident.split(":", 1)[0]) if procinfo.same_process(ident) else None
    pid = _int(st.get("child_pid"))
    return pid if pid and procinfo.alive(pid) else None


def _uptime(st, pid):
    up = procinfo.uptime_of(pid) if pid else None
    if up is not None:
        return up
    text = st.get("start_time")
    if not text or not pid:
        return None
    try:
        return max(0.0, time.time() - time.mktime(time.strptime(text.strip(), "%Y-%m-%d %H:%M:%S")))
    except ValueError:
        return None


def state_status(service, backend="native"):
    """Status of a service run by a supervise-daemon (ours or OpenRC's),
    read from $svcdir/options/SVC as the supervisor keeps it (/run/openrc,
    or a user's own service dir in user mode).

      supervisor and daemon alive        started
      supervisor alive, no daemon        starting   (waiting to respawn)
      daemon alive, supervisor gone      unsupervised
      both gone, OpenRC marked it failed failed
      both gone, state left behind       crashed
      nothing                            stopped
    """
    st = ServiceState(service)
    sup = _supervisor_pid(st)
    child = _child_pid(st)
    if sup and child:
        state = "started"
    elif sup:
        state = "starting"
    elif child:
        state = "unsupervised"
    elif st.is_marked("failed"):
        state = "failed"
    elif st.get("start_time") or st.get("child_pid") or st.is_marked("started"):
        state = "crashed"
    else:
        state = "stopped"
    restarts = _int(st.get("restarts"))
    if restarts is None:
        restarts = _int(st.get("start_count"))
    uptime = _uptime(st, child)
    # Our supervisor writes "pending" when a daemon starts (until its
    # first check); OpenRC's C one never does: the result for the daemon
    # before stays until the next check, as it says.
    health = (st.get("healthcheck") or "").strip() or None
    s = Status(service=service, backend=backend, state=state, pid=child,
               supervisor_pid=sup, uptime=uptime, restarts=restarts,
               last_exit=st.get("last_exit"), health=health,
               health_runs=_int(st.get(HEALTH_RUNS_KEY)),
               health_failures=_int(st.get(HEALTH_FAILURES_KEY)),
               watchdog_misses=_int(st.get(WATCHDOG_MISSES_KEY)))
    if state in ("failed", "stopped", "crashed"):
        # Written by whoever stopped respawning; a failed mark alone (a
        # failed start, OpenRC's C supervisor) gives no reason.
        s.set_down_reason(st.get(DOWN_REASON_KEY))
    return s
