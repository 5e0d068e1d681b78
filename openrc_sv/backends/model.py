"""One typed model of a supervised service, built from the init script's
and conf.d's variables.

Every variable is validated here, once, with openrc_sv.convert, so that a bad
value fails with the variable's name and value before any backend renders
or starts anything.  The raw variables come from the shell itself
(openrc_sv.shellvars), never from a hand-written shell parser; ``args`` is
the word list the shell made of ``command_args command_args_foreground``,
exactly as OpenRC's `eval supervise-daemon ... -- $command_args` sees it.
"""

from .. import convert
from .. import sigs as _signal
from ..errors import UserError
from .record import REQUIRED, Record, new

_SIGHUP = int(_signal.SIGHUP)
_SIGTERM = int(_signal.SIGTERM)

# The variables the model reads; anything else a backend wants it takes
# from ``extra`` (e.g. monit_type, runit_svdir).
KNOWN = (
    "command", "command_args", "command_args_foreground", "command_user",
    "command_background", "directory", "chroot", "umask", "pidfile", "retry", "stopsig",
    "respawn_delay", "respawn_max", "respawn_period", "respawn_delay_step",
    "respawn_delay_cap", "respawn_delay_factor", "respawn_reset_after", "respawn_on",
    "respawn_stop_status", "healthcheck_timer", "watchdog_timer",
    "healthcheck_delay", "healthcheck_timeout", "output_log", "error_log",
    "output_logger", "error_logger", "input_file", "notify", "name", "description",
    "reload_signal", "sv_backend", "supervisor", "capabilities", "secbits",
    "no_new_privs", "stopgroup", "supervise_daemon_args", "supervise_daemon_compat",
    "SSD_NICELEVEL", "SSD_IONICELEVEL", "SSD_OOM_SCORE_ADJ",
)

BACKEND_PREFIXES = ("monit_", "runit_", "native_", "sv_")


class ServiceModel(Record):
    """The validated service: every variable the backends read, typed."""
    RECORD_FIELDS = (
        ("service", REQUIRED),            # RC_SVCNAME
        ("script", REQUIRED),             # RC_SERVICE: path of the init script
        ("command", REQUIRED),
        ("args", new(list)),
        ("backend", "native"),
        ("name", None),                   # display name (name=)
        ("description", None),
        ("user", None),                   # command_user as written (user[:group])
        ("uid", None),
        ("gid", None),
        ("directory", None),
        ("chroot", None),
        ("umask", None),
        ("pidfile", None),
        ("retry", new(list)),             # [(kind, value)]: convert.retry_schedule
        ("retry_text", None),             # the schedule as the user wrote it
        ("respawn_delay_ms", 0),
        ("respawn_max", 10),
        # The effective window, with the rule set's default when unset (0: the
        # whole lifetime); the _text fields are the values as written (None:
        # not set), so that only what the script says is passed on.
        ("respawn_period_ms", None),
        ("respawn_delay_text", None),
        ("respawn_period_text", None),
        ("respawn_delay_step_ms", 0),
        ("respawn_delay_cap_ms", 30000),
        ("respawn_delay_step_text", None),
        ("respawn_delay_cap_text", None),
        # The restart policy (ours, see openrc_sv.respawnpolicy): the same
        # attribute names as sd_args.Options, so Settings.of reads either.
        ("respawn_on", "always"),
        ("respawn_stop_exits", frozenset()),
        ("respawn_stop_signals", frozenset()),
        ("respawn_delay_factor", 0),      # thousandths; 0: the linear step
        ("respawn_reset_after_ms", 0),
        # Which OpenRC's supervise-daemon this service behaves like (see
        # openrc_sv.rcversion): the rule set, and the pin when the variables
        # name one (passed on as --compat, so that every backend applies the
        # same rules whatever it would detect by itself).
        ("rules", None),
        ("compat", None),
        ("healthcheck_timer_ms", None),
        ("healthcheck_delay_ms", None),
        ("healthcheck_timeout_ms", None),
        # The watchdog (ours, see openrc_sv.watchdog): WATCHDOG=1 at least this
        # often on the notify socket (notify=socket:ready); None: none.
        ("watchdog_timer_ms", None),
        ("output_log", None),
        ("error_log", None),
        ("output_logger", None),
        ("error_logger", None),
        ("input_file", None),
        ("notify", None),
        ("reload_signal", _SIGHUP),
        ("capabilities", None),           # cap_iab(3) text, checked here
        ("secbits", None),
        ("no_new_privs", False),
        # conf.d's SSD_NICELEVEL, SSD_IONICELEVEL, SSD_OOM_SCORE_ADJ (exported),
        # which supervise-daemon reads from its environment: here they are
        # options, so that openrc-sv-exec applies them under runit and monit too.
        ("nicelevel", None),
        ("ionice", None),
        ("oom_score_adj", None),
        ("stop_group", False),            # stopgroup=: signal the daemon's process group
        ("supervise_daemon_args", new(list)),
        ("has_healthcheck", False),       # the script defines healthcheck()
        ("has_unhealthy", False),
        ("extra", new(dict)),
    )

    @property
    def display_name(self):
        return self.name or self.service

    @property
    def argv(self):
        return [self.command] + list(self.args)

    @property
    def stop_signal(self):
        for kind, value in self.retry:
            if kind == "signal":
                return value
        return _SIGTERM


