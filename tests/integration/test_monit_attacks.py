"""sv_backend=monit through rc-service, with the daemon's user attacking.

The plugin is installed with `openrc-sv setup --plugin`, a real monit runs
in the sandbox (1-second cycle), and the daemon runs as `nobody`.  The
attacker is `nobody` too (setpriv), working in the directories it owns.
Each test asserts that nothing but our daemon was signalled.
"""

import shlex

import pytest

import initscripts as I
from sandbox import wait_for

pytestmark = pytest.mark.integration

# The same monit as test_monit_backend's: 1-second cycle, our include dir.
from test_monit_backend import CONF, MONITRC  # noqa: E402,F401
AS_NOBODY = ["setpriv", "--reuid", "nobody", "--regid", "nogroup", "--clear-groups"]
VICTIM_DIR = "/run/victim"
# A root process the attacker would like to see killed: it records every
# signal it can catch, one line each.
VICTIM = r"""
echo $$ > %(d)s/pid
for s in HUP INT QUIT USR1 USR2 TERM; do
    trap "echo $s >> %(d)s/signals" $s
done
while :; do sleep 0.1 & wait $!; done
""" % {"d": VICTIM_DIR}


def monit_world(sb):
    r = sb.run("openrc-sv", "setup", "--plugin")
    assert r.returncode == 0, r.stdout + r.stderr
    I.install_programs(sb)
    sb.run("mkdir", "-p", "/run/monit", "/run/openrc-monit", check=True)
    sb.write(CONF, MONITRC, 0o600)
    sb.spawn("monit", "-I", "-c", CONF)
    wait_for(lambda: sb.run("monit", "-c", CONF, "summary").returncode == 0, 10,
             what="monit to answer")


def install(sb, svc, functions="", flags=None, **variables):
    d = I.statedir(svc)
    sb.run("mkdir", "-p", "-m", "0777", d, check=True)
    for name, value in (flags or {}).items():
        sb.write("%s/%s" % (d, name), value)
    lines = ["#!/sbin/openrc-run", "supervisor=openrc-sv", "command=%s" % I.DAEMON,
             "command_args=%s" % shlex.quote(d), "extra_started_commands=reload"]
    lines += ["%s=%s" % (k, shlex.quote(str(v))) for k, v in variables.items()]
    sb.install_script(svc, "\n".join(lines + [functions]) + "\n",
                      "sv_backend=monit\nmonit_conf=%s\n" % CONF)


def live_daemon(sb, svc, other_than=None, timeout=20):
    def up():
        pid = I.daemon_pid(sb, svc)
        return pid if pid and pid != other_than and sb.alive(pid) else None
    return wait_for(up, timeout, what="%s's daemon" % svc)


def start_victim(sb):
    sb.run("mkdir", "-p", "-m", "0755", VICTIM_DIR, check=True)
    sb.spawn("sh", "-c", VICTIM)
    pid = wait_for(lambda: (sb.read(VICTIM_DIR + "/pid") or "").strip(), 10, what="the victim")
    return int(pid)


def victim_signals(sb, pid):
    """Every signal the victim caught before now.  We send it USR2 ourselves
    and wait until it has recorded that: whatever reached it earlier has
    been recorded by then too (its traps run after each short wait)."""
    sb.run("kill", "-USR2", str(pid), check=True)
    wait_for(lambda: "USR2" in (sb.read(VICTIM_DIR + "/signals") or "").split(), 10,
             what="the victim to record our USR2")
    seen = (sb.read(VICTIM_DIR + "/signals") or "").split()
    seen.remove("USR2")
    return seen


@pytest.fixture
def msb(sandbox):
    sb = sandbox("ours")
    monit_world(sb)
    return sb


def test_a_forged_pidfile_gets_no_process_signalled_but_our_daemon(msb):
    """pidfile= in a directory nobody owns: nobody replaces the pidfile with
    the pid of a root process.  reload and stop act on the daemon we
    started (pid and start time, kept in root's private state), never on
    the pid the file names; monit itself does not watch that file."""
    msb.run("mkdir", "-p", "-m", "0755", "/run/owned", check=True)
    msb.run("chown", "nobody:nogroup", "/run/owned", check=True)
    install(msb, "svc", command_user="nobody", pidfile="/run/owned/svc.pid")
    victim = start_victim(msb)
    r = msb.rc("svc", "start")
    assert r.returncode == 0, r.stdout + r.stderr
    daemon = live_daemon(msb, "svc")
    # The user-visible pidfile is still written, for whoever reads it.
    wait_for(lambda: (msb.read("/run/owned/svc.pid") or "").strip() == str(daemon), 10,
             what="the compatibility pidfile")
    monitrc = msb.read("/run/openrc-monit/svc.monitrc")
    assert "/run/owned" not in monitrc

    attack = "rm -f /run/owned/svc.pid && echo %d > /run/owned/svc.pid" % victim
    r = msb.run(*AS_NOBODY, "sh", "-c", attack)
    assert r.returncode == 0, r.stderr
    assert msb.read("/run/owned/svc.pid").strip() == str(victim)

    r = msb.rc("svc", "reload")
    assert r.returncode == 0, r.stdout + r.stderr
    wait_for(lambda: (daemon, "SIGHUP") in I.signals(msb, "svc"), 10, what="SIGHUP to the daemon")

    r = msb.rc("svc", "stop")
    assert r.returncode == 0, r.stdout + r.stderr
    wait_for(lambda: not msb.alive(daemon), 10, what="the real daemon to be stopped")
    assert I.signals(msb, "svc") == [(daemon, "SIGHUP"), (daemon, "SIGTERM")]
    assert msb.alive(victim)
    assert victim_signals(msb, victim) == []
    assert msb.status("svc") == 3
    assert I.daemons(msb) == []
