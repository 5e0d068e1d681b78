"""RunitBackend: start, stop, status and signal through runsvdir, runsv and sv.

The package's __init__ describes the design and what runit cannot do.
"""

import os
import shutil
import signal as _signal
import time

from ...convert import format_schedule, retry_schedule, signal_name
from ...errors import UserError
from .. import files as _files
from ..base import Backend, RenderedFile, Status
from ..model import resolve_command
from . import procscan, supervise
from .layout import layout as _layout, scandir_candidates
from .render import Tools, has_watcher, log_target, refuse_unsupported, render as _render

# runsvdir rescans its directory at least every five seconds (runsvdir(8));
# two more cover a busy machine.
PICKUP_TIMEOUT = 7.0
# From `sv up` to a daemon that has been exec()ed by ./run.
CONFIRM_TIMEOUT = 5.0
# From `x` (exit) to runsv gone: runsv waits only for its log service.
EXIT_TIMEOUT = 5.0
POLL = 0.05

# The signals sv(8) sends by name; any other is sent with kill(2).
SV_COMMANDS = {
    _signal.SIGHUP: "hup", _signal.SIGINT: "interrupt", _signal.SIGTERM: "term",
    _signal.SIGKILL: "kill", _signal.SIGALRM: "alarm", _signal.SIGQUIT: "quit",
    _signal.SIGUSR1: "1", _signal.SIGUSR2: "2", _signal.SIGCONT: "cont",
    _signal.SIGSTOP: "pause",
}


def _wait(cond, timeout):
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(POLL)


def _read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except (FileNotFoundError, NotADirectoryError):
        return None


