"""The options/SVC keys `supervise-daemon --start` writes, in one place,
and how `--stop` and a start that takes a supervisor back read them.

    pidfile             the supervisor's pidfile (a path, not a pid)
    respawn_delay, respawn_period, respawn_delay_step, respawn_delay_cap,
    respawn_max         as OpenRC's C supervisor writes them
    exec, argc, argv_N  the daemon's command line
    retry               the stop schedule as given (absent: the default)

The supervisor adds its own: supervisor_ident, child_pid, child_ident,
start_time, start_count, restarts, last_exit, healthcheck.
"""

from .convert import format_ms

SUPERVISOR_KEYS = ("supervisor_ident", "child_pid", "child_ident", "start_time",
                   "start_count", "restarts", "last_exit", "healthcheck")


def _raw(ms):
    return "0" if not ms else (str(ms // 1000) if ms % 1000 == 0 else format_ms(ms))


def start_values(opts, pidfile):
    values = {
        "pidfile": pidfile,
        "respawn_delay": _raw(opts.respawn_delay_ms),
        "respawn_period": _raw(opts.respawn_period_ms),
        "respawn_delay_step": str(opts.respawn_delay_step_ms),
        "respawn_delay_cap": str(opts.respawn_delay_cap_ms),
        "respawn_max": str(opts.respawn_max),
        "exec": opts.exec,
        "argc": str(len(opts.argv)),
    }
    if opts.retry_text:
        values["retry"] = opts.retry_text
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
