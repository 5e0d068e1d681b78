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

The daemon is known by the identity (pid and start time) the launcher
records in the service's private state directory, $monit_run_dir/SVC
(root's, mode 0700), and monit watches the pidfile there: the init
script's pidfile= is written too, for whoever reads it, but never read,
since its directory may belong to the daemon's user.

How OpenRC's variables map onto monit (monit only acts once per poll
cycle, `set daemon N`):

  respawn_max / respawn_period / respawn_delay
      applied by the launcher, as supervise-daemon applies them: every
      start monit makes but the first is a respawn; the (respawn_max+1)th
      within respawn_period gives up (OpenRC's state becomes stopped and
      failed, and monit stops watching the service), the others first wait
      respawn_delay (growing with respawn_delay_step or respawn_delay_factor,
      back to the start after respawn_reset_after), all as
      openrc_sv.respawnpolicy decides.  respawn_on and respawn_stop_status
      are refused: the launcher never sees how the daemon ended (it runs
      detached, a child of init).  monit's own restart limit is not used: it counts
      differently (starts asked for with `monit start` do not count, a
      start at load does) and leaves OpenRC's state alone.
  monit_start_timeout (ours, default 5sec)
      after the start program, monit waits until it sees the process
      running, for up to the start timeout: a daemon that dies before
      monit looks costs that whole timeout on every start, and monit checks
      no other service meanwhile.  The start timeout is respawn_delay plus
      monit_start_timeout, enough for the launcher to exec the daemon.
  healthcheck_timer
      a `check program SVC_health` run `every N cycles`, N the timer in
      cycles rounded up (at least 1).  healthcheck_delay and
      healthcheck_timeout are applied by the launcher, which on failure
      runs unhealthy() once and stops the daemon; monit's process check
      then starts it again, a respawn like any other (as under
      supervise-daemon).
  the environment
      monit runs its programs with its own environment; the caller's
      (conf.d's exports among it) is written into the control script
      (mode 0700) and handed to the daemon by the launcher.
"""

import math
import os
import sys

from ...errors import UserError
from ..base import RenderedFile
from . import settings as settings_mod, syntax

HERE = os.path.dirname(os.path.abspath(__file__))

# What we assume when monit cannot be asked (render without a running
# monit): monit's documented example, `set daemon 30`.
DEFAULT_CYCLE = 30
# Time monit gives our stop and health programs beyond what they may take.
MARGIN_S = 30


def cycles(ms, cycle_s):
    """A duration in monit cycles, rounded up, at least one."""
    return max(1, int(math.ceil(ms / (cycle_s * 1000.0))))


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
    """The pidfile monit watches: in the private state directory, always."""
    return os.path.join(settings_mod.state_dir(s, s.name), "pid")


def control_path(s):
    return os.path.join(settings_mod.state_dir(s, s.name), "control")


def health_timer(model):
    """ms between health checks, or None: healthcheck_timer, or
    healthcheck_delay alone (the launcher then checks each daemon once,
    as OpenRC's supervise-daemon does)."""
    return model.healthcheck_timer_ms or model.healthcheck_delay_ms


def health_name(s):
    return s.name + "_health"


def daemon_environment(environ):
    """[(name, value)]: the caller's environment, as the launcher's
    child.Setup gets it (it drops RC_*, SSD_*, EINFO_*, SVCNAME and OpenRC's
    PATH entries, as supervise-daemon does)."""
    return sorted((k, v) for k, v in (environ or {}).items() if k and "=" not in k)


def launcher_options(model, s, environ=None):
    """The launcher's own (option, value) pairs, in the control script."""
    from ...rcstate import svcdir
    opts = [("--script", model.script), ("--state", settings_mod.state_dir(s, s.name)),
            ("--svcdir", svcdir()), ("--monit", s.cmd)]
    if s.conf:
        opts.append(("--monit-conf", s.conf))
    opts += [("--environ", "%s=%s" % kv) for kv in daemon_environment(environ)]
    return opts


def daemon_options(model):
    """What follows the launcher's `--`: SVCNAME, supervise-daemon's
    options (the one table, openrc_sv.backends.options), `--`, the command."""
    from ..options import start_options
    return [model.service] + start_options(model) + ["--"] + list(model.argv)


def render_simple(model, s, cycle, environ=None):
    if model.notify:
        raise UserError("notify: not supported with sv_backend=monit (monit cannot "
                        "wait for a daemon's readiness); remove notify= or use sv_backend=native")
    from ... import respawnpolicy
    respawnpolicy.refuse_status_policy(respawnpolicy.Settings.of(model), "monit")
    control = control_path(s)
    ctx = {
        "service": model.service,
        "name": s.name,
        "pidfile": syntax.string("monit_run_dir", pidfile(model, s)),
        "start": syntax.program("monit_run_dir", control, "start"),
        "stop": syntax.program("monit_run_dir", control, "stop"),
        "start_timeout": _seconds(model.respawn_delay_ms + s.start_timeout_ms),
        "stop_timeout": stop_timeout(model.retry),
        "health": None,
    }
    timer = health_timer(model)
    if timer:
        timeout = model.healthcheck_timeout_ms or timer
        ctx["health"] = {
            "name": health_name(s),
            "program": syntax.program("monit_run_dir", control, "healthcheck"),
            "every": cycles(timer, cycle),
            # Our launcher enforces the timeout; monit's is a backstop,
            # which also covers unhealthy() and stopping the daemon.
            "timeout": 2 * _seconds(timeout) + stop_timeout(model.retry) + MARGIN_S,
        }
    env = _env()
    monitrc = env.get_template("simple.monitrc.j2").render(**ctx)
    script = env.get_template("control.sh.j2").render(
        python=sys.executable, action_module=__package__ + ".launch",
        options=launcher_options(model, s, environ), tail=daemon_options(model))
    # 0700: the daemon's environment may hold secrets.
    return [RenderedFile(settings_mod.include_file(s, s.name), monitrc, 0o644),
            RenderedFile(control, script, 0o700)]


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


def render(model, s, cycle=None, environ=None):
    from ... import watchdog
    watchdog.refuse(model, "monit")
    if s.type == "native":
        return render_native(model, s)
    return render_simple(model, s, cycle or s.cycle or DEFAULT_CYCLE, environ)
