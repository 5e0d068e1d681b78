"""The watchdog (issue 11 §3, openrc_sv/watchdog.py) through real openrc-run,
with a daemon that speaks systemd's protocol: READY=1, then WATCHDOG=1 to
$NOTIFY_SOCKET every third of $WATCHDOG_USEC, until the test tells it to
stop (it then hangs, alive but stuck).

  drop-in   supervisor=supervise-daemon, our options in supervise_daemon_args
            (--notify socket:ready --watchdog-timer 3); OpenRC 0.45's
            supervise-daemon.sh knows neither.
  native    supervisor=openrc-sv, sv_backend=native, notify=socket:ready,
            watchdog_timer=3.

While keepalives flow, several intervals pass without a restart; once they
stop, unhealthy() runs (seeing the health state "watchdog") and the daemon
is restarted through the stop schedule within one interval plus that
schedule; watchdog_misses counts it, and each daemon saw WATCHDOG_USEC and
its own WATCHDOG_PID.  runit and monit refuse watchdog_timer (see
test_bad_input).  A daemon flooding the socket keeps the supervisor nearly
idle and its memory flat.
"""

import json
import shlex
import time

import pytest

import initscripts as I
from sandbox import wait_for
from test_backends import world

pytestmark = pytest.mark.integration

INTERVAL = 3                    # --watchdog-timer, seconds
RETRY = "TERM/3/KILL/2"         # the stop schedule: at most 5 s
SCHEDULE = 5
# unhealthy() through openrc-run and the new daemon's own start, on a busy box.
MARGIN = 2

WDDAEMON = I.BIN + "/wddaemon"
WDDAEMON_TEXT = r'''#!/usr/bin/python3
import os, signal, socket, sys, time

state = sys.argv[1]
me = os.getpid()


def path(name):
    return os.path.join(state, name)


def append(name, text):
    with open(path(name), "a") as f:
        f.write(text)


def put(name, data):
    tmp = path("%s.tmp.%d" % (name, me))
    with open(tmp, "w") as f:
        f.write(data)
    os.rename(tmp, path(name))


put("env.%d" % me, "\0".join("%s=%s" % kv for kv in os.environ.items()))
append("starts", "%d %.6f\n" % (me, time.monotonic()))
put("pid", str(me))
addr = os.environ["NOTIFY_SOCKET"]
every = int(os.environ["WATCHDOG_USEC"]) / 1e6 / 3
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)


def notify(msg):
    try:
        sock.sendto(msg, addr)
    except OSError as e:
        append("notify-errors", "%d %s\n" % (me, e))


notify(b"READY=1")
if os.path.exists(path("flood")):
    # As fast as the supervisor lets it (a blocking socket: the kernel's
    # queue for the supervisor is full most of the time).
    began, sent = time.monotonic(), 0
    while True:
        notify(b"STATUS=flooding\nWATCHDOG=1")
        sent += 1
        if sent % 256 == 0:
            put("flooded", "%d %.6f" % (sent, time.monotonic() - began))
while not os.path.exists(path("stuck.%d" % me)):
    # The time first: the keepalive reaches the supervisor after it.
    append("keepalives", "%d %.6f\n" % (me, time.monotonic()))
    notify(b"WATCHDOG=1")
    time.sleep(every)
append("stuck", "%d %.6f\n" % (me, time.monotonic()))
while True:
    signal.pause()
'''

UNHEALTHY = """
unhealthy() {
	echo "ran $(cat /run/openrc/options/$RC_SVCNAME/healthcheck)" >> %(d)s/unhealthy
}
"""


def _script(svc, how):
    d = I.statedir(svc)
    lines = ["#!/sbin/openrc-run", "command=" + WDDAEMON, "command_args=" + d,
             "retry=" + RETRY]
    if how == "drop-in":
        lines += ["supervisor=supervise-daemon",
                  "supervise_daemon_args=%s" % shlex.quote(
                      "--notify socket:ready --watchdog-timer %d" % INTERVAL)]
    else:
        lines += ["supervisor=openrc-sv", "notify=socket:ready",
                  "watchdog_timer=%d" % INTERVAL]
    return "\n".join(lines) + "\n" + UNHEALTHY % {"d": d}


