"""The programs monit runs for a monit_type=simple service.

monit watches a process through a pidfile and starts and stops it by
running programs; it cannot keep a foreground daemon as its child.  The
service's control script (render.py) runs this module as

    python -I -m openrc_sv.backends.monit.launch ACTION [--OPTION VALUE]... -- COMMAND ARGS...

  start        start COMMAND ARGS detached (own session, child of init once
               we exit) with OpenRC's process setup (openrc_sv.child: user,
               chroot, directory, umask, clean environment), output_log /
               error_log / loggers and input_file; write the pidfile, then exit 0.
               If the command cannot be executed, say why and exit 1.
               Every start but the first waits respawn_delay first.
  stop         send the stop schedule (retry=) to the daemon, wait for it to
               die, remove the pidfile.
  healthcheck  run `$RC_SERVICE healthcheck` with its timeout; exit 0 while
               the daemon is younger than healthcheck_delay.
  unhealthy    run `$RC_SERVICE unhealthy`, then `monit restart SVC`.

Options are pairs, each value one argv word (the control script
shell-quotes them), so any byte a user wrote reaches us unchanged.  Only
this module's own state is kept, in --state DIR: `ident` (pid and start
time: a reused pid is never signalled), `starts` (for status's restart
count and respawn_delay) and `last-error` (what start() reports).
"""

import os
import signal
import subprocess
import sys
import time
from types import SimpleNamespace

from ... import child, convert, procinfo, useropen
from ...errors import UserError
from ...rcstate import write_atomic

PROG = "openrc-sv monit launcher"
ACTIONS = ("start", "stop", "healthcheck", "unhealthy")
OPTIONS = ("service", "script", "state", "pidfile", "retry", "monit", "monit-conf", "user",
           "chroot", "directory", "stdin", "stdout", "stderr", "stdout-logger",
           "stderr-logger", "umask", "respawn-delay", "healthcheck-delay",
           "healthcheck-timeout")
# openrc-run's answer when extra_commands lost `healthcheck` (see openrc_sv/health.py).
_NO_HEALTHCHECK = (b"unknown function", b"not a default nor extra command")


def parse(argv):
    """ACTION --key value ... -- COMMAND ARGS -> (action, {key: value}, argv)."""
    if not argv or argv[0] not in ACTIONS:
        raise UserError("usage: launch {%s} [--OPTION VALUE]... -- COMMAND [ARGS]..."
                        % "|".join(ACTIONS))
    action, rest, opts = argv[0], argv[1:], {}
    while rest and rest[0] != "--":
        key = rest[0][2:] if rest[0].startswith("--") else None
        if key not in OPTIONS or len(rest) < 2:
            raise UserError("unknown option or missing value: %r" % rest[0])
        opts[key] = rest[1]
        rest = rest[2:]
    for key in ("service", "script", "state", "pidfile"):
        if key not in opts:
            raise UserError("--%s is required" % key)
    return action, opts, rest[1:]


def _path(o, name):
    return os.path.join(o["state"], name)


def _read_int(path):
    try:
        with open(path) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def daemon_pid(pidfile, state):
    """The daemon's pid, if the process named by our ident is still alive."""
    ident = None
    try:
        with open(os.path.join(state, "ident")) as f:
            ident = f.read().strip()
    except OSError:
        pass
    pid = procinfo.read_pidfile(pidfile)
    if pid is None or pid <= 1:
        return None
    if ident and ident.split(":")[0] == str(pid):
        return pid if procinfo.same_process(ident) else None
    return pid if procinfo.alive(pid) else None


# -- start -----------------------------------------------------------------

class _Unset(SimpleNamespace):
    """openrc_sv.child's options; those a monit service cannot set
    (nicelevel, capabilities, ...) read as None."""

    def __getattr__(self, name):
        return None


def _setup(o):
    user = convert.user_group("command_user", o["user"]) if o.get("user") else None
    opts = _Unset(
        chroot=o.get("chroot"), chdir=o.get("directory"),
        user=user, umask=convert.umask("umask", o["umask"]) if o.get("umask") else None,
        env=())
    setup = child.Setup(opts)
    # monit runs its programs with MONIT_* variables: not the daemon's business.
    setup.env = {k: v for k, v in setup.env.items() if not k.startswith("MONIT_")}
    return setup


_VARIABLE = {"stdin": "input_file", "stdout": "output_log", "stderr": "error_log"}


def _open(o, name, setup, flags):
    # As the daemon's user, never as root (see openrc_sv.useropen).
    try:
        return useropen.open_as(useropen.Who.of(setup), o[name], flags)
    except OSError as e:
        raise UserError("%s: cannot open '%s' as the daemon's user: %s"
                        % (_VARIABLE[name], o[name], e.strerror or e))


