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
"""

import os
import signal
import subprocess

from .health import _HIDDEN_MARKERS

# Results
PASSED, FAILED, TIMED_OUT, HIDDEN = "passed", "failed", "timed out", "hidden"


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
    how = "exit %d" % code if code > 0 else "signal %d" % -code
    return FAILED, "%s failed (%s)%s" % (command, how, (": " + tail[0][:200]) if tail[0] else "")
