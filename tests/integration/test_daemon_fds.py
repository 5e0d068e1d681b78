"""The daemon gets the same descriptors on every backend: its stdin, stdout
and stderr, and nothing its starters happened to leave open.

OpenRC's C supervise-daemon is the reference: it closes every fd above 2
before it execs the daemon.  Here fds 7, 8 and 9 (a file, a directory, a
file read-only) are left open in everything on the way: the rc-service
that starts the service, and the runsvdir or monit that runs it, as a
careless boot script would leave them.  A small daemon lists
/proc/self/fd; every column must list what C's does.

Under runit, openrc-sv-exec is what closes them (runsvdir and runsv hand
them on to ./run); its log service keeps the log pipe on fd 3 on purpose
(OPENRC_SV_EXEC_KEEP_FDS), and the logger too must end up with its stdio
alone.
"""

import shlex

import pytest

import initscripts as I
from sandbox import wait_for
from test_backends import MONITRC

pytestmark = pytest.mark.integration

COLUMNS = ["c", "dropin", "native", "runit", "monit"]
LEAK_DIR = "/run/leak"
# What a careless starter leaves open.
LEAK = "exec 7<>%s/file 8<%s 9<%s/ro; " % (LEAK_DIR, LEAK_DIR, LEAK_DIR)
LISTER = I.BIN + "/fdlister"

# Writes "FD TARGET" lines for its open fds (the directory it reads them
# from left out) to STATEDIR/fds.PID, then STATEDIR/pid; as a logger
# (--logger) it then copies its stdin to STATEDIR/logged.  SIGTERM ends it.
FDLISTER = r'''#!/usr/bin/python3 -I
import os, signal, sys

state, me = sys.argv[1], os.getpid()
logger = sys.argv[2:] == ["--logger"]


def put(name, text):
    tmp = "%s/%s.tmp.%d" % (state, name, me)
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, "%s/%s" % (state, name))


lines = []
for n in sorted(os.listdir("/proc/self/fd"), key=int):
    try:
        target = os.readlink("/proc/self/fd/" + n)
    except OSError:
        continue
    if not (target.startswith("/proc/") and target.endswith("/fd")):
        lines.append("%s %s\n" % (n, target))
if logger:
    put("logger-fds", "".join(lines))
    for line in sys.stdin:
        with open(state + "/logged", "a") as f:
            f.write(line)
    sys.exit(0)
put("fds.%d" % me, "".join(lines))
put("pid", str(me))
print("a line from %d" % me, flush=True)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
while True:
    signal.pause()
'''


def leaky(*cmd):
    """cmd, run by a shell that leaves fds 7, 8 and 9 open for it."""
    return ("sh", "-c", LEAK + "exec " + " ".join(shlex.quote(w) for w in cmd))


def world(sb, name):
    """The column's programs, with the leaked fds in runsvdir and monit."""
    sb.run("mkdir", "-p", LEAK_DIR, check=True)
    sb.write(LEAK_DIR + "/file", "leaked\n", 0o600)
    sb.write(LEAK_DIR + "/ro", "leaked\n", 0o600)
    I.install_programs(sb)
    sb.write(LISTER, FDLISTER, 0o755)
    if name in ("c", "dropin"):
        return
    r = sb.run("openrc-sv", "setup", "--plugin")
    assert r.returncode == 0, r.stdout + r.stderr
    if name == "runit":
        sb.run("mkdir", "-p", "/run/openrc/sv", check=True)
        sb.spawn(*leaky("runsvdir", "-P", "/run/openrc/sv"))
        starter = "runsvdir"
    elif name == "monit":
        sb.run("mkdir", "-p", "/run/monit", "/run/openrc-monit", check=True)
        sb.write("/run/monit/monitrc", MONITRC, 0o600)
        # (monit closes what it was given at its start: the leak stops there.)
        sb.spawn(*leaky("monit", "-I", "-c", "/run/monit/monitrc"))
        wait_for(lambda: sb.run("monit", "-c", "/run/monit/monitrc", "summary").returncode == 0,
                 10, what="monit to answer")
        return
    else:
        return
    # The leak is real: runsvdir holds fd 7, and runsv hands it on to ./run.
    [pid] = wait_for(lambda: sb.pids_of(starter), 10, what=starter)
    r = sb.run("readlink", "/proc/%d/fd/7" % pid)
    assert r.stdout.strip() == LEAK_DIR + "/file", "%s does not hold fd 7" % starter


