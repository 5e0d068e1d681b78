"""One table from the model to supervise-daemon's options.

Every backend starts the daemon through supervise-daemon's option
vocabulary: the native backend passes all of it to our supervise-daemon,
runit's ./run and monit's start program pass the process part to
openrc-sv-exec (openrc_sv.daemon_exec), which parses it with the same
parser and applies it with the same code.  So a variable maps to an option
here, once, and means the same thing on every backend.

Each row: (option, the model's value as the option's word or None when
unset, True when the option is about the daemon's process rather than its
supervision).  The order is supervise_start's in supervise-daemon.sh.
VARIABLES maps each option back to the variable a user wrote, so that a
message from supervise-daemon or openrc-sv-exec about `--stdout` reaches
an init script's author as one about `output_log`.
"""

from .. import convert


def _ms(attr, skip_zero=False):
    def get(m):
        ms = getattr(m, attr)
        if ms is None or (skip_zero and not ms):
            return None
        return convert.format_ms(ms)
    return get


def _retry(m):
    # newer supervise-daemon.sh turns stopsig into retry=SIG/5
    if m.retry_text is not None or m.stop_signal != 15:
        return convert.format_schedule(m.retry)
    return None


def _given_ms(attr):
    """A respawn value only when the script set it: the default is the rule
    set's, which the supervisor applies itself (and writes to options/SVC
    as the calling OpenRC would)."""
    def get(m):
        if getattr(m, attr + "_text") is None:
            return None
        return convert.format_ms(getattr(m, attr + "_ms"))
    return get


def _attr(name):
    return lambda m: getattr(m, name)


FLAG = object()     # an option without a value, given when the model says true

TABLE = [
    ("--retry", _retry, False),
    ("--chdir", _attr("directory"), True),
    ("--chroot", _attr("chroot"), True),
    ("--stdin", _attr("input_file"), True),
    ("--stdout", _attr("output_log"), True),
    ("--stderr", _attr("error_log"), True),
    ("--stdout-logger", _attr("output_logger"), True),
    ("--stderr-logger", _attr("error_logger"), True),
    ("--pidfile", _attr("pidfile"), False),
    ("--respawn-delay", _given_ms("respawn_delay"), False),
    ("--respawn-max", _attr("respawn_max"), False),
    ("--respawn-period", _given_ms("respawn_period"), False),
    ("--respawn-delay-step", _given_ms("respawn_delay_step"), False),
    ("--respawn-delay-cap", _given_ms("respawn_delay_cap"), False),
    # Ours only (respawnpolicy), given only when not the default, so that
    # a script without them passes what supervise_start passes.
    ("--respawn-on", lambda m: m.respawn_on if m.respawn_on != "always" else None, False),
    ("--respawn-stop-status", lambda m: convert.format_statuses(
        m.respawn_stop_exits, m.respawn_stop_signals)
        if m.respawn_stop_exits or m.respawn_stop_signals else None, False),
    ("--respawn-delay-factor", lambda m: convert.format_factor(m.respawn_delay_factor)
        if m.respawn_delay_factor else None, False),
    ("--respawn-reset-after", lambda m: convert.format_ms(m.respawn_reset_after_ms)
        if m.respawn_reset_after_ms else None, False),
    ("--healthcheck-delay", _ms("healthcheck_delay_ms"), False),
    ("--healthcheck-timer", _ms("healthcheck_timer_ms"), False),
    ("--healthcheck-timeout", _ms("healthcheck_timeout_ms"), False),
    # Ours only (openrc_sv.watchdog); needs --notify socket:ready.
    ("--watchdog-timer", _ms("watchdog_timer_ms"), False),
    ("--user", _attr("user"), True),
    ("--umask", lambda m: "%04o" % m.umask if m.umask is not None else None, True),
    ("--notify", _attr("notify"), False),
    ("--capabilities", _attr("capabilities"), True),
    ("--secbits", _attr("secbits"), True),
    ("--no-new-privs", lambda m: FLAG if m.no_new_privs else None, True),
    # From SSD_* in conf.d: supervise-daemon reads them from its
    # environment, openrc-sv-exec (runit, monit) only from its options.
    ("--nicelevel", _attr("nicelevel"), True),
    ("--ionice", _attr("ionice"), True),
    ("--oom-score-adj", _attr("oom_score_adj"), True),
    ("--stop-group", lambda m: FLAG if m.stop_group else None, False),
    # Ours only: a rule set the variables pin (supervise_daemon_compat),
    # so that the supervisor applies it whatever it would detect itself.
    ("--compat", _attr("compat"), False),
]


# Option -> the init script variable it comes from.
VARIABLES = {
    "--retry": "retry", "--chdir": "directory", "--chroot": "chroot", "--stdin": "input_file",
    "--stdout": "output_log", "--stderr": "error_log", "--stdout-logger": "output_logger",
    "--stderr-logger": "error_logger", "--pidfile": "pidfile",
    "--respawn-delay": "respawn_delay", "--respawn-max": "respawn_max",
    "--respawn-period": "respawn_period", "--respawn-delay-step": "respawn_delay_step",
    "--respawn-delay-cap": "respawn_delay_cap", "--respawn-on": "respawn_on",
    "--respawn-stop-status": "respawn_stop_status",
    "--respawn-delay-factor": "respawn_delay_factor",
    "--respawn-reset-after": "respawn_reset_after", "--healthcheck-delay": "healthcheck_delay",
    "--healthcheck-timer": "healthcheck_timer", "--healthcheck-timeout": "healthcheck_timeout",
    "--watchdog-timer": "watchdog_timer",
    "--user": "command_user", "--umask": "umask", "--notify": "notify",
    "--capabilities": "capabilities", "--secbits": "secbits", "--no-new-privs": "no_new_privs",
    "--stop-group": "stopgroup", "--nicelevel": "SSD_NICELEVEL",
    "--ionice": "SSD_IONICELEVEL", "--oom-score-adj": "SSD_OOM_SCORE_ADJ",
    "--compat": "supervise_daemon_compat",
}
_OPTION_AT_START = r"(^|: )(--[a-z-]+)(?=: )"


def in_variables(text):
    """A message naming an option, reworded to name its variable:
    "--stdout: cannot open ..." -> "output_log: cannot open ..."."""
    if "--" not in text:
        return text     # the usual case, without importing re (issue 10)
    import re
    return re.sub(_OPTION_AT_START,
                  lambda m: m.group(1) + VARIABLES.get(m.group(2), m.group(2)), text)


def _words(model, process_only):
    out = []
    for flag, get, is_process in TABLE:
        if process_only and not is_process:
            continue
        value = get(model)
        if value is FLAG:
            out.append(flag)
        elif value is not None:
            out.extend([flag, str(value)])
    return out


def start_options(model):
    """Every option supervise_start would pass, in its order; a variable
    that is not set adds nothing, as in the shell function."""
    return _words(model, False) + list(model.supervise_daemon_args)


def process_options(model, exported=()):
    """The options that set up the daemon's process: what openrc-sv-exec
    takes.  exported: (name, value) pairs to pass as --env."""
    words = _words(model, True)
    for name, value in exported:
        words.extend(["--env", "%s=%s" % (name, value)])
    return words
