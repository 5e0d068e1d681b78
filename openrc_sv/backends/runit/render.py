"""The runit service directory for a ServiceModel, as RenderedFiles.

Pure: the result depends only on the model, the layout, the caller's
environment and where the tools are; nothing is written.  Every value
reaches the scripts through the shellquote filter (templates/ beside this
file), so the daemon gets each word of model.argv exactly as the shell of
the init script made it.

How OpenRC's variables map onto runit:

  the daemon         ./run is `exec env -i ENV... PYTHON -I -S openrc-sv-exec
                     --report state/exec-error --child-pid
                     $RC_SVCDIR/options/SVC/child_pid SVC OPTIONS -- argv`:
                     the caller's environment (openrc-sv-exec cleans it as
                     supervise-daemon does, and sets HOME, USER and LOGNAME
                     for command_user), and OPTIONS are supervise-daemon's
                     own, from the one table (backends/options.py):
                     command_user, umask, directory, chroot, capabilities,
                     secbits, no_new_privs, input_file, output_log,
                     error_log.  openrc-sv-exec applies them with the code
                     the drop-in uses, and opens input_file, output_log and
                     error_log after it has become the daemon's user.
  stopsig, retry     control/t sends the stop signal when it is not TERM;
                     the timeouts are the backend's stop()
  stopgroup          the daemon leads its own session (openrc-sv-exec's
                     setsid), and control/t signals that group
  respawn_*          ./finish (respawn_on, respawn_stop_status; counts,
                     gives up, waits the delay), as respawnpolicy.py decides
  healthcheck()      ./check (for `sv check`), and with healthcheck_timer
                     the health/ service (healthwatch.py)
  output_log,        the files named, stdout and stderr apart, as on every
  error_log          backend (runsv is not involved)
  output_logger,     runsv gives a service one log pipe: the log service
  error_logger,      runs the logger, or svlogd in runit_logdir, and the
  runit_logdir       daemon's stdout and/or stderr (whichever has no file)
                     go into the pipe.  So output_logger and error_logger
                     must be the same command, and runit_logdir excludes
                     both.  The logger and svlogd run as command_user,
                     through openrc-sv-exec (see log_run_argv).

Refused, with the variable named: notify (runit has no readiness protocol
for a start to wait on), and so watchdog_timer (see openrc_sv.watchdog).  supervise_daemon_args means nothing to runit.
"""

import os
import signal
import sys
from dataclasses import dataclass

from ... import respawnpolicy
from ...convert import format_schedule
from ...errors import UserError
from .. import templating
from ..base import RenderedFile
from ..options import process_options

HERE = os.path.dirname(os.path.abspath(__file__))
# What the pipe ends are called on openrc-sv-exec's command line: a
# --stdout-logger/--stderr-logger word means "keep the pipe runsv gave".
LOG_PIPE = "runsv-log-pipe"


@dataclass(frozen=True)
class Tools:
    """Absolute paths of the programs the scripts exec (they run with
    runsvdir's PATH, or the daemon's, which may not name runit's)."""
    env: str = "/usr/bin/env"
    svlogd: str = "svlogd"
    python: str = sys.executable

    @classmethod
    def find(cls):
        import shutil
        return cls(env=shutil.which("env") or "/usr/bin/env",
                   svlogd=shutil.which("svlogd") or "svlogd",
                   python=sys.executable)


# Variables runit has no way to honour: a start must not pretend it did.
UNSUPPORTED = {
    "notify": "runit has no readiness notification for a start to wait on",
}


def refuse_unsupported(model):
    from ... import watchdog
    watchdog.refuse(model, "runit")
    for key, why in UNSUPPORTED.items():
        if getattr(model, key):
            raise UserError("%s: not supported with sv_backend=runit (%s); use sv_backend=native"
                            % (key, why))
    log_target(model)


