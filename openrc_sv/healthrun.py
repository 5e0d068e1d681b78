"""One run of the init script's healthcheck() or unhealthy(), blocking.

For the health watchers that have no event loop of their own (runit's
healthwatch, monit's program check).  The supervisor's engine (health.py)
runs the same command the same way, without blocking its loop:

  * `$RC_SERVICE healthcheck|unhealthy`, stdin /dev/null, output captured;
  * in its own session and process group, so that whatever the check
    forks dies with it: after it exits, and when it times out, the whole
    group is sent SIGKILL (a check must not leave children behind);
  * a check whose command openrc-run refuses (extra_commands hides
    `healthcheck`) is reported as hidden, never as a failure.

Counts (the metrics' health-check runs and failures) are kept by the
watcher in its state directory, one file per counter named as the keys
of backends/base.py (health_runs, health_failures): see Counts.
"""

import os
import signal
import subprocess

from . import statekeys
from .health import _HIDDEN_MARKERS

# Results
PASSED, FAILED, TIMED_OUT, HIDDEN = "passed", "failed", "timed out", "hidden"
# A recorded result as status says it (backends.base's HEALTH_* words).
HEALTH_OF = {PASSED: "ok", FAILED: "failing", TIMED_OUT: "failing", HIDDEN: "hidden"}


def _signal_name(num):
    try:
        return signal.Signals(num).name[3:]
    except ValueError:
        return str(num)


def _kill_group(pgid):
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:
        pass


def run(script, command, timeout_s, env=None):
    """(result, detail): result is one of PASSED, FAILED, TIMED_OUT, HIDDEN;
    detail a short text for status and the log."""
    try:
        proc = subprocess.Popen([script, command], stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True, env=env)
    except OSError as e:
        return FAILED, "cannot run %s: %s" % (script, e.strerror)
    try:
        out, _ = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _kill_group(proc.pid)
        proc.communicate()
        return TIMED_OUT, "%s timed out after %gs" % (command, timeout_s)
    finally:
        # Children it left (backgrounded, or holding no pipe) go too.
        _kill_group(proc.pid)
    code = proc.returncode
    if code == 0:
        return PASSED, "%s passed" % command
    if any(m in out for m in _HIDDEN_MARKERS):
        return HIDDEN, "%s is not a command of %s (extra_commands)" % (command, script)
    tail = out.decode(errors="replace").strip().splitlines()[-1:] or [""]
    how = "exit %d" % code if code > 0 else "signal %s" % _signal_name(-code)
    return FAILED, "%s failed (%s)%s" % (command, how, (": " + tail[0][:200]) if tail[0] else "")


class Counts:
    """Health checks run to a result, and how many of them failed (timed
    out included; a hidden check is no run), since the service started.
    Kept in two small files in a root-only state directory (runit's
    SVDIR/state, monit's state dir), so that a watcher that is restarted
    goes on counting; each is replaced atomically."""

    RUNS, FAILURES = statekeys.HEALTH_RUNS, statekeys.HEALTH_FAILURES

    def __init__(self, state_dir):
        self.dir = state_dir
        self.runs = self._read(self.RUNS)
        self.failures = self._read(self.FAILURES)

    def _read(self, name):
        try:
            with open(os.path.join(self.dir, name)) as f:
                text = f.read().strip()
        except OSError:
            return 0
        return int(text) if text.isdigit() else 0

    def add(self, result):
        """Count one result; returns self.  A write that fails (the service
        is being removed) is not an error."""
        if result == HIDDEN:
            return self
        self.runs += 1
        names = [(self.RUNS, self.runs)]
        if result != PASSED:
            self.failures += 1
        if result != PASSED or self.runs == 1:
            # Written at the first run too: status then shows 0, as
            # metrics does, rather than "not counted".
            names.append((self.FAILURES, self.failures))
        from .rcstate import write_atomic
        for name, value in names:
            try:
                write_atomic(os.path.join(self.dir, name), "%d\n" % value, 0o644)
            except OSError:
                pass
        return self
