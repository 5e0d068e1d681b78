"""One benchmark sandbox: a private OpenRC world (tests/sandbox.py) with
the bench's programs installed and its event fifo open.

The daemons under supervision are shell scripts in /run/bench/bin that
announce themselves on one fifo, /run/bench/events, which the bench holds
open (read-write, so a writer never blocks and the bench never sees EOF):

    up SVC PID          a daemon has started (written right after its exec)
    sick SVC            its health check is failing, now
    unhealthy SVC       the unhealthy hook runs

The bench timestamps each line with time.monotonic() when its read
returns: it sits blocked in select() on the fifo, so the stamp is taken
within microseconds of the write.  A daemon's start is `/bin/sh` starting
and running one echo (about a millisecond, the same under every
supervisor), so differences between supervisors are measured to well
under a millisecond, unlike /proc start times (10 ms ticks).
"""

import collections
import os
import select
import shutil
import sys
import tempfile
import time

from bench import procs
from openrc_sv import launcher
from bench.scripts import PROGRAMS, runit_run
from sandbox import Sandbox, wait_for

EVENTS = "/run/bench/events"


class World:
    def __init__(self, column, python=None):
        self.column = column
        # Our code runs on this interpreter, from this tree (--baseline).
        self.python = python or column.python or sys.executable
        self.tree = column.tree or launcher.package_parent()
        self.tmp = None
        self.sb = None
        self.fd = None
        self.buf = b""
        self.pending = collections.deque()     # lines read, not yet consumed
        self.runsvdir = None
        self.spawned = []                      # long-running helpers (Popen of nsenter)

    # -- lifecycle ----------------------------------------------------------
    def __enter__(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="openrc-sv-bench-")
        self.sb = Sandbox(self.tmp.name, supervisor=self.column.sandbox)
        try:
            if self.column.sandbox == "ours":
                self._stage_launcher()
            self.sb.start()
            self._install()
            if self.column.prepare:
                self.column.prepare(self)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        if self.sb:
            self.sb.close()     # its PID 1 dies, and every process inside with it
        for p in self.spawned:
            try:
                p.wait(10)
            except Exception:
                p.kill()
                p.wait()
        if self.tmp:
            self.tmp.cleanup()

    def _stage_launcher(self):
        """The supervise-daemon openrc-run finds: our launcher, for this
        world's interpreter and tree.  The sandbox stages a copy of
        $RC_LIBEXECDIR/sbin in tmp/rc-sbin and keeps a launcher found there."""
        d = os.path.join(self.tmp.name, "rc-sbin")
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, "supervise-daemon")
        with open(path, "w") as f:
            f.write(launcher.script(python=self.python, parent=self.tree))
        os.chmod(path, 0o755)

    def _install(self):
        for name, text in PROGRAMS.items():
            self.sb.write("/run/bench/bin/" + name, text, 0o755)
        # `sleep`, under a name that marks it as a bench daemon (procs.DAEMON_DIR).
        shutil.copy(shutil.which("sleep"), self.sb.host_path("/run/bench/bin/bench-idle"))
        os.mkfifo(self.sb.host_path(EVENTS), 0o666)
        self.fd = os.open(self.sb.host_path(EVENTS), os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)

    def spawn(self, *cmd):
        """Start a long-running helper inside (a fork server, runsvdir, monit)."""
        p = self.sb.spawn(*cmd)
        self.spawned.append(p)
        return p

    @property
    def init_pid(self):
        return self.sb.init_pid

    # -- services -----------------------------------------------------------------
    def install(self, svc, text):
        self.sb.install_script(svc, text)

    def rc_each(self, action, names, timeout=None):
        """`rc-service SVC ACTION` for each name in a row; the seconds the
        whole row took, timed inside the sandbox (so nsenter is not in it)."""
        timeout = timeout or 60 + 2 * len(names)
        r = self.sb.run("/run/bench/bin/timed", action, *names, timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError("rc-service %s failed under %s:\n%s%s"
                               % (action, self.column.key, r.stdout[-2000:], r.stderr[-2000:]))
        t0, t1 = r.stdout.split()[-2:]
        return float(t1) - float(t0)

    def runit_services(self, names):
        """Bare runit: a hand-written run script per service, one runsvdir."""
        os.makedirs(self.sb.host_path("/run/bench/scan"), exist_ok=True)
        for svc in names:
            d = "/run/bench/sv/%s" % svc
            self.sb.write(d + "/run", runit_run(svc), 0o755)
            os.symlink(d, self.sb.host_path("/run/bench/scan/" + svc))
        if self.runsvdir is None:
            self.runsvdir = self.spawn("runsvdir", "-P", "/run/bench/scan")

    def touch(self, path):
        self.sb.write(path, "")

    def file_size(self, path):
        try:
            return os.path.getsize(self.sb.host_path(path))
        except FileNotFoundError:
            return 0

    # -- events ---------------------------------------------------------------------
    def _lines(self, timeout):
        """[(monotonic stamp, words)] of what arrives within timeout (at least one line
        unless the deadline passes)."""
        r, _, _ = select.select([self.fd], [], [], max(0.0, timeout))
        stamp = time.monotonic()
        if not r:
            return []
        try:
            self.buf += os.read(self.fd, 65536)
        except BlockingIOError:
            return []
        *lines, self.buf = self.buf.split(b"\n")
        return [(stamp, line.decode().split()) for line in lines if line]

    def drain(self):
        self.pending.clear()
        while self._lines(0):
            pass

    def wait_event(self, kind, svcs, timeout=15.0):
        """Wait for one `kind` line from each service in svcs; {svc: (stamp, words)}.
        Lines before the last one needed are consumed; later ones stay pending."""
        want = set(svcs)
        got = {}
        deadline = time.monotonic() + timeout
        while want - got.keys():
            if not self.pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    missing = sorted(want - got.keys())
                    raise RuntimeError("%s: no '%s' from %d service(s) (%s) within %gs"
                                       % (self.column.key, kind, len(missing),
                                          " ".join(missing[:5]), timeout))
                self.pending.extend(self._lines(left))
                continue
            stamp, words = self.pending.popleft()
            if words[0] == kind and len(words) > 1 and words[1] in want and words[1] not in got:
                got[words[1]] = (stamp, words)
        return got

    def wait_up(self, svcs, timeout=15.0):
        return self.wait_event("up", svcs, timeout)

    # -- processes --------------------------------------------------------------------
    def supervision(self):
        return procs.supervision(self.init_pid)

    def daemons(self):
        return procs.daemons(self.init_pid)

    def settle(self, quiet=0.5, timeout=10.0):
        """Wait until the set of supervision processes stays the same for
        `quiet` seconds (no rc-service or half-started supervisor left)."""
        last = {"keys": None, "since": time.monotonic()}

        def stable():
            keys = {p.key for p in self.supervision()}
            now = time.monotonic()
            if keys != last["keys"]:
                last["keys"], last["since"] = keys, now
                return False
            return now - last["since"] >= quiet
        wait_for(stable, timeout, interval=0.05, what="%s to settle" % self.column.key)

    def check_supervisor(self):
        """Guard against measuring the wrong program: the column says which
        executable its supervisors must be."""
        want = self.column.expect_exe
        if not want:
            return
        found = self.supervision()
        if not found:
            raise RuntimeError("%s: no supervisor process is running" % self.column.key)
        for p in found:
            if "supervise-daemon" not in p.cmdline:
                continue        # a health check, a fork server's child, runsv...
            try:
                exe = os.readlink("/proc/%d/exe" % p.pid)
            except OSError:
                continue
            if want not in exe:
                raise RuntimeError("%s: %r runs %s, expected %s"
                                   % (self.column.key, p.cmdline, exe, want))