def _stdio(o, setup, null):
    """(stdin, stdout, stderr) for the daemon, starting the loggers if any."""
    stdin = _open(o, "stdin", setup, useropen.READ) if o.get("stdin") else null
    out = []
    for name in ("stdout", "stderr"):
        if o.get(name):
            out.append(_open(o, name, setup, useropen.WRITE))
        elif o.get(name + "-logger"):
            # Like OpenRC: `sh -c CMD` reading a pipe, as the daemon's user;
            # it sees end of file and exits when the daemon is gone.
            r, w = os.pipe2(os.O_CLOEXEC)
            child.spawn(setup, ["/bin/sh", "-c", o[name + "-logger"]], (r, null, null))
            os.close(r)
            out.append(w)
        else:
            out.append(null)
    return stdin, out[0], out[1]


def start(o, argv):
    state = o["state"]
    os.makedirs(state, 0o755, exist_ok=True)
    starts = _read_int(_path(o, "starts")) or 0
    if starts and o.get("respawn-delay"):
        time.sleep(convert.duration_ms("respawn_delay", o["respawn-delay"]) / 1000.0)
    try:
        if not argv:
            raise UserError("no command to run")
        setup = _setup(o)
        null = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
        pid = child.spawn(setup, argv, _stdio(o, setup, null))
    except Exception as e:      # whatever it is, start() must be able to say it
        msg = e.message if isinstance(e, UserError) else (
            "%s: %s" % (e.filename, e.strerror) if isinstance(e, OSError) and e.filename
            else str(e) if isinstance(e, (OSError, child.SpawnError)) else repr(e))
        write_atomic(_path(o, "last-error"), msg + "\n")
        raise UserError(msg)
    write_atomic(_path(o, "ident"), (procinfo.identity(pid) or str(pid)) + "\n")
    write_atomic(o["pidfile"], "%d\n" % pid)
    write_atomic(_path(o, "starts"), "%d\n" % (starts + 1))
    _unlink(_path(o, "last-error"))
    return 0


# -- stop ------------------------------------------------------------------

def stop_daemon(pidfile, state, steps, poll=0.02):
    """Run the stop schedule against the daemon; True once it is gone.

    The daemon is not our child (init reaps it), so we poll /proc for its
    death.  When the schedule runs out we send SIGKILL and wait a little:
    a stop must stop.
    """
    from ...stopper import StopSchedule
    pid = daemon_pid(pidfile, state)
    if pid is not None:
        sched = StopSchedule(steps, pid)
        quiet = lambda *_: None   # noqa: E731  (monit logs our exit status)
        sched.begin(time.monotonic(), quiet)
        grace = None
        while procinfo.alive(pid):
            now = time.monotonic()
            if sched.deadline is not None and now >= sched.deadline:
                sched.advance(now, quiet)
            elif sched.deadline is None and sched.repeat_from is None:
                grace = grace or now + 2.0
                if now > grace:
                    return False
            time.sleep(poll)
    _unlink(pidfile)
    _unlink(os.path.join(state, "ident"))
    return True


def stop(o, argv):
    steps = convert.retry_schedule("retry", o.get("retry") or "5")
    if not stop_daemon(o["pidfile"], o["state"], steps):
        raise UserError("the daemon (pid %s) survived the stop schedule %s"
                        % (procinfo.read_pidfile(o["pidfile"]), convert.format_schedule(steps)))
    return 0


# -- health ----------------------------------------------------------------

def _run_script(o, what, timeout_s):
    """`$RC_SERVICE what` in its own session; (exit code, output).  A run
    that outlives the timeout is killed, with all it started, and fails."""
    proc = subprocess.Popen([o["script"], what], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout_s)
        return proc.returncode, out
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        proc.communicate()
        return None, b"timed out after %gs" % timeout_s


def _timeout_s(o):
    return convert.duration_ms("healthcheck_timeout", o.get("healthcheck-timeout") or "30") / 1000.0


def healthcheck(o, argv):
    pid = daemon_pid(o["pidfile"], o["state"])
    if pid is None:
        return 0          # no daemon: the process check restarts it
    delay = convert.duration_ms("healthcheck_delay", o.get("healthcheck-delay") or "0") / 1000.0
    if delay and (procinfo.uptime_of(pid) or 0.0) < delay:
        return 0
    code, out = _run_script(o, "healthcheck", _timeout_s(o))
    if code == 0 or any(m in out for m in _NO_HEALTHCHECK):
        return 0
    sys.stdout.write(out.decode(errors="replace")[-400:])
    return 1


def unhealthy(o, argv):
    _run_script(o, "unhealthy", _timeout_s(o))
    from .ctl import Monit
    Monit(o.get("monit") or "monit", o.get("monit-conf")).action("restart", o["service"])
    return 0


def _unlink(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


_ACTIONS = {"start": start, "stop": stop, "healthcheck": healthcheck, "unhealthy": unhealthy}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    try:
        action, opts, command = parse(argv)
        return _ACTIONS[action](opts, command)
    except UserError as e:
        sys.stderr.write("%s: fatal: %s\n" % (PROG, e.message))
        return 1


if __name__ == "__main__":
    sys.exit(main())
