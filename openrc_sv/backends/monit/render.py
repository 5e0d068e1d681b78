"""The files the monit backend writes, computed without touching the disk.

monit_type=simple gives two files:

  $monit_include_dir/SVC.monitrc   the monit checks (templates/simple.monitrc.j2)
  $monit_run_dir/SVC/control       a sh script monit runs as
                                   `control start|stop|healthcheck|unhealthy`
                                   (templates/control.sh.j2)

The monit file only ever holds the service's name and paths we chose,
checked by syntax.py: monit cannot quote a double quote or a line break.
Everything the user wrote (the daemon's argv, log paths, user, ...) goes
into the control script instead, one shell-quoted word each, and reaches
the launcher (launch.py) as the same argv words.

monit_type=native gives one file: the administrator's own
$monit_files_dir/SVC, copied into the include directory.

How OpenRC's variables map onto monit's cycles (monit only acts once per
poll cycle, `set daemon N`):

  respawn_max / respawn_period
      monit counts the starts it makes itself (the first one, when it loads
      the file, included; not those asked for with `monit start`) in a
      window of cycles that opens at the first one.  OpenRC gives up at the
      (respawn_max+1)th death within the period, which under monit is the
      (respawn_max+2)th start, so we write
      `if respawn_max+2 restarts within C cycles then stop`, C being
      respawn_period in cycles, rounded up.  monit starts a service at
      most once a cycle, so C is raised to at least respawn_max+2 (monit
      rejects fewer cycles than restarts): the limit then trips when the
      daemon dies at every cycle.  No respawn_period means the service's
      lifetime: C is monit's largest count.  `stop`, not `unmonitor`: by
      the time the limit is seen monit has just started the daemon once
      more, and stop kills that last start too, leaving nothing running, as
      OpenRC does.  respawn_max=0 (unlimited) writes no limit.
  respawn_delay
      the launcher sleeps that long before every start but the first.
  monit_start_timeout (ours, default 5sec)
      after the start program, monit waits until it sees the process
      running, for up to the start timeout: a daemon that dies before
      monit looks costs that whole timeout on every start, and monit checks
      no other service meanwhile.  The start timeout is respawn_delay plus
      monit_start_timeout, enough for the launcher to exec the daemon.
  healthcheck_timer
      a `check program SVC_health` run `every N cycles`, N the timer in
      cycles rounded up (at least 1).  healthcheck_delay and
      healthcheck_timeout are applied by the launcher.  A failed check
      runs unhealthy() and then `monit restart SVC`; monit does not count
      that restart against respawn_max (OpenRC does).
"""

import math
import os
import sys

from ... import convert
from ...errors import UserError
from ..base import RenderedFile
from . import settings as settings_mod, syntax

HERE = os.path.dirname(os.path.abspath(__file__))

# What we assume when monit cannot be asked (render without a running
# monit): monit's documented example, `set daemon 30`.
DEFAULT_CYCLE = 30
# monit keeps the restart count in a C int.
LIFETIME_CYCLES = 2**31 - 1
# Time monit gives our stop and health programs beyond what they may take.
MARGIN_S = 30


def cycles(ms, cycle_s):
    """A duration in monit cycles, rounded up, at least one."""
    return max(1, int(math.ceil(ms / (cycle_s * 1000.0))))


def restart_limit(respawn_max, respawn_period_ms, cycle_s):
    """(restarts, cycles) for `if R restarts within C cycles`, or None."""
    if not respawn_max:
        return None
    count = respawn_max + 2
    if respawn_period_ms is None:
        return count, LIFETIME_CYCLES
    return count, min(LIFETIME_CYCLES, max(count, cycles(respawn_period_ms, cycle_s)))


def _seconds(ms):
    return int(math.ceil(ms / 1000.0))


def stop_timeout(retry):
    """How long the stop program may take: the schedule's timeouts.  A
    schedule with `forever` waits for as long as monit lets it."""
    if any(kind == "forever" for kind, _ in retry):
        return 300
    return _seconds(sum(v for kind, v in retry if kind == "timeout")) + MARGIN_S


def _env():
    from ..templating import environment
    return environment(HERE)


def pidfile(model, s):
    return model.pidfile or os.path.join(settings_mod.state_dir(s, s.name), "pid")


def control_path(s):
    return os.path.join(settings_mod.state_dir(s, s.name), "control")


