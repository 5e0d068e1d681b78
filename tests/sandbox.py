"""A private OpenRC world for one test.

Each Sandbox is a new mount and PID namespace (unshare --mount --pid --fork
--mount-proc) whose PID 1 is tests/ns_init.py.  Inside it, tmpfs hides
/run, /etc/init.d, /etc/conf.d, /etc/rc.conf.d, /etc/sv and /etc/monit-files,
so real `rc-service`/`openrc-run` run against a fresh /run/openrc and
nothing touches the host.  Closing the sandbox kills its PID 1, and with it
every process the test started.

    with Sandbox(tmp_path, supervisor="ours") as sb:
        sb.install_script("foo", SCRIPT)
        sb.rc("foo", "start")
        assert sb.rc("foo", "status").returncode == 0

`supervisor="ours"` makes our supervise-daemon the one openrc-run finds (a
link in a private copy of $RC_LIBEXECDIR/sbin, exactly what `openrc-sv setup`
does on a real system); `supervisor="c"` leaves OpenRC's C binary in place.

`libexec_at="/usr/libexec/rc"` shows OpenRC's files (with the staged sbin)
at that path as well, as a system built with that $RC_LIBEXECDIR has them,
hiding the other layouts; the host's own path keeps the plain tree, which
Debian's openrc-run has compiled in (see nsroot.relocate_libexec).
`sb.libexec` is then that path.
"""

import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time

from openrc_sv import nsroot

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


# OPENRC_SV_TEST_FORKSERVER=1: every sandbox with our supervise-daemon runs
# the fork server, so that the same tests cover served (lean) supervisors
# (tools/run test runs the drop-in's tests again that way).
FORKSERVER_ENV = "OPENRC_SV_TEST_FORKSERVER"
FORKSERVER_SOCKET = "/run/openrc-sv/forkserver.sock"


def libexecdir():
    """The host's OpenRC helper directory, found as our code finds it (not
    from this process's RC_LIBEXECDIR), or None without OpenRC."""
    from openrc_sv import rcstate
    found = rcstate.libexecdir({})
    return found if os.path.isdir(os.path.join(found, "sh")) else None


def have_openrc():
    return os.geteuid() == 0 and libexecdir() is not None and shutil.which("openrc-run") is not None


def our_script(name):
    """Path of an installed console script of ours (supervise-daemon, openrc-sv)."""
    cand = os.path.join(sysconfig.get_path("scripts"), name)
    if os.path.exists(cand):
        return cand
    found = shutil.which(name)
    if found and name != "supervise-daemon":
        return found
    raise RuntimeError("%s is not installed: run 'pip install -e .' first" % name)


# Every deadline below is stretched by this factor: a test's timeout says
# how long the event takes on an idle machine, and a busy 2-core CI box may
# take several times that.  The waits end as soon as the event happens, so
# a passing run pays nothing for it.
SLACK = float(os.environ.get("OPENRC_SV_TEST_SLACK", "4"))


def wait_for(cond, timeout=10.0, interval=0.02, what="condition"):
    """Poll cond() until it returns a true value or the deadline passes."""
    deadline = time.monotonic() + timeout * SLACK
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout * SLACK, what))
        time.sleep(interval)


