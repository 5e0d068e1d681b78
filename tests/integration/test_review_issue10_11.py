"""Adversarial review of the issue 10/11 changes (watchdog, textfile, restart
policy, fork server, lean start): what the review found, as tests that
now pass.  Two findings: the watchdog's notify socket (below) and the
textfile directory (further down, at promfile.open_dir).

The watchdog keeps the notify socket open for the daemon's whole life
(supervisor.watch_notify) and takes every datagram on it as the daemon's
word.  The socket is chowned to the daemon's user, so every process of that
user -- another service running as `nobody`, a leftover child of an
earlier daemon -- can send WATCHDOG=trigger (restart the service at will)
or WATCHDOG=1 (keep a hung daemon "healthy" for ever).  systemd, whose
protocol this is, takes watchdog messages from the main pid only by default
(NotifyAccess=main, checked with SCM_CREDENTIALS).  Here `nobody`, via
setpriv, plays the other process of the daemon's user.
"""

import pytest

import initscripts as I
from sandbox import wait_for
from test_backends import world
from test_watchdog import WDDAEMON, WDDAEMON_TEXT, _daemon, _times

pytestmark = pytest.mark.integration

INTERVAL = 3
RETRY = "TERM/3/KILL/2"
SCHEDULE = 5
MARGIN = 2
AS_NOBODY = ("setpriv", "--reuid", "nobody", "--regid", "nogroup", "--clear-groups")

# Sends MSG to PATH, then again every 0.5 s for SECONDS, or until the file
# STOP (if given) exists.
SEND = r'''
import os, socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
msg, path, seconds = sys.argv[1].encode(), sys.argv[2], float(sys.argv[3])
stop = sys.argv[4] if len(sys.argv) > 4 else None
end = time.monotonic() + seconds
while True:
    s.sendto(msg, path)
    if time.monotonic() >= end or (stop and os.path.exists(stop)):
        break
    time.sleep(0.5)
'''


def _setup(sandbox, svc):
    """A native service with a watchdog whose daemon runs as nobody."""
    sb = sandbox("ours")
    world(sb, "native")
    sb.write(WDDAEMON, WDDAEMON_TEXT, 0o755)
    d = I.statedir(svc)
    sb.run("mkdir", "-p", "-m", "0777", d, check=True)
    script = "\n".join(["#!/sbin/openrc-run", "supervisor=openrc-sv", "command=" + WDDAEMON,
                        "command_args=" + d, "command_user=nobody:nogroup",
                        "retry=" + RETRY, "notify=socket:ready",
                        "watchdog_timer=%d" % INTERVAL]) + "\n"
    sb.install_script(svc, script, "sv_backend=native\n")
    r = sb.rc(svc, "start")
    assert r.returncode == 0, r.stdout + r.stderr
    return sb, d


def _sock(svc):
    return "/run/openrc/supervise-%s.sock" % svc


def test_another_process_of_the_daemons_user_cannot_trigger_a_restart(sandbox):
    svc = "wdtrig"
    sb, d = _setup(sandbox, svc)
    first = _daemon(sb, svc)
    assert sb.value(svc, "watchdog_misses") == "0"
    # Another process running as nobody (not the daemon, nor its child).
    r = sb.run(*AS_NOBODY, "python3", "-c", SEND, "WATCHDOG=trigger", _sock(svc), "0")
    assert r.returncode == 0, r.stderr          # it may send: the socket is nobody's
    n = len(_times(sb, d, "keepalives", first))
    # The daemon's own keepalives for a whole interval after the spoofed
    # trigger (read in order: the supervisor has seen the trigger by then),
    # or the miss it caused, whichever first.
    wait_for(lambda: sb.value(svc, "watchdog_misses") != "0"
             or len(_times(sb, d, "keepalives", first)) >= n + 3 + 1,
             INTERVAL + 10, what="an interval of keepalives after the spoofed trigger")
    assert sb.value(svc, "watchdog_misses") == "0", "a stranger's WATCHDOG=trigger counted"
    assert [p for p, _ in I.starts(sb, svc)] == [first], "restarted on a stranger's word"
    assert sb.rc(svc, "stop").returncode == 0