def _opt(variables, key):
    v = variables.get(key)
    return v if v not in (None, "") else None


def _path(key, value):
    if value is None:
        return None
    if "\n" in value or "\0" in value:
        raise UserError("%s: invalid value %r (a path cannot contain a newline)" % (key, value))
    return value


def from_variables(service, script, variables, args, functions=(), sd_args=None):
    """Build and validate the model.

    ``variables`` maps variable names to their values (unset ones absent),
    ``args`` is the shell's word list for command_args + command_args_foreground,
    ``functions`` the shell functions the script defines (for healthcheck),
    ``sd_args`` the shell's word list for supervise_daemon_args (None: not
    evaluated; then the value is split as a shell would, without expansions).
    """
    v = variables
    command = _opt(v, "command")
    if not command:
        raise UserError("command: not set; the init script must name the daemon to run "
                        "(command=/usr/bin/foo)")
    _path("command", command)
    m = ServiceModel(service=service, script=script, command=command, args=list(args))
    m.backend = _opt(v, "sv_backend") or "native"
    m.name = _opt(v, "name")
    m.description = _opt(v, "description")
    if _opt(v, "command_user"):
        m.user = v["command_user"]
        m.uid, m.gid, _, _ = convert.user_group("command_user", m.user)
    m.directory = _path("directory", _opt(v, "directory"))
    m.chroot = _path("chroot", _opt(v, "chroot"))
    if _opt(v, "umask"):
        m.umask = convert.umask("umask", v["umask"])
    m.pidfile = _path("pidfile", _opt(v, "pidfile"))
    stopsig = convert.signal_number("stopsig", v["stopsig"]) if _opt(v, "stopsig") else _SIGTERM
    if _opt(v, "retry"):
        m.retry_text = v["retry"]
        m.retry = convert.retry_schedule("retry", v["retry"], stopsig)
    else:
        m.retry = convert.retry_schedule("retry", "5", stopsig)
    _respawn(m, service, v)
    # C reads both timers with sscanf("%d"): see convert.duration_ms.
    if _opt(v, "healthcheck_timer"):
        m.healthcheck_timer_ms = convert.duration_ms("healthcheck_timer", v["healthcheck_timer"],
                                                     minimum=1, c_leading_number=True)
    if _opt(v, "healthcheck_delay"):
        m.healthcheck_delay_ms = convert.duration_ms("healthcheck_delay", v["healthcheck_delay"],
                                                     minimum=1, c_leading_number=True)
    if _opt(v, "healthcheck_timeout"):
        m.healthcheck_timeout_ms = convert.duration_ms("healthcheck_timeout", v["healthcheck_timeout"], minimum=1)
    for key in ("output_log", "error_log", "input_file"):
        setattr(m, key, _path(key, _opt(v, key)))
    m.output_logger = _opt(v, "output_logger")
    m.error_logger = _opt(v, "error_logger")
    if _opt(v, "notify"):
        convert.notify("notify", v["notify"])
        m.notify = v["notify"]
    if _opt(v, "watchdog_timer"):
        m.watchdog_timer_ms = convert.duration_ms("watchdog_timer", v["watchdog_timer"], minimum=1)
        from .. import watchdog
        # runit and monit first, whatever notify says: it cannot help there.
        watchdog.refuse(m, m.backend, v["watchdog_timer"])
        watchdog.check("watchdog_timer", v["watchdog_timer"],
                       convert.notify("notify", m.notify) if m.notify else None,
                       "notify=socket:ready")
    if _opt(v, "reload_signal"):
        m.reload_signal = convert.signal_number("reload_signal", v["reload_signal"])
    if _opt(v, "capabilities"):
        from .. import privs
        privs.parse_iab("capabilities", v["capabilities"])
        m.capabilities = v["capabilities"]
    if _opt(v, "secbits"):
        text = v["secbits"].strip()
        try:
            int(text, 8) if len(text) > 1 and text[0] == "0" and text.isdigit() else int(text, 0)
        except ValueError:
            raise UserError("secbits: invalid value '%s' (expected a number, e.g. 0x2f)" % v["secbits"])
        m.secbits = text
    if _opt(v, "SSD_NICELEVEL"):
        m.nicelevel = convert.integer("SSD_NICELEVEL", v["SSD_NICELEVEL"], -20, 19)
    if _opt(v, "SSD_IONICELEVEL"):
        convert.ionice("SSD_IONICELEVEL", v["SSD_IONICELEVEL"])
        m.ionice = v["SSD_IONICELEVEL"].strip()
    if _opt(v, "SSD_OOM_SCORE_ADJ"):
        m.oom_score_adj = convert.integer("SSD_OOM_SCORE_ADJ", v["SSD_OOM_SCORE_ADJ"], -1000, 1000)
    m.no_new_privs = bool(_opt(v, "no_new_privs")) and convert.yesno("no_new_privs", v["no_new_privs"])
    # OpenRC passes --stop-group whenever stopgroup is set, whatever its value.
    m.stop_group = "stopgroup" in v
    # supervise_start passes ${supervise_daemon_args:-${start_stop_daemon_args}}
    # through its eval: quotes group words (--env 'A=b c').
    if sd_args is not None:
        m.supervise_daemon_args = list(sd_args)
    else:
        text = _opt(v, "supervise_daemon_args") or _opt(v, "start_stop_daemon_args")
        if text:
            import shlex
            try:
                m.supervise_daemon_args = shlex.split(text)
            except ValueError as e:
                raise UserError("supervise_daemon_args: invalid value '%s' (%s)" % (text, e))
    m.has_healthcheck = "healthcheck" in functions
    m.has_unhealthy = "unhealthy" in functions
    m.extra = {k: val for k, val in v.items() if k.startswith(BACKEND_PREFIXES) and k != "sv_backend"}
    return m


