"""A crash storm: a daemon that exits at once, many times in a row, then
stays up.  Our supervisor writes a crash loop's state at most once per
RetryingWriter.GAP (openrc_sv/rcstate.py) rather than at every respawn;
once the daemon stays up, OpenRC's values name it exactly as the C
supervisor's do, and ours (child_ident, restarts) agree."""

import pytest

import initscripts as I
from sandbox import wait_for

pytestmark = pytest.mark.integration

CRASHES = 40
STORM = "/run/storm"
# Exits at once CRASHES times (sh starts in about a millisecond: hundreds of
# respawns a second), then becomes a daemon that stays, as the same pid.
SCRIPT = """#!/bin/sh
n=$(cat %(d)s/n 2>/dev/null || echo 0)
echo $((n + 1)) > %(d)s/n
[ "$n" -ge %(crashes)d ] || exit 1
echo $$ > %(d)s/up
exec sleep 1000
""" % {"d": STORM, "crashes": CRASHES}


def _ticks(sb, pid):
    return sb.read("/proc/%d/stat" % pid).rsplit(")", 1)[1].split()[19]


@pytest.mark.parametrize("supervisor", ["c", "ours"])
def test_after_a_storm_the_state_names_the_daemon_that_stayed(sandbox, supervisor):
    sb = sandbox(supervisor)
    sb.write(STORM + "/storm", SCRIPT, 0o755)
    sb.install_script("storm", "\n".join([
        "#!/sbin/openrc-run", "supervisor=supervise-daemon", "command=%s/storm" % STORM,
        "respawn_max=0", ""]))
    r = sb.rc("storm", "start")
    assert r.returncode == 0, r.stdout + r.stderr
    up = wait_for(lambda: int(sb.read(STORM + "/up")) if sb.read(STORM + "/up") else None, 30,
                  what="the daemon to stay up after %d crashes" % CRASHES)
    assert int(sb.read(STORM + "/n")) == CRASHES + 1
    # Within the writer's gap: a deadline, not a sleep.
    wait_for(lambda: sb.value("storm", "child_pid") == str(up), 10, what="child_pid to name it")
    assert sb.value("storm", "start_count") == str(CRASHES)
    if supervisor == "ours":
        assert sb.value("storm", "restarts") == str(CRASHES)
        assert sb.value("storm", "child_ident") == "%d:%s" % (up, _ticks(sb, up))
        assert sb.value("storm", "last_exit") == "exit 1"
    assert sb.status("storm") == 0
    assert sb.rc("storm", "stop").returncode == 0
    assert not sb.alive(up)