def log_target(model):
    """(svlogd directory, logger command): at most one is set; (None, None)
    when nothing goes to runsv's log pipe.  Refuses what one pipe cannot do."""
    logdir = model.extra.get("runit_logdir")
    logger = model.output_logger or model.error_logger
    if model.output_logger and model.error_logger and model.output_logger != model.error_logger:
        raise UserError("error_logger: %r differs from output_logger (runit gives a service "
                        "one log pipe, so one logger); use the same command or "
                        "sv_backend=native" % model.error_logger)
    if logdir is not None:
        if not logdir.startswith("/") or "\n" in logdir or "\0" in logdir:
            raise UserError("runit_logdir: invalid value %r (expected an absolute directory path)"
                            % logdir)
        if logger:
            raise UserError("runit_logdir: %r cannot be used with %s (runit gives a service "
                            "one log pipe)" % (logdir, "output_logger" if model.output_logger
                                               else "error_logger"))
        if model.output_log and model.error_log:
            raise UserError("runit_logdir: %r receives nothing: output_log and error_log "
                            "are both set" % logdir)
        return os.path.normpath(logdir), None
    return None, logger


def pipe_options(model):
    """The options that send the daemon's stdout and/or stderr into runsv's
    log pipe for svlogd (runit_logdir); a logger's come from the table."""
    logdir, _ = log_target(model)
    if logdir is None:
        return []
    out = [] if model.output_log else ["--stdout-logger", LOG_PIPE]
    err = [] if model.error_log else ["--stderr-logger", LOG_PIPE]
    return out + err


def exec_argv(tools, *rest):
    """python -I -S openrc-sv-exec ...: our process-setup core, without site."""
    from ...launcher import package_parent
    return [tools.python, "-I", "-S",
            os.path.join(package_parent(), "openrc_sv", "data", "openrc-sv-exec")] + list(rest)


def environment(environ):
    """NAME=VALUE words for `env -i`: the caller's environment, which
    openrc-sv-exec cleans the way supervise-daemon does.  A name env(1)
    would take for an option or cannot hold is left out."""
    return ["%s=%s" % (k, v) for k, v in sorted(environ.items())
            if k and "=" not in k and not k.startswith("-") and "\0" not in k + v]


def child_pid_path(model, environ):
    from ...rcstate import svcdir
    return os.path.join(environ.get("RC_SVCDIR") or svcdir(), "options", model.service,
                        "child_pid")


def run_argv(model, layout, environ, tools):
    """./run's command after `env -i ENV`: openrc-sv-exec, then the daemon."""
    return exec_argv(tools, "--report", layout.path("state", "exec-error"),
                     "--child-pid", child_pid_path(model, environ), model.service,
                     *(process_options(model) + pipe_options(model)), "--", *model.argv)


def log_run_argv(model, tools):
    """./log/run's command: the logger (or svlogd) as the daemon's user.

    openrc-sv-exec gives what it runs /dev/null as stdin, so the log pipe
    (./log/run's stdin) is kept on fd 3 and moved back by a shell running
    as that user.  Its stdout and stderr are ./log/run's stderr
    (runsvdir's), where svlogd and the logger say what goes wrong."""
    logdir, logger = log_target(model)
    user = ["--user", model.user] if model.user else []
    keep = ["--stdout-logger", "runsvdir", "--stderr-logger", "runsvdir"]
    if logdir is not None:
        shell = 'exec 0<&3 3<&-; exec "$2" "$1"'
        words = [logdir, tools.svlogd]
    else:
        shell = 'exec 0<&3 3<&-; exec /bin/sh -c "$1"'
        words = [logger]
    return exec_argv(tools, model.service + "-log", *user, *keep, "--",
                     "/bin/sh", "-c", shell, "openrc-sv-log", *words)


def has_watcher(model):
    return bool(model.has_healthcheck and (model.healthcheck_timer_ms
                                           or model.healthcheck_delay_ms))


def watcher_argv(model, layout, tools):
    # --timer 0 (healthcheck_delay alone): one check per daemon, --delay
    # after its start, as OpenRC's supervise-daemon.
    timer = model.healthcheck_timer_ms or 0
    # -S: no site, so no site-packages; PYTHONPATH (see render) names the
    # one directory the watcher needs.  Saves start-up time and memory for
    # a process that lives as long as the service.
    argv = [tools.python, "-S", "-m", "openrc_sv.backends.runit.healthwatch",
            "--dir", layout.dir, "--script", model.script,
            "--timer", str(timer),
            "--delay", str(model.healthcheck_delay_ms or timer),
            "--timeout", str(model.healthcheck_timeout_ms or timer or model.healthcheck_delay_ms),
            "--retry", format_schedule(model.retry)]
    if model.stop_group:
        argv.append("--stop-group")
    if model.has_unhealthy:
        argv.append("--unhealthy")
    return argv


