"""The periodic health check runit lacks.

Run by runit itself, as the service SVC.health beside SVC, so that it is
supervised like the daemon and stops with it:

    python -m openrc_sv.backends.runit.healthwatch --dir SVDIR --script RC_SERVICE
        --timer MS --delay MS --timeout MS --retry SCHEDULE [--stop-group] [--unhealthy]

It behaves like supervise-daemon's health check: the first check runs
--delay after each (re)start of the daemon, the next ones every --timer.
A check is one healthrun.run() -- the same blocking run monit's checks
use: `RC_SERVICE healthcheck` in its own process group, the group killed
after it, a timeout of --timeout.  When it fails the watcher runs
`RC_SERVICE unhealthy` once (with --unhealthy: the script defines it),
then restarts the daemon with the service's stop schedule (--retry, as
supervise-daemon restarts an unhealthy daemon) through stopper.run_blocking
(the one stop driver): the first signal through runsv (`t`: control/t's
stop signal, which keeps the service wanted up), KILL through runsv (`k`),
any other to the daemon (or with --stop-group its process group).  ./finish
counts that restart as a respawn, as supervise-daemon does.  Each result
goes to SVDIR/state/health: "ok|failing|hidden EPOCH DETAIL" (EPOCH: unix
seconds with milliseconds, so that status can tell a result of the daemon
before from one of the current daemon: facts.py), and is counted in
SVDIR/state/health_runs and health_failures (healthrun.Counts).

With openrc_sv_textfile_dir set (promfile), each result and each new
daemon the watcher notices is published to node_exporter's textfile.

A check openrc-run refuses (extra_commands without healthcheck) is
recorded once as hidden, and the watcher takes itself down (`d` to its own
runsv) instead of restarting the daemon on every tick.

While the daemon is not running (respawning, or down after too many
respawns) nothing is checked.  The watcher exits when SVDIR disappears.
Lean on purpose: the standard library, supervise, procinfo, stopper and
healthrun only.
"""

import os
import signal
import sys
import time

from ... import healthrun, procinfo, promfile, stopper
from . import facts, supervise

IDLE_POLL = 0.25   # seconds between looks at a daemon that is not running


def _say(opts, text):
    sys.stderr.write("openrc-sv healthwatch %s: %s\n" % (os.path.basename(opts.dir), text))
    sys.stderr.flush()


def record(opts, result, detail):
    state = os.path.join(opts.dir, "state")
    tmp = os.path.join(state, "health.new")
    try:
        with open(tmp, "w") as f:
            f.write("%s %.3f %s\n" % (result, time.time(), detail))
        os.rename(tmp, os.path.join(state, "health"))
    except OSError:
        pass   # the service is being removed


class Metrics:
    """The service's textfile, when the administrator asked for one."""

    def __init__(self, opts):
        self.opts = opts
        self.pub = promfile.Publisher.configured(os.path.basename(opts.dir), "runit")

    def publish(self):
        if self.pub is None:
            return
        self.pub.publish(facts.Facts(self.opts.dir).metric_values())
        if self.pub.complaint:
            _say(self.opts, self.pub.complaint)


def restart(opts, pid):
    """Restart the daemon through runsv; KILL it if it lingers."""
    ident = procinfo.identity(pid)
    if ident is None:
        return

    first = [True]

    def send(signum):
        if signum == signal.SIGKILL:
            supervise.control(opts.dir, "k")
        elif first[0]:
            # The stop signal through runsv (`t`: control/t or TERM, then
            # CONT; `u` keeps it wanted up).
            first[0] = False
            supervise.control(opts.dir, "tcu")
        elif procinfo.same_process(ident):
            (os.killpg if opts.stop_group else os.kill)(pid, signum)

    if not stopper.run_blocking(opts.schedule, pid, lambda: procinfo.same_process(ident),
                                send=send):
        _say(opts, "daemon %d survived SIGKILL" % pid)


