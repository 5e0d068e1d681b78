"""Init scripts and small daemon programs for the drop-in supervise-daemon tests.

Everything here is text to install into a Sandbox, plus readers for what the
test programs record.  The programs live in the sandbox's private /run, so
nothing is written on the host.

testdaemon STATEDIR [WORDS...]
    A foreground daemon that reports on itself under STATEDIR (mode 0777, so
    a daemon running as `nobody` can write there too):
      starts          one line "PID MONOTONIC" per start (CLOCK_MONOTONIC is
                      system-wide, so the test can compare it with its own)
      pid             the pid of the latest start
      argv.PID        WORDS, NUL-separated (STATEDIR itself left out)
      env.PID         its environment, NUL-separated
      ids.PID         "uid gid"
      umask.PID       its umask, as 4 octal digits
      cwd.PID         its working directory
      signals         one line "PID SIGNAME" per signal it caught
    It prints "stdout from PID" / "stderr from PID" at start.  Its behaviour
    is set by files the test puts in STATEDIR before the start:
      exit-code       exit at once with this code (a daemon that cannot run)
      ignore-term     record SIGTERM but keep running
      notify-delay    wait this many seconds, then write a newline to fd 3
                      (notify=fd:3 readiness); records ready.PID first
    SIGTERM (unless ignored) and SIGINT make it exit 0.

testlogger OUTFILE
    Appends each line of its stdin to OUTFILE and its pid to OUTFILE.pids.
"""

import os
import shlex
import time

from sandbox import wait_for

BIN = "/run/testbin"
DAEMON = BIN + "/testdaemon"
LOGGER = BIN + "/testlogger"
STATE_ROOT = "/run/teststate"

TESTDAEMON = r'''#!/usr/bin/python3
import os, signal, sys, time

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


def flag(name):
    try:
        with open(path(name)) as f:
            return f.read().strip() or "1"
    except FileNotFoundError:
        return None


put("argv.%d" % me, "\0".join(sys.argv[2:]))
put("env.%d" % me, "\0".join("%s=%s" % kv for kv in os.environ.items()))
put("ids.%d" % me, "%d %d" % (os.getuid(), os.getgid()))
mask = os.umask(0)
os.umask(mask)
put("umask.%d" % me, "%04o" % mask)
put("cwd.%d" % me, os.getcwd())
append("starts", "%d %.6f\n" % (me, time.monotonic()))
put("pid", str(me))
print("stdout from %d" % me, flush=True)
print("stderr from %d" % me, file=sys.stderr, flush=True)

code = flag("exit-code")
if code is not None:
    sys.exit(int(code))

ignore_term = flag("ignore-term") is not None


def caught(sig, frame):
    append("signals", "%d %s\n" % (me, signal.Signals(sig).name))
    if sig == signal.SIGINT or (sig == signal.SIGTERM and not ignore_term):
        sys.exit(0)


for s in (signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGTERM,
          signal.SIGUSR1, signal.SIGUSR2, signal.SIGWINCH):
    signal.signal(s, caught)

delay = flag("notify-delay")
if delay is not None:
    time.sleep(float(delay))
    put("ready.%d" % me, "")
    os.write(3, b"\n")

while True:
    signal.pause()
'''

TESTLOGGER = r'''#!/usr/bin/python3
import os, sys

out = sys.argv[1]
with open(out + ".pids", "a") as f:
    f.write("%d\n" % os.getpid())
for line in sys.stdin:
    with open(out, "a") as f:
        f.write(line)
'''


def install_programs(sb):
    sb.write(DAEMON, TESTDAEMON, 0o755)
    sb.write(LOGGER, TESTLOGGER, 0o755)


def statedir(svc):
    return "%s/%s" % (STATE_ROOT, svc)


def service_script(svc, command_args="", functions="", command=DAEMON, **variables):
    """An init script for `svc` run by supervise-daemon.

    command_args is the shell value of command_args as a user would write it
    (OpenRC evals it, so quotes inside group words); the daemon's STATEDIR is
    put in front of it.  Other keyword arguments become variables, each
    single-quoted so the value the script sees is exactly the one given.
    functions is shell text added as is (healthcheck(), unhealthy() ...).
    """
    lines = ["#!/sbin/openrc-run", "supervisor=supervise-daemon",
             "command=%s" % shlex.quote(command),
             "command_args=%s" % shlex.quote((statedir(svc) + " " + command_args).strip())]
    for key, value in variables.items():
        lines.append("%s=%s" % (key, shlex.quote(str(value))))
    lines.append(functions)
    return "\n".join(lines) + "\n"


