"""The programs and init scripts the bench installs in a sandbox.

All programs live in /run/bench/bin (procs.DAEMON_DIR), which is how the
bench tells the daemons and its own helpers from the supervision under
test.  Every value put into an init script is shell-quoted.
"""

import shlex

BIN = "/run/bench/bin"
EVENTS = "/run/bench/events"

PROGRAMS = {
    # A long-running daemon: announce, then become `sleep` (bench-idle,
    # a copy of it) in the same process, so the supervisor's child is it.
    "bench-daemon": """#!/bin/sh
echo "up $1 $$" > %(events)s
exec %(bin)s/bench-idle infinity
""" % {"events": EVENTS, "bin": BIN},

    # A daemon that dies at once: one byte per start, counted by size.
    "bench-crash": """#!/bin/sh
printf x >> /run/bench/crashes
exit 1
""",

    # `timed ACTION SVC...`: rc-service ACTION for each service in a row,
    # then the wall-clock bounds of the row (bash's EPOCHREALTIME: us, and
    # no process started to read the clock).
    "timed": """#!/bin/bash
action=$1; shift
t0=$EPOCHREALTIME
for s in "$@"; do
	if ! rc-service "$s" "$action" > /run/bench/rc.out 2>&1; then
		echo "rc-service $s $action failed:"; cat /run/bench/rc.out; exit 1
	fi
done
t1=$EPOCHREALTIME
echo "$t0 $t1"
""",
}

# healthcheck() counts itself; it fails once each time the bench creates
# /run/bench/sick.SVC, and says so on the fifo at the moment it fails.
HEALTH_FUNCTIONS = """
healthcheck() {
	printf x >> /run/bench/checks.$RC_SVCNAME
	if [ -e /run/bench/sick.$RC_SVCNAME ]; then
		rm -f /run/bench/sick.$RC_SVCNAME
		echo "sick $RC_SVCNAME" > %(events)s
		return 1
	fi
	return 0
}
unhealthy() {
	echo "unhealthy $RC_SVCNAME" > %(events)s
}
""" % {"events": EVENTS}


def init_script(svc, column, crash=False, health=False, **variables):
    """An init script running the bench daemon (or the crashing one) under
    the column's supervisor.  respawn_max=0: OpenRC's C supervisor gives up
    after 10 respawns in its lifetime by default, and the bench kills far
    more often than that."""
    values = dict(column.script_vars)
    values["command"] = BIN + ("/bench-crash" if crash else "/bench-daemon")
    values["command_args"] = svc
    values["respawn_max"] = "0"
    values.update({k: str(v) for k, v in variables.items()})
    lines = ["#!/sbin/openrc-run"]
    lines += ["%s=%s" % (k, shlex.quote(v)) for k, v in values.items()]
    if health:
        lines.append(HEALTH_FUNCTIONS)
    return "\n".join(lines) + "\n"


def runit_run(svc):
    """The `run` script a runit user would write for the same daemon."""
    return "#!/bin/sh\nexec %s/bench-daemon %s\n" % (BIN, shlex.quote(svc))