def _setup(sandbox, how, svc, flags=()):
    sb = sandbox("ours")
    if how == "native":
        world(sb, "native")
    else:
        I.install_programs(sb)
    sb.write(WDDAEMON, WDDAEMON_TEXT, 0o755)
    d = I.statedir(svc)
    sb.run("mkdir", "-p", "-m", "0777", d, check=True)
    for name in flags:
        sb.write("%s/%s" % (d, name), "")
    sb.install_script(svc, _script(svc, how), "sv_backend=native\n" if how == "native" else "")
    r = sb.rc(svc, "start")
    assert r.returncode == 0, r.stdout + r.stderr
    return sb, d


def _times(sb, d, name, pid=None):
    text = sb.read("%s/%s" % (d, name), "")
    rows = [(int(p), float(t)) for p, t in (line.split() for line in text.splitlines())]
    return [t for p, t in rows if pid is None or p == pid]


def _daemon(sb, svc, other_than=None):
    def up():
        pid = I.daemon_pid(sb, svc)
        if pid is None or pid == other_than or not sb.alive(pid):
            return None
        return pid if sb.value(svc, "child_pid") == str(pid) else None
    return wait_for(up, 20, what="%s's daemon" % svc)


def _saw_its_variables(sb, svc, pid):
    env = I.environ(sb, svc, pid)
    assert env.get("WATCHDOG_USEC") == str(INTERVAL * 1000000), env
    assert env.get("WATCHDOG_PID") == str(pid), env
    assert env.get("NOTIFY_SOCKET") == "/run/openrc/supervise-%s.sock" % svc, env


@pytest.mark.parametrize("how", ["drop-in", "native"])
def test_keepalives_keep_it_and_a_stuck_daemon_is_restarted_within_an_interval(sandbox, how):
    svc = "wd"
    sb, d = _setup(sandbox, how, svc)
    first = _daemon(sb, svc)
    _saw_its_variables(sb, svc, first)

    # Keepalives flowing: count three whole intervals of them.
    wait_for(lambda: len(_times(sb, d, "keepalives", first)) >= 3 * 3 + 1, 3 * INTERVAL + 10,
             what="three intervals of keepalives")
    kept = _times(sb, d, "keepalives", first)
    assert kept[-1] - kept[0] >= 3 * INTERVAL - 0.5
    assert [p for p, _ in I.starts(sb, svc)] == [first], "restarted while fed"
    assert (sb.value(svc, "restarts"), sb.value(svc, "watchdog_misses"),
            sb.value(svc, "healthcheck")) == ("0", "0", "ok")
    assert not sb.exists(d + "/unhealthy") and not sb.exists(d + "/notify-errors")

    # Stuck: no more keepalives.
    sb.write("%s/stuck.%d" % (d, first), "")
    wait_for(lambda: _times(sb, d, "stuck", first), 10, what="the daemon to stop its keepalives")
    second = wait_for(lambda: _daemon(sb, svc, other_than=first) if len(I.starts(sb, svc)) > 1
                      else None, INTERVAL + SCHEDULE + MARGIN, what="the watchdog's restart")
    last = _times(sb, d, "keepalives", first)[-1]
    restarted = I.starts(sb, svc)[1][1]
    waited = restarted - last
    assert INTERVAL - 0.05 <= waited <= INTERVAL + SCHEDULE + MARGIN, \
        "restarted %.2fs after the last keepalive" % waited
    # As a failed health check: unhealthy() first, seeing why; then the stop.
    assert sb.read(d + "/unhealthy") == "ran watchdog\n"
    assert not sb.alive(first)
    assert (sb.value(svc, "restarts"), sb.value(svc, "watchdog_misses")) == ("1", "1")
    _saw_its_variables(sb, svc, second)             # a respawn: its own pid again
    wait_for(lambda: sb.value(svc, "healthcheck") == "ok", 10,
             what="the new daemon's first keepalive")
    if how == "native":
        st = json.loads(sb.run("openrc-sv", "status", svc, "--json").stdout)[0]
        assert (st["watchdog_misses"], st["health"], st["restarts"]) == (1, "ok", 1), st
    assert sb.rc(svc, "stop").returncode == 0
    assert not sb.exists("/run/openrc/supervise-%s.sock" % svc)