class RunitBackend(Backend):
    name = "runit"

    def __init__(self, model, environ=None, tools=None):
        super().__init__(model)
        # The caller's environment is the daemon's (see childenv.py).
        self.environ = dict(os.environ if environ is None else environ)
        self.tools = tools or Tools.find()
        self.layout = _layout(model, self.environ)

    # render ------------------------------------------------------------------
    def render(self):
        return _render(self.model, self.layout, self.environ, self.tools)

    # start -------------------------------------------------------------------
    def start(self):
        lay = self.layout
        refuse_unsupported(self.model)
        resolve_command(self.model)
        in_use = self._scandir_in_use()
        if in_use and self._already_running(in_use):
            return
        scandir = self._watched_scandir()
        self._check_link_free(scandir)
        # Whatever an earlier run left (a service down after too many
        # respawns, a start cut short) goes first.
        self._teardown(force=True)
        try:
            self._install(scandir)
            self._await_runsv(scandir)
            self._sv("up", lay.dir)
            self._confirm_running()
        except BaseException:
            self._teardown(force=True)
            raise

    def _watched_scandir(self):
        var, candidates = scandir_candidates(self.model, self.environ)
        for d in candidates:
            if procscan.runsvdir_watching(d):
                return d
        if var is None:
            raise UserError("no runsvdir is watching %s: start one (runsvdir %s) or set "
                            "runit_scandir=" % (candidates[0], candidates[0]))
        raise UserError("%s: no runsvdir is watching %s: start one (runsvdir %s) or correct "
                        "%s=" % (var, candidates[0], candidates[0], var))

    def _scandir_in_use(self):
        """The scan directory the service is linked into, if it is."""
        return _read(os.path.join(self.layout.state, "scandir")) or None

    def _already_running(self, scandir):
        lay = self.layout
        if os.path.realpath(lay.link(scandir)) != os.path.realpath(lay.dir):
            return False
        st = supervise.read_status(lay.dir)
        return (supervise.runsv_running(lay.dir) and st is not None and st.state == "run"
                and not os.path.exists(os.path.join(lay.state, "failed")))

    def _check_link_free(self, scandir):
        for link in (self.layout.link(scandir), self.layout.health_link(scandir)):
            if os.path.lexists(link) and not self._ours(link):
                raise UserError("runit_scandir: %s already exists and is not openrc-sv's; "
                                "remove it or choose another runit_scandir=" % link)

    def _ours(self, link):
        """Is `link` one of the links start makes (to our service directory)?"""
        if not os.path.islink(link):
            return False
        target = os.readlink(link)
        return target in (self.layout.dir, self.layout.health_dir)

    def _install(self, scandir):
        lay = self.layout
        rendered = self.render()
        os.makedirs(lay.state, 0o700, exist_ok=True)
        # What stop needs is kept with the service: stop may be run with a
        # model reduced to the service's name (its configuration changed
        # or broke since), and must still stop it the way it was started.
        steps, group = self._stop_policy()
        record = {"scandir": scandir, "retry": format_schedule(steps),
                  "stopgroup": "yes" if group else "no"}
        _files.write(rendered + [RenderedFile(os.path.join(lay.state, k), v + "\n")
                                 for k, v in record.items()])
        links = [(lay.dir, lay.link(scandir))]
        if has_watcher(self.model):
            links.append((lay.health_dir, lay.health_link(scandir)))
        for target, link in links:
            # runsvdir skips names that start with a dot: create the link
            # under one, then rename it into place, so it appears whole.
            tmp = os.path.join(os.path.dirname(link), ".%s.openrc-sv.%d"
                               % (os.path.basename(link), os.getpid()))
            if os.path.lexists(tmp):
                os.unlink(tmp)
            os.symlink(target, tmp)
            os.rename(tmp, link)

    def _await_runsv(self, scandir):
        dirs = [self.layout.dir] + ([self.layout.health_dir] if has_watcher(self.model) else [])
        if not _wait(lambda: all(supervise.runsv_running(d) for d in dirs), PICKUP_TIMEOUT):
            raise UserError("runsvdir did not start a runsv for %s within %ds: is the runsvdir "
                            "watching %s healthy?" % (self.layout.link(scandir), PICKUP_TIMEOUT,
                                                      scandir))

    def _confirm_running(self):
        """Wait until ./run has exec()ed the daemon; fail if it exits instead."""
        lay = self.layout
        state = {}

        def settled():
            if os.path.exists(os.path.join(lay.state, "last_exit")):
                return "gone"    # ./finish ran: ./run exited at least once
            st = supervise.read_status(lay.dir)
            if st is None or st.state != "run" or st.pid is None:
                return "gone" if state.get("pid") else None
            if state.setdefault("pid", st.pid) != st.pid:
                return "gone"
            return "running" if not self._wrapper(st.pid) else None

        result = _wait(settled, CONFIRM_TIMEOUT)
        if result == "gone":
            last = _read(os.path.join(lay.state, "last_exit")) or "exited"
            logdir, logger = log_target(self.model)
            where = ("in %s" % logdir) if logdir else "in its log" if logger \
                else "on runsvdir's standard error"
            raise UserError("%s: the daemon stopped as it started (%s); its messages are %s"
                            % (self.model.service, last, where))
        if result is None and not state.get("pid"):
            raise UserError("%s: runsv did not start the daemon within %ds"
                            % (self.model.service, CONFIRM_TIMEOUT))

    def _wrapper(self, pid):
        """Is pid still ./run or one of the programs it execs on the way?"""
        argv = procscan.cmdline(pid)
        if not argv:
            return False
        tools = {os.path.basename(t) for t in (self.tools.env, self.tools.chpst,
                                               self.tools.setpriv)}
        return (argv[1:2] == ["./run"] or os.path.basename(argv[0]) in tools
                or argv[3:4] == ["openrc-sv-chdir"])

    # stop --------------------------------------------------------------------
    def stop(self):
        self._teardown(force=False)

    def _teardown(self, force):
        """Take the service down and remove it: watcher, daemon, links, runsvs, files.

        force: a failed or stale start is being cleaned up and nothing may
        be left, so whatever outlives the stop schedule is killed.
        """
        lay = self.layout
        scandirs = [d for d in [self._scandir_in_use()] if d] \
            or scandir_candidates(self.model, self.environ)[1]
        links = [link for d in scandirs for link in (lay.health_link(d), lay.link(d))]
        if not os.path.lexists(lay.dir):
            self._unlink(links)     # a link may be left, pointing nowhere
            return
        # The watcher goes down first, so that it cannot restart the daemon
        # meanwhile; it comes back should the daemon refuse to stop.
        supervise.control(lay.health_dir, "d")
        # Should runsvdir start a new runsv before we are done, it stays down.
        _files.write([RenderedFile(lay.path("down"), "")])
        if supervise.runsv_running(lay.dir):
            if not self._stop_daemon():
                if not force:
                    # It still runs: leave it as supervised as it was.
                    _files.remove([lay.path("down")])
                    supervise.control(lay.dir, "u")
                    supervise.control(lay.health_dir, "u")
                    raise UserError("%s: the daemon did not stop (retry=%s); it is still "
                                    "supervised" % (self.model.service,
                                                    format_schedule(self._stop_policy()[0])))
                supervise.control(lay.dir, "k")
        else:
            self._stop_orphan()
        # runsvdir would start a new runsv for a link still there: unlink
        # first, then tell each runsv to exit.
        self._unlink(links)
        for d in (lay.health_dir, lay.dir):
            supervise.control(d, "x")
            if not _wait(lambda: not supervise.runsv_running(d), EXIT_TIMEOUT):
                pid = procscan.runsv_in(d)
                if not force:
                    raise UserError("%s: runsv (pid %s) did not exit; %s is left in place"
                                    % (self.model.service, pid, d))
                if pid:
                    os.kill(pid, _signal.SIGKILL)
        shutil.rmtree(lay.dir, ignore_errors=True)

    def _stop_policy(self):
        """(retry steps, stopgroup) recorded at start, else the model's."""
        text = _read(os.path.join(self.layout.state, "retry"))
        group = _read(os.path.join(self.layout.state, "stopgroup"))
        steps = None
        if text:
            try:
                steps = retry_schedule("retry", text)
            except UserError:
                steps = None
        steps = steps or self.model.retry or retry_schedule("retry", "5")
        return steps, (group == "yes") if group else self.model.stop_group

    def _stop_orphan(self):
        """The daemon of a runsv that was killed still runs: stop it ourselves.

        Only the process runsv recorded, started when runsv says ./run was
        (a later process may have its number): the stop signal, then KILL
        after the first timeout of the schedule.
        """
        st = supervise.read_status(self.layout.dir)
        if st is None or st.state != "run" or not st.pid or not procscan.alive(st.pid):
            return
        began = procscan.started_at(st.pid)
        if began is None or abs(began - st.since) > 2:
            return
        steps, group = self._stop_policy()
        first = next((v for k, v in steps if k == "signal"), _signal.SIGTERM)
        timeout = next((v for k, v in steps if k == "timeout"), 5000)
        for signum in (first, _signal.SIGKILL):
            try:
                (os.killpg if group else os.kill)(st.pid, signum)
            except ProcessLookupError:
                return
            if _wait(lambda: not procscan.alive(st.pid), timeout / 1000.0):
                return

    def _unlink(self, links):
        for link in links:
            if os.path.lexists(link) and self._ours(link):
                os.unlink(link)

    def _stop_daemon(self):
        """Follow the retry schedule until the daemon is down; True when it is."""
        lay = self.layout

        def down():
            st = supervise.read_status(lay.dir)
            return st is None or st.state == "down"

        steps, group = self._stop_policy()
        first_signal = True
        i = 0
        while i < len(steps):
            kind, value = steps[i]
            i += 1
            if down():
                return True
            if kind == "signal" and first_signal:
                # `down` sends the stop signal (TERM, or control/t's) + CONT
                # and keeps runsv from starting ./run again.
                first_signal = False
                self._sv("down", lay.dir)
            elif kind == "signal" and group:
                self._kill(value, group=True)
            elif kind == "signal":
                self._deliver(value, quiet=True)
            elif kind == "timeout":
                if _wait(down, value / 1000.0):
                    return True
            elif kind == "forever":
                i = 0
        return down()

    # status ------------------------------------------------------------------
    def status(self):
        lay = self.layout
        s = Status(service=self.model.service, backend=self.name, state="stopped")
        if not os.path.isdir(lay.dir):
            return s
        st = supervise.read_status(lay.dir)
        failed = _read(os.path.join(lay.state, "failed"))
        respawn = (_read(os.path.join(lay.state, "respawn")) or "").split()
        s.restarts = int(respawn[2]) if len(respawn) == 3 and respawn[2].isdigit() else 0
        s.last_exit = _read(os.path.join(lay.state, "last_exit"))
        s.supervisor_pid = procscan.runsv_in(lay.dir)
        s.detail["service_dir"] = lay.dir
        if os.path.isdir(lay.health_dir):
            health = (_read(os.path.join(lay.state, "health")) or "unknown").split(None, 2)
            s.health = health[0]
            if len(health) == 3:
                s.detail["health_detail"] = health[2]
        if failed:
            s.state = "failed"
            s.detail["reason"] = failed
        elif s.supervisor_pid is None or st is None:
            orphan = st is not None and st.state == "run" and procscan.alive(st.pid)
            s.state = "unsupervised" if orphan else "crashed"
            s.pid = st.pid if orphan else None
            s.detail["reason"] = "no runsv supervises %s" % lay.dir
        elif st.state == "run":
            s.state = "started"
            s.pid = st.pid
            s.uptime = st.uptime
        elif st.want == "up":
            # Between two runs (./finish, respawn_delay): waiting to respawn.
            s.state = "starting"
        else:
            s.state = "stopped"
            s.detail["reason"] = "taken down outside OpenRC (sv down)"
        return s

    # signal ------------------------------------------------------------------
    def signal(self, signum):
        st = supervise.read_status(self.layout.dir) if os.path.isdir(self.layout.dir) else None
        if st is None or st.state != "run" or not supervise.runsv_running(self.layout.dir):
            raise UserError("%s: the daemon is not running; cannot send it SIG%s"
                            % (self.model.service, signal_name(signum)))
        self._deliver(signum, quiet=False)

    def _deliver(self, signum, quiet):
        lay = self.layout
        command = SV_COMMANDS.get(signum)
        # With control/t, `sv term` sends the stop signal instead: a TERM
        # asked for by name goes straight to the daemon.
        if command == "term" and os.path.exists(lay.path("control", "t")):
            command = None
        if command:
            self._sv(command, lay.dir, quiet=quiet)
        else:
            self._kill(signum, group=False)

    def _kill(self, signum, group):
        """kill(2) the daemon (or its process group) runsv names."""
        st = supervise.read_status(self.layout.dir)
        if st and st.state == "run" and st.pid:
            try:
                (os.killpg if group else os.kill)(st.pid, signum)
            except ProcessLookupError:
                pass

    # sv(8) ---------------------------------------------------------------------
    def _sv(self, *args, quiet=False):
        import sh
        try:
            sv = sh.Command("sv")
        except sh.CommandNotFound:
            raise UserError("sv: runit's sv(8) is not installed (needed by sv_backend=runit)")
        try:
            return str(sv(*args))
        except sh.ErrorReturnCode as e:
            if quiet:
                return None
            text = (e.stdout + e.stderr).decode(errors="replace").strip().splitlines()
            raise UserError("sv %s: %s" % (" ".join(args), text[0] if text else
                                            "exit %d" % e.exit_code))
