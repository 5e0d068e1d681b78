"""RunitBackend: start, stop, status and signal through runsvdir, runsv and sv.

The package's __init__ describes the design and what runit cannot do.
"""

import os
import shutil
import signal as _signal
import time

from ... import procinfo, trust, stopper
from ...convert import format_schedule, retry_schedule, signal_name
from ...errors import UserError
from .. import files as _files
from ...rcstate import ServiceState
from ..base import DOWN_REASON_KEY, Backend, RenderedFile, Status
from ..model import resolve_command
from ..options import in_variables
from . import procscan, supervise
from .layout import MARKER, layout as _layout, scandir_candidates
from .render import (Tools, child_pid_path, has_watcher, log_target, refuse_unsupported,
                     render as _render)

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
        # The caller's environment is the daemon's (openrc-sv-exec cleans it).
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
        self._check_trusted_dirs()
        self._check_dir_ours()
        resolve_command(self.model)
        self._check_logdir()
        in_use = self._scandir_in_use()
        if in_use and self._already_running(in_use):
            return
        scandir = self._watched_scandir()
        self._check_link_free(scandir)
        # Whatever an earlier run left (a service down after too many
        # respawns, a start cut short) goes first, and with it the reason
        # it went down.
        self._teardown(force=True)
        ServiceState(self.model.service).set(DOWN_REASON_KEY, None)
        try:
            self._install(scandir)
            self._await_runsv(scandir)
            self._sv("up", lay.dir)
            self._confirm_running()
        except BaseException:
            self._teardown(force=True)
            raise

    def _dir_ours(self):
        """Did openrc-sv create the service directory?  (It carries our marker.)"""
        d = self.layout.dir
        return not os.path.islink(d) and os.path.isdir(d) and \
            os.path.isfile(os.path.join(d, MARKER)) and \
            not os.path.islink(os.path.join(d, MARKER))

    def _check_dir_ours(self):
        d = self.layout.dir
        if os.path.lexists(d) and not self._dir_ours():
            raise UserError("runit_svdir_root: %s already exists and is not openrc-sv's; "
                            "choose another runit_svdir_root= (openrc-sv neither uses nor "
                            "removes a directory it did not create)" % d)

    def _check_logdir(self):
        """svlogd runs as command_user; as root only in a directory no
        other user can change (else it could plant a `config` whose
        !processor root would run, or a `current` symlink root would
        write through)."""
        logdir, _ = log_target(self.model)
        if logdir is None:
            return
        if self.model.user and self.model.uid != 0:
            if not os.path.isdir(logdir):
                raise UserError("runit_logdir: %s does not exist; create it for command_user "
                                "(checkpath -d -o %s %s)" % (logdir, self.model.user, logdir))
            return
        part = trust.untrusted_part(logdir)
        if part is not None:
            raise UserError("runit_logdir: %s: svlogd would run as root in a directory "
                            "another user can change (%s); set command_user or use a "
                            "root-owned directory not writable by group or others"
                            % (logdir, part))
        os.makedirs(logdir, 0o755, exist_ok=True)

    def _check_trusted_dirs(self):
        """runsv runs ./run from the service directory as root: only root
        may be able to change it, or the directories above it."""
        if self.model.extra.get("runit_svdir_root"):
            trust.require_root_only("runit_svdir_root", self.layout.root,
                                    "runsv runs the scripts there as root")
        var, dirs = scandir_candidates(self.model, self.environ)
        if var:
            trust.require_root_only(var, dirs[0], "runsvdir runs what is linked there as root")

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
        os.makedirs(lay.root, 0o755, exist_ok=True)
        # Ours from its creation on: only a directory with the marker is
        # ever removed (start refused any other, and the teardown before
        # this removed ours, so mkdir creates it anew).
        try:
            os.mkdir(lay.dir, 0o755)
        except FileExistsError:
            raise UserError("runit_svdir_root: %s appeared while starting; not using it"
                            % lay.dir)
        try:
            _files.write([RenderedFile(os.path.join(lay.dir, MARKER),
                                       "created by openrc-sv for %s\n" % self.model.service,
                                       0o644)])
        except BaseException:
            # Made by the mkdir above, but not marked yet (a full disk):
            # ours all the same, and nothing may be left.
            shutil.rmtree(lay.dir, ignore_errors=True)
            raise
        os.makedirs(lay.state, 0o700, exist_ok=True)
        # openrc-sv-exec writes the daemon's pid into options/SVC/child_pid.
        os.makedirs(os.path.dirname(child_pid_path(self.model, self.environ)), 0o755,
                    exist_ok=True)
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
            why = _read(os.path.join(lay.state, "exec-error"))
            if why:
                # openrc-sv-exec names options; the user wrote variables.
                raise UserError(in_variables(why.splitlines()[0]))
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
        return (argv[1:2] == ["./run"] or os.path.basename(argv[0]) == os.path.basename(
            self.tools.env) or any(a.endswith("/openrc-sv-exec") for a in argv[1:4]))

    # stop --------------------------------------------------------------------
    def stop(self):
        # What is in a directory another user can change may be forged
        # (our marker, runsv's status naming some process): touch nothing.
        self._check_trusted_dirs()
        self._teardown(force=False)

    def _teardown(self, force):
        """Take the service down and remove it: watcher, daemon, links, runsvs, files.

        force: a failed or stale start is being cleaned up and nothing may
        be left, so whatever outlives the stop schedule is killed.  A
        service directory openrc-sv did not create is not touched, nor are
        links to it.
        """
        lay = self.layout
        if os.path.lexists(lay.dir) and not self._dir_ours():
            return
        scandirs = [d for d in [self._scandir_in_use()] if d] \
            or scandir_candidates(self.model, self.environ)[1]
        links = [link for d in scandirs for link in (lay.health_link(d), lay.link(d))]
        if not os.path.lexists(lay.dir):
            self._unlink(links)     # a link may be left, pointing nowhere
            self._clear_child_pid()
            return
        # The watcher goes down first, so that it cannot restart the daemon
        # meanwhile; it comes back should the daemon refuse to stop.
        supervise.control(lay.health_dir, "d")
        # Should runsvdir start a new runsv before we are done, it stays down.
        _files.write([RenderedFile(lay.path("down"), "")])
        supervised = supervise.runsv_running(lay.dir)
        if not self._stop_daemon(supervised):
            if supervised and not force:
                # It still runs: leave it as supervised as it was.
                _files.remove([lay.path("down")])
                supervise.control(lay.dir, "u")
                supervise.control(lay.health_dir, "u")
                raise UserError("%s: the daemon did not stop (retry=%s); it is still "
                                "supervised" % (self.model.service,
                                                format_schedule(self._stop_policy()[0])))
            supervise.control(lay.dir, "k")
        self._clear_child_pid()
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
        if self._dir_ours():
            shutil.rmtree(lay.dir, ignore_errors=True)

    def _clear_child_pid(self):
        try:
            os.unlink(child_pid_path(self.model, self.environ))
        except OSError:
            pass

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

    def _daemon(self):
        """The identity ('PID:TICKS', procinfo) of the daemon runsv last
        recorded running, if that very process still runs: it must have
        started when runsv says ./run did (a later process may have its
        number, once runsv is gone).  Never a pid from a file alone."""
        st = supervise.read_status(self.layout.dir)
        if st is None or st.state != "run" or not st.pid or not procinfo.alive(st.pid):
            return None
        ident = procinfo.identity(st.pid)
        began = procscan.started_at(st.pid)
        if ident is None or began is None or abs(began - st.since) > 2:
            return None
        return ident

    def _stop_daemon(self, supervised):
        """Follow the retry schedule (stopper.run_blocking, the one stop
        driver) until the daemon is gone; True when it is.

        With a runsv, the first signal is `d` (runsv sends the stop signal,
        through control/t when it is not TERM, then CONT, and starts no new
        run); later ones, and without a runsv (it was killed: the daemon is
        an orphan) every one, go to the process we identified, and only
        while it is still that process."""
        ident = self._daemon()
        if ident is None:
            return True
        pid = int(ident.split(":")[0])
        steps, group = self._stop_policy()
        first = [supervised]

        def send(signum):
            if first[0]:
                first[0] = False
                supervise.control(self.layout.dir, "d")
            elif procinfo.same_process(ident):
                (os.killpg if group else os.kill)(pid, signum)

        return stopper.run_blocking(steps, pid, lambda: procinfo.same_process(ident),
                                    group=group, send=send)

    def _unlink(self, links):
        for link in links:
            if os.path.lexists(link) and self._ours(link):
                os.unlink(link)

    # status ------------------------------------------------------------------
    def status(self):
        from .facts import Facts
        lay = self.layout
        s = Status(service=self.model.service, backend=self.name, state="stopped")
        if not os.path.isdir(lay.dir):
            return s
        f = Facts(lay.dir)
        st = f.status
        s.restarts = f.restarts
        s.last_exit = f.last_exit
        s.supervisor_pid = procscan.runsv_in(lay.dir)
        s.detail["service_dir"] = lay.dir
        s.health = f.health_now()
        s.health_runs, s.health_failures = f.health_runs, f.health_failures
        s.watchdog_misses = f.watchdog_misses
        if f.health_detail and f.has_watcher:
            s.detail["health_detail"] = f.health_detail
        if f.down_reason:
            s.state = "failed" if f.failed else "stopped"
            s.set_down_reason(f.down_reason)
            s.detail["reason"] = s.down_detail
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