def install(sb, name, svc, **variables):
    d = I.statedir(svc)
    sb.run("mkdir", "-p", "-m", "0777", d, check=True)
    supervisor = "supervise-daemon" if name in ("c", "dropin") else "openrc-sv"
    lines = ["#!/sbin/openrc-run", "supervisor=%s" % supervisor, "command=%s" % LISTER,
             "command_args=%s" % shlex.quote(d)]
    lines += ["%s=%s" % (k, shlex.quote(str(v))) for k, v in variables.items()]
    conf = None
    if supervisor == "openrc-sv":
        conf = "sv_backend=%s\n" % name
        if name == "monit":
            conf += "monit_conf=/run/monit/monitrc\n"
    sb.install_script(svc, "\n".join(lines) + "\n", conf)


def start(sb, name, svc):
    r = sb.run(*leaky("rc-service", svc, "start"))
    assert r.returncode == 0, "%s: start failed:\n%s%s" % (name, r.stdout, r.stderr)

    def listed():
        pid = I.daemon_pid(sb, svc)
        text = sb.read("%s/fds.%d" % (I.statedir(svc), pid)) if pid else None
        return text if text is not None and sb.alive(pid) else None
    return fds_of(wait_for(listed, 30, what="%s: %s's daemon listing its fds" % (name, svc)))


def fds_of(text):
    return {int(n): target for n, target in (line.split(" ", 1) for line in text.splitlines())}


def stop(sb, name, svc):
    r = sb.rc(svc, "stop")
    assert r.returncode == 0, "%s: stop failed:\n%s%s" % (name, r.stdout, r.stderr)


@pytest.fixture(params=COLUMNS)
def column(request, sandbox):
    sb = sandbox("c" if request.param == "c" else "ours")
    world(sb, request.param)
    return sb, request.param


# What OpenRC's C supervise-daemon gives a daemon without logs (the C
# column checks it is so): /dev/null on 0, 1 and 2, nothing else.
REFERENCE = {0: "/dev/null", 1: "/dev/null", 2: "/dev/null"}


def test_the_daemon_gets_its_stdio_and_nothing_left_open_on_the_way(column):
    sb, name = column
    install(sb, name, "svc")
    fds = start(sb, name, "svc")
    assert fds == REFERENCE, "%s: the daemon's fds" % name
    # And again after a respawn, which runsv, monit and the supervisors
    # start from their own state rather than rc-service's.
    first = I.daemon_pid(sb, "svc")
    sb.run("kill", "-9", str(first))

    def relisted():
        pid = I.daemon_pid(sb, "svc")
        if pid == first or not pid:
            return None
        return sb.read("%s/fds.%d" % (I.statedir("svc"), pid))
    assert fds_of(wait_for(relisted, 30, what="%s: the respawned daemon" % name)) == REFERENCE
    stop(sb, name, "svc")


@pytest.mark.parametrize("name", ["native", "runit", "monit"])
def test_the_logger_gets_its_stdio_and_the_daemon_its_pipe(sandbox, name):
    """output_logger: the logger reads the daemon's output on stdin and has
    nothing else open beyond its stdout and stderr; under runit that is the
    log pipe openrc-sv-exec was told to keep on fd 3, moved to 0."""
    sb = sandbox("ours")
    world(sb, name)
    d = I.statedir("svc")
    install(sb, name, "svc", output_logger="%s %s --logger" % (LISTER, d))
    fds = start(sb, name, "svc")
    assert sorted(fds) == [0, 1, 2], "%s: the daemon's fds: %s" % (name, fds)
    assert fds[1].startswith("pipe:"), "%s: the daemon's stdout is its logger's pipe" % name
    pid = I.daemon_pid(sb, "svc")
    wait_for(lambda: "a line from %d" % pid in sb.read(d + "/logged", ""), 30,
             what="%s: the daemon's line through the logger" % name)
    logger = fds_of(sb.read(d + "/logger-fds"))
    assert sorted(logger) == [0, 1, 2], "%s: the logger's fds: %s" % (name, logger)
    assert logger[0].startswith("pipe:")
    stop(sb, name, "svc")