def _respawn(m, service, v):
    """The respawn policy under the rule set of the OpenRC that runs us:
    the same choice and defaults as our supervise-daemon's (sd_args), so
    that native, runit and monit all behave as the drop-in would.  The
    shell has already loaded rc.conf, rc.conf.d and conf.d, so a pin
    anywhere in them (or in the script) is a variable here."""
    from .. import rcversion
    pin = v.get(rcversion.PIN)
    name = rcversion.parse_pin(rcversion.PIN, pin) if pin is not None else None
    if name:
        m.compat = name
        m.rules = rcversion.rules(name, "%s=%s" % (rcversion.PIN, pin))
    else:
        env = {k: val for k, val in v.items() if k.startswith("RC_") or k == "PATH"}
        m.rules = rcversion.choose(service, env, pin="auto")
    # Chosen once, here, for every backend: native's supervisor and monit's
    # launcher get it as --compat and never choose again (a pin in rc.conf.d
    # that the script overrode with `auto` would otherwise win there).
    m.compat = m.rules.name
    r = m.rules
    lenient = r.sscanf_respawn
    m.respawn_period_ms = r.respawn_period_ms
    m.respawn_delay_step_ms = r.respawn_delay_step_ms
    m.respawn_delay_cap_ms = r.respawn_delay_cap_ms
    if _opt(v, "respawn_delay"):
        m.respawn_delay_text = v["respawn_delay"]
        m.respawn_delay_ms = convert.duration_ms("respawn_delay", v["respawn_delay"],
                                                 c_leading_number=lenient)
    if _opt(v, "respawn_max"):
        m.respawn_max = convert.count("respawn_max", v["respawn_max"])
    if _opt(v, "respawn_period"):
        m.respawn_period_text = v["respawn_period"]
        # 0: the whole lifetime, as in OpenRC 0.62+ (before, C refused 0)
        m.respawn_period_ms = convert.duration_ms("respawn_period", v["respawn_period"],
                                                  c_leading_number=lenient)
    # OpenRC's own --respawn-delay-step/-cap (0.62+), which its
    # supervise-daemon.sh has no variable for; here they reach every backend.
    for key in ("respawn_delay_step", "respawn_delay_cap"):
        if _opt(v, key):
            setattr(m, key + "_text", v[key])
            setattr(m, key + "_ms", convert.duration_ms(key, v[key]))
    from .. import respawnpolicy
    if _opt(v, "respawn_on"):
        m.respawn_on = convert.choice("respawn_on", v["respawn_on"], respawnpolicy.RESPAWN_ON)
    if _opt(v, "respawn_stop_status"):
        m.respawn_stop_exits, m.respawn_stop_signals = convert.exit_statuses(
            "respawn_stop_status", v["respawn_stop_status"])
    if _opt(v, "respawn_delay_factor"):
        m.respawn_delay_factor = convert.factor("respawn_delay_factor", v["respawn_delay_factor"])
    if _opt(v, "respawn_reset_after"):
        m.respawn_reset_after_ms = convert.duration_ms("respawn_reset_after",
                                                       v["respawn_reset_after"])
    respawnpolicy.check(respawnpolicy.Settings.of(m), respawnpolicy.VARIABLE_NAMES,
                        m.respawn_delay_step_text is not None)


def resolve_command(model):
    """The daemon's path, checked to exist and be executable (inside the
    chroot when there is one)."""
    from ..command import resolve
    return resolve(model.command, model.chroot)
