"""The demo: one service kept alive through a crash and a failing health check.

    python -m openrc_sv.demo            (tools/run demo)

As root with OpenRC installed, it builds a private OpenRC world (a new
mount and PID namespace, tmpfs over /run, /etc/init.d, /etc/conf.d: the
host is not touched) and drives a real init script with real `rc-service`:
first under our drop-in supervise-daemon, then, when the plugin and the
backends are installed, with supervisor=openrc-sv under each backend.
Otherwise it runs our supervise-daemon on its own, with a temporary state
directory.  Either way it shows: start, status, a crash and its respawn, a
failing health check and its restart, stop.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))

SCRIPT = """#!/sbin/openrc-run
description="openrc-sv demo: a daemon kept alive"
supervisor={supervisor}
command=/bin/sleep
command_args="86400"
respawn_delay=1
respawn_max=5
respawn_period=60
healthcheck_delay=1
healthcheck_timer=1
extra_started_commands="reload"

healthcheck() {{
	[ ! -e /run/demo/sick ]
}}

unhealthy() {{
	echo "unhealthy() ran at $(date +%T)" >> /run/demo/unhealthy.log
}}
"""


def say(text=""):
    print(text, flush=True)


def step(title):
    say("\n== %s" % title)


def wait_for(cond, timeout=20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    return None


def sh(*cmd, env=None):
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    out = (r.stdout + r.stderr).rstrip()
    say("$ %s\n%s" % (" ".join(cmd), out) if out else "$ %s" % " ".join(cmd))
    return r


# -- with OpenRC, in a private namespace ------------------------------------------

def _value(svc, key):
    try:
        with open("/run/openrc/options/%s/%s" % (svc, key)) as f:
            return f.read()
    except OSError:
        return None


def _daemon_pid(svc, backend):
    """The daemon's pid, wherever the backend keeps it."""
    if backend in (None, "native"):
        v = _value(svc, "child_pid")
        return int(v) if v else None
    r = subprocess.run(["openrc-sv", "status", svc, "--json"], capture_output=True, text=True)
    try:
        import json
        data = json.loads(r.stdout)
        entry = data[0] if isinstance(data, list) else data
        return entry.get("pid")
    except (ValueError, IndexError, KeyError, AttributeError):
        return None


def scenario(svc, backend=None):
    env = dict(os.environ, EINFO_COLOR="NO")
    step("start")
    sh("rc-service", svc, "start", env=env)
    sh("rc-service", svc, "status", env=env)
    pid = wait_for(lambda: _daemon_pid(svc, backend))
    say("the daemon runs as pid %s" % pid)

    step("a crash: kill -9 %s" % pid)
    t = time.monotonic()
    os.kill(pid, 9)
    new = wait_for(lambda: (_daemon_pid(svc, backend) or pid) != pid and _daemon_pid(svc, backend))
    say("respawned as pid %s after %.0f ms (respawn_delay=1)" % (new, (time.monotonic() - t) * 1000)
        if new else "NOT respawned (this is a bug)")

    step("a failing health check: touch /run/demo/sick")
    open("/run/demo/sick", "w").close()
    t = time.monotonic()
    newer = wait_for(lambda: (_daemon_pid(svc, backend) or new) != new and _daemon_pid(svc, backend))
    os.unlink("/run/demo/sick")
    say("healthcheck() failed, unhealthy() ran, the daemon was restarted as pid %s after %.1f s"
        % (newer, time.monotonic() - t) if newer else "NOT restarted (this is a bug)")
    try:
        with open("/run/demo/unhealthy.log") as f:
            say(f.read().rstrip())
        os.unlink("/run/demo/unhealthy.log")
    except OSError:
        pass

    step("status and stop")
    sh("rc-service", svc, "status", env=env)
    if shutil.which("openrc-sv"):
        sh("openrc-sv", "status", svc)
    sh("rc-service", svc, "stop", env=env)
    sh("rc-service", svc, "status", env=env)
    left = subprocess.run(["pgrep", "-f", "sleep 86400"], capture_output=True, text=True).stdout.split()
    say("daemons left running: %s" % (len(left) or "none"))


def _start_backend_daemons():
    """A runsvdir and a monit for the runit and monit backends."""
    procs = []
    if shutil.which("runsvdir"):
        os.makedirs("/run/openrc/sv", exist_ok=True)
        procs.append(subprocess.Popen(["runsvdir", "-P", "/run/openrc/sv"], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))
    if shutil.which("monit"):
        os.makedirs("/run/monit", exist_ok=True)
        os.makedirs("/run/openrc-monit", exist_ok=True)
        rc = "/run/monit/monitrc"
        with open(rc, "w") as f:
            f.write("set daemon 1\nset pidfile /run/monit/monit.pid\nset idfile /run/monit/id\n"
                    "set statefile /run/monit/state\n"
                    "set httpd unixsocket /run/monit/monit.sock allow openrc-sv:demo-only\n"
                    "include /run/openrc-monit/*\n")
        os.chmod(rc, 0o600)
        procs.append(subprocess.Popen(["monit", "-I", "-c", rc], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))
    return procs