def running_daemon(opts):
    """(pid, start time) of the daemon while it runs, else None."""
    st = supervise.read_status(opts.dir)
    if st is None or st.state != "run" or st.pid is None or st.want != "up":
        return None
    return st.pid, st.since


def watch(opts):
    armed_for = None     # the daemon the schedule below belongs to
    due = 0.0            # wall-clock time of the next check
    counts = healthrun.Counts(os.path.join(opts.dir, "state"))
    metrics = Metrics(opts)
    while os.path.isdir(opts.dir):
        current = running_daemon(opts)
        if current is None:
            armed_for = None
            time.sleep(IDLE_POLL)
            continue
        pid, started = current
        if pid != armed_for:
            # A new daemon: its first check comes --delay after its start.
            armed_for = pid
            due = started + opts.delay / 1000.0
            metrics.publish()
        wait = due - time.time()
        if wait > 0:
            # Sleep in bounded steps, to notice a respawn or a stop.
            time.sleep(min(wait, 1.0))
            continue
        result, detail = healthrun.run(opts.script, "healthcheck", opts.timeout / 1000.0)
        if result == healthrun.HIDDEN:
            record(opts, "hidden", detail)
            metrics.publish()
            _say(opts, "%s: health checks stop" % detail)
            # Down for good: runsv must not start us again to find the same.
            supervise.control(os.path.join(opts.dir, "health"), "d")
            return
        if running_daemon(opts) != current:
            continue    # it was restarted or stopped meanwhile: not its result
        counts.add(result)
        if result == healthrun.PASSED:
            record(opts, "ok", detail)
            metrics.publish()
            # --timer 0 (healthcheck_delay alone): this daemon is done.
            due = time.time() + opts.timer / 1000.0 if opts.timer else float("inf")
            continue
        record(opts, "failing", detail)
        metrics.publish()
        _say(opts, "%s: restarting daemon %d" % (detail, pid))
        if opts.unhealthy:
            healthrun.run(opts.script, "unhealthy", opts.timeout / 1000.0)
        restart(opts, pid)


class Options:
    """--dir, --script and --retry (text), the three durations (ms),
    --stop-group and --unhealthy."""
    TEXT = ("dir", "script", "retry")
    MS = ("timer", "delay", "timeout")

    def __init__(self):
        self.unhealthy = False
        self.stop_group = False


def parse(argv):
    # Not argparse: this process lives as long as the service, and the
    # backend is the only one writing its command line.
    opts = Options()
    words = list(argv)
    while words:
        word = words.pop(0)
        name = word[2:].replace("-", "_")
        if word in ("--unhealthy", "--stop-group"):
            setattr(opts, name, True)
        elif word.startswith("--") and name in Options.TEXT + Options.MS and words:
            value = words.pop(0)
            setattr(opts, name, int(value) if name in Options.MS else value)
        else:
            raise SystemExit("openrc-sv-healthwatch: fatal: unknown argument %r" % word)
    missing = [n for n in Options.TEXT + Options.MS if not hasattr(opts, n)]
    if missing:
        raise SystemExit("openrc-sv-healthwatch: fatal: missing --%s" % missing[0].replace("_", "-"))
    from ...convert import retry_schedule
    from ...errors import UserError
    try:
        opts.schedule = retry_schedule("--retry", opts.retry)
    except UserError as e:
        raise SystemExit("openrc-sv-healthwatch: fatal: %s" % e)
    return opts


def _terminated(signum, frame):
    # runsv stops us with TERM (then CONT): leave at once.  A check that
    # runs now is killed with its group by healthrun.run's cleanup.
    sys.exit(0)


def main(argv=None):
    opts = parse(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, _terminated)
    watch(opts)
    # Hidden: stay down (runsv saw `d`); a stop or the next start resets us.
    return 0


if __name__ == "__main__":
    sys.exit(main())
