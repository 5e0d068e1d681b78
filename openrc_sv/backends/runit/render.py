"""The runit service directory for a ServiceModel, as RenderedFiles.

Pure: the result depends only on the model, the layout, the caller's
environment and where the tools are; nothing is written.  Every value
reaches the scripts through the shellquote filter (templates/ beside this
file), so the daemon gets each word of model.argv exactly as the shell of
the init script made it.

How OpenRC's variables map onto runit:

  command + args     argv of `exec` at the end of ./run, after
                     `env -i` (the daemon's environment, see childenv)
                     and chpst (user, chroot)
  command_user       chpst -u :UID:GID[:GROUPS...] -- numeric, so nothing
                     is looked up inside a chroot; the supplementary groups
                     are the user's, as supervise-daemon's initgroups gives
  chroot, directory  chpst -/ ROOT; directory is entered with `cd` before
                     chpst, or inside the chroot (with the chroot's /bin/sh)
                     when both are set, as supervise-daemon does
  umask              the shell's umask builtin (chpst has none)
  input_file         ./run's standard input (else /dev/null)
  stopsig, retry     control/t sends the stop signal when it is not TERM;
                     the timeouts are the backend's stop()
  stopgroup          chpst -P puts the daemon in its own process group,
                     and control/t signals that group
  no_new_privs       setpriv --no-new-privs before chpst
  respawn_*          ./finish (counts, gives up, waits)
  healthcheck()      ./check (for `sv check`), and with healthcheck_timer
                     the health/ service (healthwatch.py)
  output_log etc.    runit has one log pipe per service, so stdout and
                     stderr both go (`exec 2>&1`) to the log service:
                     svlogd writing into runit_logdir, else into the
                     directory of output_log (else of error_log) -- svlogd
                     keeps `current` and its rotated files there, one
                     directory per service -- or, without a log file,
                     output_logger (else error_logger) run by /bin/sh -c
                     as the command user.

Refused, with the variable named: notify (runit has no readiness protocol
for a start to wait on), capabilities and secbits (neither chpst nor runsv
can set them).  supervise_daemon_args means nothing to runit.
"""

import os
import pwd
import signal
import sys
from dataclasses import dataclass

from ...convert import format_ms
from ...errors import UserError
from ...rcstate import libexecdir
from .. import templating
from ..base import RenderedFile
from .childenv import daemon_environment

HERE = os.path.dirname(os.path.abspath(__file__))

# A directory ./run enters inside the chroot, with the chroot's own shell:
# chpst -/ leaves the daemon in the new root.  $0 names us in `ps`.
CHDIR_IN_CHROOT = ['/bin/sh', '-c', 'cd "$1" || exit 111; shift; exec "$@"', "openrc-sv-chdir"]


@dataclass(frozen=True)
class Tools:
    """Absolute paths of the programs the scripts exec (they run with
    runsvdir's PATH, or the daemon's, which may not name runit's)."""
    env: str = "/usr/bin/env"
    chpst: str = "chpst"
    svlogd: str = "svlogd"
    setpriv: str = "setpriv"
    python: str = sys.executable

    @classmethod
    def find(cls):
        import shutil
        return cls(env=shutil.which("env") or "/usr/bin/env",
                   chpst=shutil.which("chpst") or "chpst",
                   svlogd=shutil.which("svlogd") or "svlogd",
                   setpriv=shutil.which("setpriv") or "setpriv",
                   python=sys.executable)


# Variables runit has no way to honour: a start must not pretend it did.
UNSUPPORTED = {
    "notify": "runit has no readiness notification for a start to wait on",
    "capabilities": "chpst cannot set capabilities",
    "secbits": "chpst cannot set secure bits",
}


def refuse_unsupported(model):
    for key, why in UNSUPPORTED.items():
        if getattr(model, key):
            raise UserError("%s: not supported with sv_backend=runit (%s); use sv_backend=native"
                            % (key, why))


def chpst_user(model):
    """['-u', ':UID:GID:...'] for command_user, or []."""
    if model.uid is None:
        return []
    gids = [model.gid]
    try:
        name = pwd.getpwuid(model.uid).pw_name
        gids += [g for g in os.getgrouplist(name, model.gid) if g != model.gid]
    except (KeyError, OSError):
        pass
    return ["-u", ":" + ":".join(str(i) for i in [model.uid] + gids)]


