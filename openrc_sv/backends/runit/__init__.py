"""The runit backend: runsv supervises the daemon, openrc-sv sets it up.

start renders a service directory (render.py, layout.py), links it into the
directory a runsvdir watches, waits for runsvdir to start a runsv for it,
tells runsv `up` and confirms the daemon runs; stop takes the daemon down
following the init script's retry schedule, unlinks the directory, makes
runsv exit and removes every file.  A service directory openrc-sv did not
create (it lacks our marker, see layout.py) is never used or removed.
After respawn_max respawns within respawn_period, ./finish and giveup.py
leave what native leaves: OpenRC's service stopped and marked failed, no
runsv, no child_pid.  runit is driven with its own tools
(sv(8), through the `sh` package) and read through runsv's supervise/
files (supervise.py).

The daemon's process is set up by openrc-sv-exec (openrc_sv.daemon_exec),
the core every backend uses: ./run execs it in place of chpst.  It opens
input_file, output_log and error_log after becoming command_user, so they
are the files named, stdout and stderr apart, and nothing the user planted
makes root open a file.

Which user runs what:
- the daemon: command_user (else root), as under supervise-daemon;
- the log service (only with output_logger/error_logger or runit_logdir):
  the logger, or svlogd in runit_logdir, runs as command_user too, through
  openrc-sv-exec -- svlogd obeys a `config` file (whose `!processor` line
  it runs) and writes through `current`, both in a directory that user
  usually owns.  Without command_user svlogd runs as root, and start
  refuses a runit_logdir that anyone but root can change (the directory
  or one of its parents);
- runsv, ./finish, ./check and the health watcher: root (runsvdir's).

What runit cannot do the way supervise-daemon does:
- a respawn comes at least one second after a daemon that ran for less
  than a second (runsv waits that long, before ./finish adds respawn_delay);
- runsv gives a service one log pipe: output_logger and error_logger must
  be the same command, and runit_logdir excludes both (refused otherwise);
- runsvdir looks for new services every five seconds, so a start can take
  that long before the daemon runs;
- the stop timeouts are ours (we poll runsv's status), since `sv -w` counts
  whole seconds.

The class lives in backend.py and is imported on first use, so that the
health watcher (healthwatch.py), which runs for as long as the service
does, loads none of it.
"""


def __getattr__(name):
    if name == "RunitBackend":
        from .backend import RunitBackend
        return RunitBackend
    raise AttributeError("module %r has no attribute %r" % (__name__, name))