def _cpu_ticks(sb, pid):
    fields = sb.read("/proc/%d/stat" % pid).rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])        # utime + stime


def _rss_kb(sb, pid):
    for line in sb.read("/proc/%d/status" % pid).splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])


def test_a_daemon_flooding_the_socket_cannot_make_the_supervisor_spin(sandbox):
    svc = "flood"
    sb, d = _setup(sandbox, "native", svc, flags=["flood"])
    pid = _daemon(sb, svc)
    sup = wait_for(lambda: I.supervisor_pid(sb, svc), 10, what="the supervisor's pidfile")

    def flooded():
        text = sb.read(d + "/flooded")
        return tuple(float(x) for x in text.split()) if text else None
    wait_for(flooded, 10, what="the flood to begin")
    ticks, rss, (sent, began) = _cpu_ticks(sb, sup), _rss_kb(sb, sup), flooded()
    t0 = time.monotonic()
    wait_for(lambda: flooded()[1] - began >= 3 * INTERVAL, 30, interval=0.2,
             what="three intervals of flooding")
    wall = time.monotonic() - t0
    used = (_cpu_ticks(sb, sup) - ticks) / 100.0
    assert flooded()[0] > sent, "the flood stopped"
    # Reads at most once per 1/16 of the interval, 64 datagrams each: a
    # spinning supervisor would use a whole CPU.
    assert used < 0.1 * wall, "the supervisor used %.2fs of CPU in %.2fs" % (used, wall)
    assert _rss_kb(sb, sup) - rss < 512, "the supervisor grew"
    # The flood holds keepalives: nothing is missed, nothing restarted.
    assert [p for p, _ in I.starts(sb, svc)] == [pid]
    assert sb.value(svc, "watchdog_misses") == "0"
    assert sb.rc(svc, "stop").returncode == 0


def test_a_reexecuted_supervisor_keeps_watching(sandbox):
    """SIGHUP re-executes the supervisor: a fresh notify socket at the same
    path gets the daemon's next keepalives (sd_notify sends to the path
    each time), the count goes on, and a stuck daemon is still caught."""
    svc = "wdhup"
    sb, d = _setup(sandbox, "drop-in", svc)
    pid = _daemon(sb, svc)
    sup = wait_for(lambda: I.supervisor_pid(sb, svc), 10, what="the supervisor's pidfile")
    sb.run("kill", "-HUP", str(sup), check=True)
    # Same pid (exec), new program: its command line says --reexec.
    wait_for(lambda: "--reexec" in sb.run("cat", "/proc/%d/cmdline" % sup).stdout.split("\0"),
             10, what="the re-executed supervisor")
    n = len(_times(sb, d, "keepalives", pid))
    wait_for(lambda: len(_times(sb, d, "keepalives", pid)) >= n + 2 * 3, 2 * INTERVAL + 10,
             what="two intervals of keepalives after the re-exec")
    assert [p for p, _ in I.starts(sb, svc)] == [pid]
    assert sb.value(svc, "watchdog_misses") == "0"
    sb.write("%s/stuck.%d" % (d, pid), "")
    wait_for(lambda: len(I.starts(sb, svc)) > 1, INTERVAL + SCHEDULE + MARGIN,
             what="the watchdog's restart after the re-exec")
    assert sb.value(svc, "watchdog_misses") == "1"
    assert I.supervisor_pid(sb, svc) == sup
    assert sb.rc(svc, "stop").returncode == 0