class Sandbox:
    def __init__(self, tmp_path, supervisor="ours", env=None, libexec_at=None):
        self.tmp = str(tmp_path)
        self.supervisor = supervisor
        self.libexec = libexecdir()
        self.host_libexec = self.libexec
        self.libexec_at = libexec_at
        self.extra_env = dict(env or {})
        self.proc = None

    # lifecycle ---------------------------------------------------------
    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.close()

    def start(self):
        staging = "-"
        if self.supervisor == "ours":
            staging = nsroot.stage_sbin(self.libexec, self.tmp)
        self.proc = subprocess.Popen(
            ["unshare", "--mount", "--pid", "--fork", "--mount-proc", "--propagation", "private",
             sys.executable, os.path.join(HERE, "ns_init.py"), self.libexec, staging],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if line.strip() != "READY":
            err = self.proc.stderr.read() if self.proc.poll() is not None else ""
            self.close()
            raise RuntimeError("sandbox did not start: %r %s" % (line, err))
        self.init_pid = self._find_init()
        if self.supervisor == "ours" and os.environ.get(FORKSERVER_ENV) == "1":
            self.start_forkserver()
        if self.libexec_at:
            self.run(sys.executable, "-c", "import sys; from openrc_sv import nsroot; "
                     "nsroot.relocate_libexec(sys.argv[1], sys.argv[2], keep=[sys.argv[1]])",
                     self.host_libexec, self.libexec_at, check=True)
            self.libexec = self.libexec_at

    def assert_private(self, *dirs):
        """Refuse to go on unless each directory is a private mount of the
        sandbox's (what a test of `openrc-sv setup` writes must not reach
        the host)."""
        for d in dirs:
            assert self.run("findmnt", "--mountpoint", d).returncode == 0, \
                "the sandbox's %s is not a private mount: refusing to write there" % d

    def start_forkserver(self):
        """Our fork server at its default socket: supervise-daemon --start
        then asks it for every supervisor (the default install)."""
        self.spawn(our_script("openrc-sv-forkserver"))
        wait_for(lambda: self.exists(FORKSERVER_SOCKET), 10, what="fork server socket")

    def _find_init(self):
        # unshare --fork: our Popen child is unshare; ns PID 1 is its child.
        def child():
            try:
                with open("/proc/%d/task/%d/children" % (self.proc.pid, self.proc.pid)) as f:
                    kids = f.read().split()
                return int(kids[0]) if kids else None
            except OSError:
                return None
        return wait_for(child, 5, what="sandbox init")

    def close(self):
        if self.proc and self.proc.poll() is None:
            try:
                os.kill(self.init_pid, signal.SIGKILL)
            except (OSError, AttributeError):
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.proc.stdout.close()
            self.proc.stderr.close()

    # running things inside -------------------------------------------------
    def env(self, extra=None):
        env = {
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": "/root", "LANG": "C.UTF-8", "EINFO_COLOR": "NO", "TERM": "dumb",
        }
        scripts = sysconfig.get_path("scripts")
        env["PATH"] = scripts + ":" + env["PATH"]
        env.update(self.extra_env)
        env.update(extra or {})
        return env

    def argv(self, cmd):
        return ["nsenter", "--target", str(self.init_pid), "--mount", "--pid", "--"] + list(cmd)

    def run(self, *cmd, env=None, timeout=60, check=False, input=None):
        """Run a command inside the sandbox; returns CompletedProcess (text)."""
        if len(cmd) == 1 and isinstance(cmd[0], str) and " " in cmd[0]:
            cmd = ("sh", "-c", cmd[0])
        r = subprocess.run(self.argv(cmd), env=self.env(env), capture_output=True, text=True,
                           timeout=timeout, input=input, stdin=None if input else subprocess.DEVNULL)
        if check and r.returncode != 0:
            raise AssertionError("%s failed (%d):\n%s%s" % (cmd, r.returncode, r.stdout, r.stderr))
        return r

    def spawn(self, *cmd, env=None, log=None):
        """Start a long-running command inside the sandbox (monit, runsvdir)."""
        out = open(log, "ab") if log else subprocess.DEVNULL
        return subprocess.Popen(self.argv(cmd), env=self.env(env), stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT if log else subprocess.DEVNULL,
                                start_new_session=True)

    def rc(self, svc, *action, env=None, timeout=60):
        return self.run("rc-service", svc, *action, env=env, timeout=timeout)

    # files inside ----------------------------------------------------------
    def host_path(self, path):
        """The sandbox's path as the host sees it (through its PID 1's root)."""
        return "/proc/%d/root%s" % (self.init_pid, path)

    def read(self, path, default=None):
        try:
            with open(self.host_path(path)) as f:
                return f.read()
        except (FileNotFoundError, NotADirectoryError):
            return default

    def exists(self, path):
        return os.path.lexists(self.host_path(path))

    def listdir(self, path):
        try:
            return sorted(os.listdir(self.host_path(path)))
        except FileNotFoundError:
            return []

    def write(self, path, text, mode=0o644):
        p = self.host_path(path)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(text)
        os.chmod(p, mode)

    def install_script(self, name, text, conf=None):
        self.write("/etc/init.d/" + name, text, 0o755)
        if conf is not None:
            self.write("/etc/conf.d/" + name, conf)

    def value(self, svc, key):
        return self.read("/run/openrc/options/%s/%s" % (svc, key))

    def status(self, svc):
        return self.rc(svc, "status").returncode

    # processes inside --------------------------------------------------------
    def ps(self):
        """[(pid, ppid, state, args)] of every process in the sandbox, as ps sees them."""
        r = self.run("ps", "-e", "-o", "pid=,ppid=,stat=,args=")
        rows = []
        for line in r.stdout.splitlines():
            parts = line.split(None, 3)
            if len(parts) == 4 and "ps -e -o" not in parts[3]:
                rows.append((int(parts[0]), int(parts[1]), parts[2], parts[3]))
        return rows

    def pids_of(self, needle):
        return [p for p, _, st, args in self.ps() if needle in args and not st.startswith("Z")]

    def alive(self, pid):
        """Is the sandbox PID alive and not a zombie?"""
        r = self.run("cat", "/proc/%d/stat" % int(pid))
        if r.returncode != 0:
            return False
        return r.stdout.rsplit(")", 1)[1].split()[0] != "Z"