def install_service(sb, svc, flags=None, **kwargs):
    """Install the test programs, a fresh STATEDIR with the given behaviour
    flags ({name: content}), and the init script."""
    install_programs(sb)
    d = statedir(svc)
    os.makedirs(sb.host_path(d), exist_ok=True)
    os.chmod(sb.host_path(d), 0o777)
    for name, content in (flags or {}).items():
        sb.write("%s/%s" % (d, name), content)
    sb.install_script(svc, service_script(svc, **kwargs))


def start_service(sb, svc, **kwargs):
    """Install svc, `rc-service svc start` it, and wait for its daemon.
    Returns the daemon's pid."""
    install_service(sb, svc, **kwargs)
    r = sb.rc(svc, "start")
    assert r.returncode == 0, "start failed (%d):\n%s%s" % (r.returncode, r.stdout, r.stderr)
    return wait_daemon(sb, svc)


def wait_daemon(sb, svc, other_than=None, timeout=10):
    """Wait until the daemon the supervisor names in child_pid is alive and
    has recorded itself (and is not `other_than`); return its pid."""
    def ready():
        pid = daemon_pid(sb, svc)
        if pid is None or pid == other_than:
            return None
        if sb.value(svc, "child_pid") != str(pid) or not sb.alive(pid):
            return None
        # The supervisor writes its pidfile itself, after the fork.
        if not supervisor_pid(sb, svc):
            return None
        return pid
    return wait_for(ready, timeout, what="%s's daemon (child_pid) and supervisor to be up" % svc)


def supervisor_pid(sb, svc):
    """The pid in the supervisor's own pidfile (OpenRC's default path)."""
    text = sb.read("/run/supervise-%s.pid" % svc)
    return int(text) if text and text.strip().isdigit() else None


def stopwatch(fn, *args, **kwargs):
    """(result, seconds) of fn(*args, **kwargs)."""
    t0 = time.monotonic()
    result = fn(*args, **kwargs)
    return result, time.monotonic() - t0


# Reading what the programs recorded ------------------------------------------

def starts(sb, svc):
    """[(pid, monotonic start time)] of every start of the test daemon."""
    text = sb.read(statedir(svc) + "/starts", "")
    out = []
    for line in text.splitlines():
        pid, t = line.split()
        out.append((int(pid), float(t)))
    return out


def daemon_pid(sb, svc):
    text = sb.read(statedir(svc) + "/pid")
    return int(text) if text else None


def words(sb, svc, pid):
    text = sb.read("%s/argv.%d" % (statedir(svc), pid))
    if text is None:
        return None
    return text.split("\0") if text else []


def environ(sb, svc, pid):
    text = sb.read("%s/env.%d" % (statedir(svc), pid), "")
    return dict(item.split("=", 1) for item in text.split("\0") if "=" in item)


def ids(sb, svc, pid):
    uid, gid = sb.read("%s/ids.%d" % (statedir(svc), pid)).split()
    return int(uid), int(gid)


def signals(sb, svc):
    """[(pid, 'SIGHUP'), ...] in the order the daemon caught them."""
    text = sb.read(statedir(svc) + "/signals", "")
    return [(int(p), name) for p, name in (line.split() for line in text.splitlines())]


# The process table --------------------------------------------------------------

def daemons(sb):
    """Live test daemon processes: [(pid, ppid)]."""
    return [(pid, ppid) for pid, ppid, st, args in sb.ps()
            if "testdaemon" in args and "supervise-daemon" not in args
            and not st.startswith("Z")]


def supervisors(sb, svc):
    """Live supervise-daemon processes for svc (C's or ours): [pid]."""
    out = []
    for pid, _, st, args in sb.ps():
        if st.startswith("Z"):
            continue
        words_ = args.split()
        for i, w in enumerate(words_):
            if w.endswith("supervise-daemon") and i + 1 < len(words_) and words_[i + 1] == svc:
                out.append(pid)
                break
    return out
