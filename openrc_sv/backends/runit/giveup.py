"""After the respawn limit: leave the state native leaves.

./finish runs this once the daemon respawned more than respawn_max times
within respawn_period:

    python -S -m openrc_sv.backends.runit.giveup --dir SVDIR --service SVC
        --script RC_SERVICE --svcdir RC_SVCDIR

First, when OpenRC believes the service started, it marks it stopped and
failed, as our supervisor does when it gives up: `rc-service SVC status`
then says stopped (exit 3) and the failed mark is there.  (Until then the
daemon's runsv still wants it up, so a status asked meanwhile says
"starting", never "crashed".)  Then it unlinks the service and its health
watcher from the scan directory, clears child_pid and tells both runsvs
to go down and exit (runsv does, once ./finish has returned); ./finish
then records state/failed.  With openrc_sv_textfile_dir set, the
service's textfile then says failed (promfile).  A service OpenRC is
starting or stopping is left to that start or stop.  The service directory
stays, with state/failed saying why, until the next start or stop.

Lean: the standard library, supervise.py and rcstate.py only.
"""

import os
import sys

from . import supervise


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


def give_up(svdir, service, script, svcdir, failed=True):
    """failed=False: the daemon ended in a way respawn_on does not respawn
    (a clean exit): stopped, as native leaves it, but not marked failed."""
    from ...rcstate import ServiceState
    os.environ["RC_SERVICE"] = script
    st = ServiceState(service, root=svcdir)
    busy = any(st.is_marked(s) for s in ("starting", "stopping"))
    if st.is_marked("started") and not busy:
        if failed:
            st.gave_up()
        else:
            st.mark("stopped")
    else:
        try:
            os.unlink(st.path("options", service, "child_pid"))
        except OSError:
            pass
    # runsvdir would start a new runsv for a link still there.
    unlink_ours(svdir, service)
    supervise.control(os.path.join(svdir, "health"), "dx")
    publish(svdir, service, failed)


def publish(svdir, service, failed=True):
    """The textfile (promfile), as finish is about to leave it: down and
    given up (./finish writes state/failed after we return)."""
    from ... import promfile
    from .facts import Facts
    pub = promfile.Publisher.configured(service, "runit")
    if pub is None:
        return
    values = Facts(svdir).metric_values()
    values.update(up=0, failed=1 if failed else 0, start_time=None, health=None)
    pub.publish(values)
    if pub.complaint:
        sys.stderr.write("openrc-sv runit giveup: %s\n" % pub.complaint)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    opts = dict(zip(argv[0::2], argv[1::2]))
    try:
        give_up(opts["--dir"], opts["--service"], opts["--script"], opts["--svcdir"],
                failed=opts.get("--failed", "yes") != "no")
    except (KeyError, OSError) as e:
        sys.stderr.write("openrc-sv runit giveup: %s\n" % e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
