"""The runit backend: runsv supervises the daemon, openrc-sv sets it up.

start renders a service directory (render.py, layout.py), links it into the
directory a runsvdir watches, waits for runsvdir to start a runsv for it,
tells runsv `up` and confirms the daemon runs; stop takes the daemon down
following the init script's retry schedule, unlinks the directory, makes
runsv exit and removes every file.  runit is driven with its own tools
(sv(8), through the `sh` package) and read through runsv's supervise/
files (supervise.py).

What runit cannot do the way supervise-daemon does:
- a respawn comes at least one second after a daemon that ran for less
  than a second (runsv waits that long, before ./finish adds respawn_delay);
- stdout and stderr share the one log pipe runsv gives a service;
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