def health_timer(model):
    """ms between health checks, or None: healthcheck_timer, or (as the
    native supervisor does) healthcheck_delay alone."""
    return model.healthcheck_timer_ms or model.healthcheck_delay_ms


def health_name(s):
    return s.name + "_health"


def launcher_options(model, s):
    """(option, value) pairs for launch.py, in the control script."""
    opts = [("--service", model.service), ("--script", model.script),
            ("--state", settings_mod.state_dir(s, s.name)), ("--pidfile", pidfile(model, s)),
            ("--retry", convert.format_schedule(model.retry)),
            ("--monit", s.cmd)]
    if s.conf:
        opts.append(("--monit-conf", s.conf))
    if model.user:
        opts.append(("--user", model.user))
    for opt, value in (("--chroot", model.chroot), ("--directory", model.directory),
                       ("--stdin", model.input_file), ("--stdout", model.output_log),
                       ("--stderr", model.error_log), ("--stdout-logger", model.output_logger),
                       ("--stderr-logger", model.error_logger)):
        if value:
            opts.append((opt, value))
    if model.umask is not None:
        opts.append(("--umask", "%04o" % model.umask))
    if model.respawn_delay_ms:
        opts.append(("--respawn-delay", "%dms" % model.respawn_delay_ms))
    timer = health_timer(model)
    if timer:
        opts.append(("--healthcheck-delay", "%dms" % (model.healthcheck_delay_ms or 0)))
        opts.append(("--healthcheck-timeout", "%dms" % (model.healthcheck_timeout_ms or timer)))
    return opts


def render_simple(model, s, cycle):
    if model.notify:
        raise UserError("notify: not supported with sv_backend=monit (monit cannot "
                        "wait for a daemon's readiness); remove notify= or use sv_backend=native")
    for var in ("capabilities", "secbits"):
        if getattr(model, var):
            raise UserError("%s: not supported with sv_backend=monit (its launcher does not set "
                            "it); remove %s= or use sv_backend=native" % (var, var))
    if model.no_new_privs:
        raise UserError("no_new_privs: not supported with sv_backend=monit; "
                        "remove no_new_privs= or use sv_backend=native")
    control = control_path(s)
    ctx = {
        "service": model.service,
        "name": s.name,
        "pidfile": syntax.string("pidfile", pidfile(model, s)),
        "start": syntax.program("monit_run_dir", control, "start"),
        "stop": syntax.program("monit_run_dir", control, "stop"),
        "start_timeout": _seconds(model.respawn_delay_ms + s.start_timeout_ms),
        "stop_timeout": stop_timeout(model.retry),
        "limit": restart_limit(model.respawn_max, model.respawn_period_ms, cycle),
        "health": None,
    }
    timer = health_timer(model)
    if timer:
        timeout = model.healthcheck_timeout_ms or timer
        ctx["health"] = {
            "name": health_name(s),
            "program": syntax.program("monit_run_dir", control, "healthcheck"),
            "unhealthy": syntax.program("monit_run_dir", control, "unhealthy"),
            "every": cycles(timer, cycle),
            # Our launcher enforces the timeout; monit's is a backstop.
            "timeout": _seconds(timeout) + MARGIN_S,
        }
    env = _env()
    monitrc = env.get_template("simple.monitrc.j2").render(**ctx)
    script = env.get_template("control.sh.j2").render(
        python=sys.executable, action_module=__package__ + ".launch",
        options=launcher_options(model, s), argv=model.argv)
    return [RenderedFile(settings_mod.include_file(s, s.name), monitrc, 0o644),
            RenderedFile(control, script, 0o755)]


def native_source(s, svc):
    return os.path.join(s.files_dir, svc)


def render_native(model, s):
    src = native_source(s, model.service)
    try:
        with open(src) as f:
            text = f.read()
    except FileNotFoundError:
        raise UserError("monit_type=native: %s does not exist; write the service's monit "
                        "check there (its name must be '%s'), or use monit_type=simple"
                        % (src, s.name))
    except OSError as e:
        raise UserError("monit_type=native: unable to read %s: %s" % (src, e.strerror))
    return [RenderedFile(settings_mod.include_file(s, model.service), text, 0o644)]


def render(model, s, cycle=None):
    if s.type == "native":
        return render_native(model, s)
    return render_simple(model, s, cycle or s.cycle or DEFAULT_CYCLE)