def _backends_available():
    try:
        import openrc_sv.cli  # noqa: F401  (is the CLI installed?)
    except ImportError:
        return []
    if not shutil.which("openrc-sv"):
        return []
    found = []
    for name in ("native", "runit", "monit"):
        try:
            from .backends import get
            get(name)
            found.append(name)
        except Exception:
            pass
    return found


def inside(workdir):
    from . import nsroot
    from .rcstate import libexecdir
    libexec = libexecdir()
    nsroot.setup_world(libexec, nsroot.stage_sbin(libexec, workdir))
    os.makedirs("/run/demo", exist_ok=True)
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            os.environ["PATH"] = os.path.dirname(sys.executable) + ":" + os.environ.get("PATH", "")
            say("== our supervise-daemon as a drop-in (supervisor=supervise-daemon)")
            _install("demo", SCRIPT.format(supervisor="supervise-daemon"))
            scenario("demo")
            backends = _backends_available()
            if backends:
                subprocess.run(["openrc-sv", "setup", "--plugin"], capture_output=True)
                _start_backend_daemons()
                for b in backends:
                    say("\n\n== the same service with supervisor=openrc-sv, sv_backend=%s" % b)
                    svc = "demo-" + b
                    conf = "sv_backend=%s\n" % b
                    if b == "monit":
                        conf += "monit_conf=/run/monit/monitrc\n"
                    _install(svc, SCRIPT.format(supervisor="openrc-sv"), conf)
                    scenario(svc, b)
        except BaseException as e:
            say("demo failed: %r" % e)
            code = 1
        os._exit(code)
    return nsroot.reap_forever(stop_when=pid)


def _install(svc, script, conf=None):
    path = "/etc/init.d/" + svc
    with open(path, "w") as f:
        f.write(script)
    os.chmod(path, 0o755)
    if conf is not None:
        with open("/etc/conf.d/" + svc, "w") as f:
            f.write(conf)


# -- without OpenRC: our supervisor on its own ---------------------------------------

STANDALONE_SCRIPT = """#!/bin/sh
# Stands in for an init script: answers `healthcheck` and `unhealthy`.
case "$1" in
	healthcheck) [ ! -e "{d}/sick" ] ;;
	unhealthy) echo "unhealthy() ran at $(date +%T)" >> "{d}/unhealthy.log" ;;
esac
"""


def standalone():
    d = tempfile.mkdtemp(prefix="openrc-sv-demo.")
    svcdir = os.path.join(d, "state")
    os.makedirs(os.path.join(svcdir, "options"))
    script = os.path.join(d, "demo-service")
    with open(script, "w") as f:
        f.write(STANDALONE_SCRIPT.format(d=d))
    os.chmod(script, 0o755)
    env = dict(os.environ, RC_SVCNAME="demo", RC_SVCDIR=svcdir, RC_SERVICE=script)
    sd = os.path.join(os.path.dirname(sys.executable), "supervise-daemon")
    say("(no OpenRC here, or not root: running our supervise-daemon on its own, state in %s)" % svcdir)
    values = os.path.join(svcdir, "options", "demo")

    def pid():
        try:
            with open(os.path.join(values, "child_pid")) as f:
                return int(f.read())
        except (OSError, ValueError):
            return None
    try:
        step("start")
        sh(sd, "demo", "--start", "--pidfile", os.path.join(d, "supervisor.pid"),
           "--respawn-delay", "1", "--healthcheck-delay", "1", "--healthcheck-timer", "1",
           "/bin/sleep", "--", "86400", env=env)
        first = wait_for(pid)
        say("the daemon runs as pid %s" % first)
        step("a crash: kill -9 %s" % first)
        os.kill(first, 9)
        second = wait_for(lambda: (pid() or first) != first and pid())
        say("respawned as pid %s" % second)
        step("a failing health check")
        open(os.path.join(d, "sick"), "w").close()
        third = wait_for(lambda: (pid() or second) != second and pid())
        os.unlink(os.path.join(d, "sick"))
        say("restarted as pid %s" % third)
        with open(os.path.join(d, "unhealthy.log")) as f:
            say(f.read().rstrip())
        step("state, then stop")
        for k in sorted(os.listdir(values)):
            with open(os.path.join(values, k)) as f:
                say("  %s = %s" % (k, f.read()))
        sh(sd, "demo", "--stop", env=env)
        say("state left: %s" % (os.listdir(values) if os.path.isdir(values) else "none"))
    finally:
        subprocess.run([sd, "demo", "--stop"], env=env, capture_output=True)
        shutil.rmtree(d, ignore_errors=True)
    return 0


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--inside"]:
        return inside(argv[1])
    from .rcstate import libexecdir
    if (os.geteuid() == 0 and shutil.which("openrc-run") and shutil.which("unshare")
            and os.path.isdir(os.path.join(libexecdir(), "sh")) and "--standalone" not in argv):
        work = tempfile.mkdtemp(prefix="openrc-sv-demo.")
        try:
            return subprocess.call(["unshare", "--mount", "--pid", "--fork", "--mount-proc",
                                    "--propagation", "private", sys.executable, "-m",
                                    "openrc_sv.demo", "--inside", work])
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return standalone()


if __name__ == "__main__":
    sys.exit(main())
