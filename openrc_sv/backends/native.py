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

The supervisor we run is ours, started through openrc_sv.launcher (this
Python, without `site`), never /sbin/supervise-daemon, which is OpenRC's C
program.
"""

import os
import shlex
import subprocess
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
    """How to run our supervise-daemon: a lean interpreter (see launcher)."""
    from .. import launcher
    return launcher.argv()


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
        return "RC_SVCNAME=%s %s" % (shlex.quote(self.model.service),
                                     shlex.join(["supervise-daemon"] + self.start_words()))

    def _env(self):
        env = dict(os.environ)
        env["RC_SVCNAME"] = self.model.service
        env["SVCNAME"] = self.model.service
        if self.model.script:
            env["RC_SERVICE"] = self.model.script
        return env

    def _run(self, argv, errors=False):
        """Exit status, or with errors=True (exit status, what it said on
        stderr reworded to name variables, not options).  stdin is /dev/null
        so a daemon never holds the caller's."""
        try:
            if not errors:
                return subprocess.run(argv, env=self._env(), stdin=subprocess.DEVNULL).returncode
            # The supervisor detaches onto /dev/null: the pipe ends with --start.
            r = subprocess.run(argv, env=self._env(), stdin=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
        except OSError as e:
            raise UserError("native: cannot run %s: %s" % (argv[0], e.strerror))
        said = [line.strip().lstrip("* ").replace("supervise-daemon: ", "", 1)
                for line in r.stderr.decode(errors="replace").splitlines() if line.strip()]
        return r.returncode, [in_variables(line) for line in said]

    # -- the verbs ---------------------------------------------------------------
    def start(self):
        m = self.model
        rc, said = self._run(supervise_daemon_argv() + self.start_words(resolve_command(m)),
                             errors=True)
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
        rc = self._run(supervise_daemon_argv() + [self.model.service, "--stop"])
        if rc != 0:
            raise UserError("supervise-daemon could not stop %s (exit status %d)"
                            % (self.model.service, rc))

    def signal(self, signum):
        rc = self._run(supervise_daemon_argv() + [self.model.service, "--signal", str(int(signum))])
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