def test_another_process_of_the_daemons_user_cannot_keep_a_stuck_daemon_alive(sandbox):
    svc = "wdfeed"
    sb, d = _setup(sandbox, svc)
    first = _daemon(sb, svc)
    wait_for(lambda: len(_times(sb, d, "keepalives", first)) >= 2, 10,
             what="the daemon's keepalives")
    window = INTERVAL + SCHEDULE + MARGIN
    # A stranger (nobody) feeds the watchdog twice a second from now on
    # (longer than any wait below: until told to stop)...
    stop = d + "/feeder.stop"
    feeder = sb.spawn(*AS_NOBODY, "python3", "-c", SEND, "WATCHDOG=1", _sock(svc),
                      "600", stop)
    try:
        # ...and the daemon hangs: it must still be restarted.
        sb.write("%s/stuck.%d" % (d, first), "")
        wait_for(lambda: _times(sb, d, "stuck", first), 10, what="the daemon to get stuck")
        wait_for(lambda: len(I.starts(sb, svc)) > 1, window,
                 what="the watchdog's restart of the stuck daemon")
        assert sb.value(svc, "watchdog_misses") == "1"
    finally:
        sb.write(stop, "")
        feeder.wait(timeout=30)
    assert sb.rc(svc, "stop").returncode == 0


# -- the textfile directory (promfile.open_dir) ------------------------------------
#
# open_dir checks the configured path (trust.untrusted_part), then opens
# os.path.realpath(path) -- resolved again, at another time -- with an
# O_NOFOLLOW that can no longer refuse anything (realpath left no link).
# What is written is what the second resolution found, so:
#   - the directories above a root-owned link's target are never checked:
#     a user owning one of them swaps the target for a link of their own;
#   - a directory that does not exist passes the check ("parts that do not
#     exist yet are fine"), and a user who creates it (a link) between the
#     check and the open, in a sticky /tmp-like parent, chooses it.
# Either way root writes openrc-sv-SVC.prom (and a .tmp) into a root-owned
# directory the user picked.

def _nobody():
    import pwd
    pw = pwd.getpwnam("nobody")
    return pw.pw_uid, pw.pw_gid


def _root_dir(path, mode=0o755):
    import os
    os.mkdir(path)
    os.chmod(path, mode)
    return path


def test_textfile_dir_through_a_link_into_a_users_directory_is_refused(tmp_path):
    import os
    from openrc_sv import promfile
    base = str(tmp_path)
    os.chmod(base, 0o755)
    victims = _root_dir(base + "/victims")             # root's: the user must not write here
    attack = _root_dir(base + "/attack")
    os.chown(attack, *_nobody())                       # the user's own
    # The administrator: openrc_sv_textfile_dir=BASE/tf, a link of root's to
    # a root-owned directory that happens to sit in the user's directory...
    os.symlink(attack + "/tf", base + "/tf")
    # ...which the user has replaced with a link to where they want root to write.
    os.symlink(victims, attack + "/tf")
    os.lchown(attack + "/tf", *_nobody())
    pub = promfile.Publisher(base + "/tf", "svc", "native")
    error = pub.publish({"up": 1, "failed": 0, "restarts": 0})
    assert os.listdir(victims) == [], "root wrote into %s: %s" % (victims, os.listdir(victims))
    assert error and "is a symbolic link" in error and "\n" not in error, error


def test_textfile_dir_created_as_a_link_after_the_check_is_refused(tmp_path):
    import os
    from openrc_sv import promfile
    base = str(tmp_path)
    os.chmod(base, 0o755)
    victims = _root_dir(base + "/victims")
    shared = _root_dir(base + "/tmp", 0o1777)          # a sticky, world-writable /tmp
    configured = shared + "/textfile"                  # not made yet (say, after a reboot)
    # The user makes the configured name a link to a root directory of
    # its choosing, at any moment: the directory is opened one component
    # at a time without following links, so there is no window between a
    # check and the open (trust.open_trusted_dir).
    os.symlink(victims, configured)
    os.lchown(configured, *_nobody())
    pub = promfile.Publisher(configured, "svc", "native")
    pub.publish({"up": 1, "failed": 0, "restarts": 0})
    assert os.listdir(victims) == [], "root wrote into %s: %s" % (victims, os.listdir(victims))