def stop_words(model):
    """respawn_stop_status as ./finish matches it: e78 for `exit 78`, s6
    for SIGABRT (runsv gives finish -1 and the signal's number)."""
    return " ".join(["e%d" % n for n in sorted(model.respawn_stop_exits)] +
                    ["s%d" % n for n in sorted(model.respawn_stop_signals)])


def needs_control_t(model):
    return model.stop_signal != signal.SIGTERM or model.stop_group


def render(model, layout, environ, tools):
    refuse_unsupported(model)
    env = templating.environment(HERE)
    logdir, logger = log_target(model)
    common = {"service": model.service, "script": model.script}

    def file(rel, template, mode=0o700, **ctx):
        text = env.get_template(template).render(**common, **ctx)
        return RenderedFile(layout.path(rel), text, mode)

    words = environment(environ)
    files = [
        file("run", "run", env_tool=tools.env, environment=words,
             publish=publish_argv(model, layout, environ, tools),
             argv=run_argv(model, layout, environ, tools)),
        file("finish", "finish", respawn_max=model.respawn_max,
             respawn_period_ms=model.respawn_period_ms or 0,
             respawn_delay_ms=model.respawn_delay_ms,
             respawn_delay_step_ms=model.respawn_delay_step_ms or 0,
             respawn_delay_cap_ms=model.respawn_delay_cap_ms or 0,
             child_pid=child_pid_path(model, environ),
             options_dir=os.path.dirname(child_pid_path(model, environ)),
             failed_message=respawnpolicy.give_up_reason(respawnpolicy.Settings.of(model)),
             give_up=giveup_argv(model, layout, environ, tools),
             health=has_watcher(model), respawn_on=model.respawn_on,
             stop_words=stop_words(model), factor=model.respawn_delay_factor,
             reset_after_ms=model.respawn_reset_after_ms,
             publish=publish_argv(model, layout, environ, tools)),
    ]
    if model.has_healthcheck:
        files.append(file("check", "check"))
    if needs_control_t(model):
        files.append(file("control/t", "control-t", signal=model.stop_signal,
                          group=model.stop_group))
    if logdir is not None or logger is not None:
        files.append(file("log/run", "log-run", argv=log_run_argv(model, tools)))
    if has_watcher(model):
        files.append(file("health/run", "health-run", env_tool=tools.env,
                          environment=lean_environment(environ),
                          argv=watcher_argv(model, layout, tools)))
    return files


def lean_environment(environ):
    """PATH, and PYTHONPATH naming the one directory our lean helpers
    (run with -S: no site) need."""
    from ...launcher import package_parent
    path = [("PATH=" + environ["PATH"])] if environ.get("PATH") else []
    return path + ["PYTHONPATH=" + package_parent()]


def publish_argv(model, layout, environ, tools):
    """What ./run (before its exec) and ./finish run to keep the service's
    node_exporter textfile up to date (promfile), when the administrator
    set openrc_sv_textfile_dir at the time of the start; else None."""
    from ... import promfile
    if not promfile.configured_dir():
        return None
    return [tools.env, "-i"] + lean_environment(environ) + [
        tools.python, "-S", "-m", "openrc_sv.promfile", "--runit", layout.dir, model.service]


def giveup_argv(model, layout, environ, tools):
    """What ./finish starts when the respawn limit is reached (giveup.py)."""
    from ...rcstate import svcdir
    return [tools.env, "-i"] + lean_environment(environ) + [
        tools.python, "-S", "-m", "openrc_sv.backends.runit.giveup",
        "--dir", layout.dir, "--service", model.service, "--script", model.script,
        "--svcdir", environ.get("RC_SVCDIR") or svcdir()]
