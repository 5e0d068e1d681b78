"""After the respawn limit: leave the state native leaves.

./finish starts this (in the background: runsv waits for ./finish) once
the daemon respawned more than respawn_max times within respawn_period:

    python -S -m openrc_sv.backends.runit.giveup --dir SVDIR --service SVC
        --script RC_SERVICE --svcdir RC_SVCDIR

./finish has already told runsv to keep the service down and recorded
state/failed.  This unlinks the service (and its health watcher) from the
scan directory, makes both runsvs exit, clears child_pid, and -- when
OpenRC believes the service started -- marks it stopped and failed, as
our supervisor does when it gives up: `rc-service SVC status` then says
stopped (exit 3) and the failed mark is there.  A service OpenRC is
starting or stopping is left to that start or stop.  The service directory
stays, with state/failed saying why, until the next start or stop.

Lean: the standard library, supervise.py and rcstate.py only.
"""

import os
import sys
import time

from . import supervise

EXIT_TIMEOUT = 10.0


def _read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def unlink_ours(svdir, service):
    """The scandir links that point at svdir (or its health/)."""
    scandir = _read(os.path.join(svdir, "state", "scandir"))
    if not scandir:
        return
    for name, target in ((service, svdir), (service + ".health", os.path.join(svdir, "health"))):
        link = os.path.join(scandir, name)
        try:
            if os.readlink(link) == target:
                os.unlink(link)
        except OSError:
            pass


def give_up(svdir, service, script, svcdir):
    # Unlinked first: runsvdir would start a new runsv for a link still there.
    unlink_ours(svdir, service)
    health = os.path.join(svdir, "health")
    for d in (health, svdir):
        supervise.control(d, "dx")
    deadline = time.monotonic() + EXIT_TIMEOUT
    while (supervise.runsv_running(svdir) or supervise.runsv_running(health)) \
            and time.monotonic() < deadline:
        time.sleep(0.05)
    from ...rcstate import ServiceState
    os.environ["RC_SERVICE"] = script
    st = ServiceState(service, root=svcdir)
    busy = any(st.is_marked(s) for s in ("starting", "stopping"))
    if busy or not st.is_marked("started"):
        try:
            os.unlink(st.path("options", service, "child_pid"))
        except OSError:
            pass
        return
    st.mark("stopped")      # options/ goes, child_pid with it
    st.mark("failed")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    opts = dict(zip(argv[0::2], argv[1::2]))
    try:
        give_up(opts["--dir"], opts["--service"], opts["--script"], opts["--svcdir"])
    except (KeyError, OSError) as e:
        sys.stderr.write("openrc-sv runit giveup: %s\n" % e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
