"""The options/SVC keys `supervise-daemon --start` writes, in one place,
and how `--stop` and a start that takes a supervisor back read them.

    pidfile             the supervisor's pidfile (a path, not a pid)
    respawn_delay, respawn_period, respawn_delay_step, respawn_delay_cap,
    respawn_max         as the calling OpenRC's C supervisor writes them
                        (see start_values and rcversion's rule sets)
    exec, argc, argv_N  the daemon's command line
    retry               the stop schedule as given (absent: the default)
    respawn_on, respawn_stop_status, respawn_delay_factor, respawn_reset_after
                        ours (respawnpolicy), only when not the default, so
                        that options/SVC stays what OpenRC's binary writes
                        for a script that does not use them
    down_reason         cleared: why the service's last daemon was not
                        respawned (DOWN_REASON, written when it stops for
                        good) belongs to the run before this start

The supervisor adds its own: supervisor_ident, child_pid, child_ident,
start_time, start_count, restarts, last_exit, healthcheck (ok, failing,
pending, hidden; "watchdog" while a watchdog miss restarts the daemon),
and with --watchdog-timer watchdog_misses (WATCHDOG_MISSES).
"""

from .convert import format_factor, format_ms, format_statuses

SUPERVISOR_KEYS = ("supervisor_ident", "child_pid", "child_ident", "start_time",
                   "start_count", "restarts", "last_exit", "healthcheck", "watchdog_misses")

# Why a service is down for good, in words ("stop status: exit 78",
# "respawned more than 10 times within 12sec (last: exit 1)"): written by
# whatever stops respawning it (respawnpolicy.Decision.reason), after the
# service is marked stopped, which empties options/SVC.
DOWN_REASON = "down_reason"

# Counters the supervisors and health runners keep (see backends/base.py):
# decimal integers since the service was started; absent when not counted.
HEALTH_RUNS = "health_runs"            # health checks run to a result
HEALTH_FAILURES = "health_failures"    # of those, failed or timed out
WATCHDOG_MISSES = "watchdog_misses"    # watchdog intervals without WATCHDOG=1


def policy_values(o):
    """The restart policy's keys, for what differs from the default."""
    values = {}
    if getattr(o, "respawn_on", "always") != "always":
        values["respawn_on"] = o.respawn_on
    if getattr(o, "respawn_stop_exits", None) or getattr(o, "respawn_stop_signals", None):
        values["respawn_stop_status"] = format_statuses(o.respawn_stop_exits,
                                                        o.respawn_stop_signals)
    if getattr(o, "respawn_delay_factor", 0):
        values["respawn_delay_factor"] = format_factor(o.respawn_delay_factor)
    if getattr(o, "respawn_reset_after_ms", 0):
        values["respawn_reset_after"] = format_ms(o.respawn_reset_after_ms)
    return values


def _seconds(ms):
    """OpenRC before 0.62 writes "%i" seconds; a value only ours can have
    (500ms, 1.5) keeps its unit rather than being cut to a wrong integer."""
    return "0" if not ms else (str(ms // 1000) if ms % 1000 == 0 else format_ms(ms))


def start_values(opts, pidfile):
    """What `--start` writes, as the calling OpenRC's binary writes it
    (opts.rules, see rcversion): 0.62 and later write respawn_delay and
    respawn_period as given on the command line ("0" and "12sec" when
    not), which tools such as openrc-exporter read; earlier ones whole
    seconds, and no delay step or cap (they had none)."""
    rules = opts.rules
    values = {"pidfile": pidfile}
    if rules is not None and rules.raw_strings:
        values["respawn_delay"] = (opts.respawn_delay_text
                                   if opts.respawn_delay_text is not None else "0")
        values["respawn_period"] = (opts.respawn_period_text
                                    if opts.respawn_period_text is not None
                                    else rules.respawn_period_text)
    else:
        values["respawn_delay"] = _seconds(opts.respawn_delay_ms)
        values["respawn_period"] = _seconds(opts.respawn_period_ms)
    if rules is None or rules.raw_strings or opts.respawn_delay_step_ms:
        values["respawn_delay_step"] = str(opts.respawn_delay_step_ms)
        values["respawn_delay_cap"] = str(opts.respawn_delay_cap_ms)
    values.update({
        "respawn_max": str(opts.respawn_max),
        "exec": opts.exec,
        "argc": str(len(opts.argv)),
    })
    if opts.retry_text:
        values["retry"] = opts.retry_text
    values.update(policy_values(opts))
    values[DOWN_REASON] = None
    for i, a in enumerate(opts.argv):
        values["argv_%d" % i] = a
    return values


def read_start(get):
    """(exec, argv, pidfile, retry_text) from a getter of options/SVC keys
    (ServiceState.get); None for what is missing."""
    argv = None
    argc = get("argc")
    if argc and argc.strip().isdigit():
        argv = [get("argv_%d" % i) for i in range(int(argc))]
        if any(a is None for a in argv):
            argv = None
    return get("exec"), argv, get("pidfile"), get("retry")