def log_target(model):
    """(svlogd directory, logger command): at most one is set; (None, None)
    when the daemon's output is not logged."""
    logdir = model.extra.get("runit_logdir")
    if logdir:
        if not logdir.startswith("/") or "\n" in logdir:
            raise UserError("runit_logdir: invalid value %r (expected an absolute directory path)"
                            % logdir)
        return os.path.normpath(logdir), None
    logfile = model.output_log or model.error_log
    if logfile:
        return os.path.dirname(os.path.abspath(logfile)), None
    logger = model.output_logger or model.error_logger
    return None, logger


def stop_timeout_ms(model):
    """The first wait of the stop schedule: how long a TERM gets."""
    for kind, value in model.retry:
        if kind == "timeout":
            return value
    return 5000


def has_watcher(model):
    return bool(model.has_healthcheck and model.healthcheck_timer_ms)


def watcher_argv(model, layout, tools):
    timer = model.healthcheck_timer_ms
    # -S: no site, so no site-packages; PYTHONPATH (see render) names the
    # one directory the watcher needs.  Saves start-up time and memory for
    # a process that lives as long as the service.
    argv = [tools.python, "-S", "-m", "openrc_sv.backends.runit.healthwatch",
            "--dir", layout.dir, "--script", model.script,
            "--timer", str(timer),
            "--delay", str(model.healthcheck_delay_ms or timer),
            "--timeout", str(model.healthcheck_timeout_ms or timer),
            "--stop-timeout", str(stop_timeout_ms(model))]
    if model.has_unhealthy:
        argv.append("--unhealthy")
    return argv


def needs_control_t(model):
    return model.stop_signal != signal.SIGTERM or model.stop_group


def render(model, layout, environ, tools):
    refuse_unsupported(model)
    env = templating.environment(HERE)
    logdir, logger = log_target(model)
    logged = logdir is not None or logger is not None
    user = chpst_user(model)
    environment = ["%s=%s" % kv for kv in daemon_environment(environ, libexecdir())]

    argv = list(model.argv)
    cd = model.directory
    chpst_options = list(user)
    if model.stop_group:
        chpst_options.append("-P")
    if model.chroot:
        chpst_options += ["-/", model.chroot]
        if model.directory:
            argv = CHDIR_IN_CHROOT + [model.directory] + argv
            cd = None
    common = {"service": model.service, "script": model.script}

    def file(rel, template, mode=0o700, **ctx):
        text = env.get_template(template).render(**common, **ctx)
        return RenderedFile(layout.path(rel), text, mode)

    within = (" within %s" % format_ms(model.respawn_period_ms)) if model.respawn_period_ms else ""
    files = [
        file("run", "run", log=logged, stdin=model.input_file or "/dev/null",
             umask=("%04o" % model.umask) if model.umask is not None else None,
             cd=cd, env_tool=tools.env, environment=environment,
             setpriv=[tools.setpriv, "--no-new-privs"] if model.no_new_privs else [],
             chpst=tools.chpst, chpst_options=chpst_options, argv=argv),
        file("finish", "finish", respawn_max=model.respawn_max,
             respawn_period_ms=model.respawn_period_ms or 0,
             respawn_delay_ms=model.respawn_delay_ms,
             failed_message="respawned more than %d times%s" % (model.respawn_max, within)),
    ]
    if model.has_healthcheck:
        files.append(file("check", "check"))
    if needs_control_t(model):
        files.append(file("control/t", "control-t", signal=model.stop_signal,
                          group=model.stop_group))
    if logged:
        files.append(file("log/run", "log-run", logdir=logdir, logger=logger,
                          svlogd=tools.svlogd, chpst=tools.chpst, chpst_user=user))
    if has_watcher(model):
        from ...launcher import package_parent
        path = [kv for kv in environment if kv.startswith("PATH=")]
        path.append("PYTHONPATH=" + package_parent())
        files.append(file("health/run", "health-run", env_tool=tools.env,
                          environment=path, argv=watcher_argv(model, layout, tools)))
    return files
