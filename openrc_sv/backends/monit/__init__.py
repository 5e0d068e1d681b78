"""sv_backend=monit: OpenRC services supervised by a running monit.

Running monit itself
--------------------
The backend needs one monit daemon, kept alive by init, whose control file
(mode 0600) includes our directory and has an HTTP interface the monit
command line can reach, e.g. a unix socket:

    set daemon 30                      # the poll cycle, in seconds
    set pidfile /run/monit.pid         # `monit reload` signals this pid
    set statefile /var/lib/monit/state
    set httpd unixsocket /run/monit.sock allow admin:CHANGE-ME
    include /run/openrc-monit/*.monitrc

(`include /run/openrc-monit/*` works too, but may catch a file while it is
being written, as SVC.monitrc.tmp.PID, and the monit command line refuses
to do anything while an included file is broken.)

Run it in the foreground (-I) under something that restarts it:

  * sysvinit's /etc/inittab:   MO:2345:respawn:/usr/bin/monit -Ic /etc/monit/monitrc
  * an OpenRC service:          command=/usr/bin/monit
                                command_args="-I -c /etc/monit/monitrc"
                                supervisor=supervise-daemon

A daemon survives a restart of monit (monit keeps its state in the
statefile and finds the daemon again through its pidfile).

Per service (conf.d): sv_backend=monit, and optionally monit_type=native
and the monit_* variables of settings.py.  `start` writes
$monit_include_dir/SVC.monitrc (and, for monit_type=simple, the control
script the checks run, see render.py and launch.py), checks it with
`monit -t`, reloads monit and waits for monit to have started the daemon
(monit starts a process check as it loads it; a native one is also asked
with `monit start`); a start that fails leaves nothing behind.  `stop` asks monit to
stop the service, removes the files and reloads monit.  `status` asks
monit; `signal`/`reload` signal the daemon (monit has no verb for it).

The daemon of a simple service is only ever the process the launcher
started, known by the identity (pid and start time) it recorded in
$monit_run_dir/SVC (root's, mode 0700): signal, reload, stop and the
health check act on that identity and never on a pid read from a file
(pidfile= is written for compatibility, never read).  The launcher keeps
`$RC_SVCDIR/options/SVC/child_pid` up to date and, when respawn_max is
reached, leaves OpenRC's state as supervise-daemon does (stopped, failed).
"""

import os
import time

from ...errors import UserError
from ..base import (DOWN_REASON_KEY, HEALTH_FAILURES_KEY, HEALTH_RUNS_KEY, WATCHDOG_MISSES_KEY,
                    Backend, Status)
from . import settings as settings_mod
from .ctl import Monit
from .launch import _read_int, _read_text, _unlink

_POLL = 0.05


class MonitBackend(Backend):
    name = "monit"

    def __init__(self, model, environ=None):
        super().__init__(model)
        # The caller's environment is the daemon's (see render.py).
        self.environ = dict(os.environ if environ is None else environ)
        self.settings = settings_mod.from_model(model)
        self.monit = Monit(self.settings.cmd, self.settings.conf)

    # -- where things are ---------------------------------------------------
    @property
    def simple(self):
        return self.settings.type == "simple"

    @property
    def include_file(self):
        return settings_mod.include_file(self.settings, self.model.service)

    @property
    def state_dir(self):
        return settings_mod.state_dir(self.settings, self.settings.name)

    def _state(self, name):
        return os.path.join(self.state_dir, name)

    def _health_name(self):
        from .render import health_name, health_timer
        if self.simple and health_timer(self.model):
            return health_name(self.settings)
        return None

    def _stop_wait(self):
        from .render import stop_timeout
        return self.settings.timeout_ms / 1000.0 + stop_timeout(self.model.retry)

    def _start_wait(self):
        # monit may be busy with another service's start; ours may sleep
        # respawn_delay and then take the start timeout.
        s = self.settings
        return (s.timeout_ms + self.model.respawn_delay_ms + s.start_timeout_ms) / 1000.0

    # -- the interface -------------------------------------------------------
    def render(self, cycle=None):
        from .render import render
        return render(self.model, self.settings, cycle, self.environ)

    def _check_trusted_dirs(self):
        """monit runs, as root, the control script in monit_run_dir and
        what monit_include_dir holds; the daemon's identity is kept in the
        former.  Only root may be able to change either, or what is above."""
        from ... import trust
        trust.require_root_only("monit_run_dir", self.settings.run_dir,
                                "monit runs the control script there as root")
        trust.require_root_only("monit_include_dir", self.settings.include_dir,
                                "monit loads the checks there as root")

    def start(self):
        s = self.settings
        self._check_trusted_dirs()
        if self.simple:
            from ..model import resolve_command
            resolve_command(self.model)      # "not found" is an error, not a respawn loop
        self.monit.require_running()
        ours = os.path.exists(self.include_file)
        known = self.monit.status(s.name)
        if known is not None and not ours:
            # Left over from a stop that could not reach monit (monit was
            # stopped, or hung): a reload makes it forget what no file
            # says any more.  Still known afterwards: someone else's.
            self.monit.reload()
            known = self._wait_forgotten(s.name)
        if known is not None and not ours:
            raise UserError("monit already has a service named '%s' that openrc-sv did not "
                            "write (if it is left over, run 'monit reload'); rename one of them"
                            % s.name)
        if ours:
            if known is not None and self._daemon_pid(known) and \
                    not known.get("monitoring status", "").startswith("Not monitored"):
                return                        # already started
            # An earlier start that monit gave up on (respawn_max) or lost:
            # begin afresh, so that monit forgets its restart count too.
            self._teardown(best_effort=True)
        cycle = s.cycle
        if self.simple and cycle is None:
            cycle = self.monit.check()[3]
        rendered = self.render(cycle)
        try:
            self._private_dir()
            self._forget_leftover()
            from .. import files
            files.write(rendered)
            self._check_config()
            self.monit.reload()
            self._wait(lambda: self.monit.status(s.name), s.timeout_ms / 1000.0,
                       "monit to load %s" % self.include_file)
            if not self.simple:
                # The administrator's file may say "onreboot nostart".
                self.monit.action("start", s.name)
            # Our own file is started by monit as it loads it.  No `monit
            # start` then: it would race with that start, and monit counts
            # one against respawn_max but not the other.  It also means a
            # monit that dies before it has saved its state still starts
            # supervising the service again when it comes back.
            self._wait(self._started, self._start_wait(), "monit to start %s" % s.name)
        except BaseException:
            self._teardown(best_effort=True)
            raise

    def stop(self):
        self._teardown(best_effort=False)

    def status(self):
        st = Status(service=self.model.service, backend=self.name, state="stopped")
        if not os.path.exists(self.include_file):
            return st
        st.detail["monit_file"] = self.include_file
        try:
            info = self.monit.status(self.settings.name)
        except UserError as e:
            info, st.detail["monit"] = None, e.message
        if info is None:
            # Our file is there but monit does not supervise the service
            # (monit down, or reloaded without our include).
            st.pid = self._daemon_pid(None)
            st.state = "unsupervised" if st.pid else "crashed"
            st.detail.setdefault("monit", "monit does not know %s" % self.settings.name)
            return st
        monitoring = info.get("monitoring status", "")
        st.detail["monit_status"] = info.get("status", "")
        st.detail["monitoring"] = monitoring
        st.pid = self._daemon_pid(info)
        if monitoring.startswith("Not monitored"):
            if "start pending" in info.get("status", ""):
                st.state = "starting"
            else:
                # monit gave up (respawn_max) or was told to unmonitor it.
                st.state = "unsupervised" if st.pid else "failed"
        else:
            st.state = "started"
        if st.pid:
            from ... import procinfo
            st.uptime = procinfo.uptime_of(st.pid)
        if self.simple:
            starts = _read_int(self._state("starts"))
            st.restarts = max(0, starts - 1) if starts else 0
            gave_up = _read_text(self._state("gave-up"))
            down = _read_text(self._state(DOWN_REASON_KEY))
            if (gave_up or down) and not st.pid:
                st.set_down_reason(down or gave_up)
                st.state = "failed" if st.failed else "stopped"
                st.detail["monit"] = st.down_detail
            # The launcher's counts (healthrun.Counts); None until it keeps them.
            st.health_runs = _read_int(self._state(HEALTH_RUNS_KEY))
            st.health_failures = _read_int(self._state(HEALTH_FAILURES_KEY))
            st.watchdog_misses = _read_int(self._state(WATCHDOG_MISSES_KEY))
        health = self._health_name()
        if health:
            st.health = self._recorded_health(st) or self._health(health)
        return st

    def _recorded_health(self, st):
        from .launch import recorded_health
        return recorded_health(self.state_dir, st.started_at)

    def signal(self, signum):
        # simple: the daemon we started (pid and start time), never a pid
        # some file names.
        pid = self._daemon_pid(None if self.simple else self.monit.status(self.settings.name))
        if not pid:
            raise UserError("%s is not running: no signal sent" % self.model.service)
        if not self.simple:
            self._check_native_pid(pid)
        os.kill(pid, signum)

    def _check_native_pid(self, pid):
        """monit_type=native: the pid is monit's, read from the
        administrator's pidfile, which may sit where the daemon's user can
        rewrite it.  Signal it only if it is what this service runs: the
        command, as command_user (root without one)."""
        from ... import procinfo
        want_uid = self.model.uid if self.model.uid is not None else 0
        try:
            uid = os.stat("/proc/%d" % pid).st_uid
            exe = os.path.realpath("/proc/%d/exe" % pid)
        except OSError:
            uid, exe = None, None
        argv0 = (procinfo.cmdline(pid) or [""])[0]
        command = self.model.command
        names = {os.path.basename(command), os.path.basename(os.path.realpath(command))}
        if uid != want_uid or not ({os.path.basename(exe or ""), os.path.basename(argv0)} & names):
            raise UserError("monit_type=native: monit names pid %d for %s, which is not %s "
                            "running as uid %d; no signal sent (a pidfile the daemon's user "
                            "can write is not proof; monit_type=simple tracks the process "
                            "itself)" % (pid, self.settings.name, command, want_uid))

    # -- helpers -----------------------------------------------------------------
    def _daemon_pid(self, info):
        """The daemon's pid: the identity the launcher recorded (simple), or
        what monit says (native: the administrator's own check)."""
        if self.simple:
            from .launch import daemon_pid
            return daemon_pid(self.state_dir)
        from ... import procinfo
        pid = (info or {}).get("pid", "")
        return int(pid) if pid.isdigit() and procinfo.alive(int(pid)) else None

    def _health(self, name):
        try:
            info = self.monit.status(name)
        except UserError:
            return "unknown"
        text = (info or {}).get("status", "")
        if text.startswith("OK"):
            return "ok"
        if "failed" in text.lower():
            return "failing"
        return "unknown"

    def _started(self):
        """Has the daemon been started?  Raises when monit could not start it."""
        info = self.monit.status(self.settings.name)
        if info is None:
            return None
        monitored = info.get("monitoring status", "").startswith(("Monitored", "Initializing"))
        if self.simple:
            err = _read_text(self._state("last-error")) or _read_text(self._state("gave-up"))
            if err:
                raise UserError("%s: %s" % (self.model.command, err.strip()))
            # Like supervise-daemon: started once the daemon has exec'ed
            # (the launcher counts it), even if it dies at once afterwards.
            return monitored and bool(_read_int(self._state("starts")))
        if "Execution failed" in info.get("status", ""):
            raise UserError("monit could not start %s (monit status: %s)"
                            % (self.settings.name, info.get("status")))
        return monitored and self._daemon_pid(info)

    def _check_config(self):
        ok, error, names, _ = self.monit.check()
        if not ok:
            raise UserError("monit rejects its configuration with %s: %s" % (self.include_file, error))
        if self.settings.name.lower() not in (n.lower() for n in names):
            if self.settings.type == "native":
                raise UserError("monit_type=native: %s has no check named '%s' (set monit_name "
                                "to the name it uses)" % (self.include_file, self.settings.name))
            raise UserError("monit does not read %s: add 'include %s/*.monitrc' to %s"
                            % (self.include_file, self.settings.include_dir,
                               self.settings.conf or "monit's control file"))

    _STATE_FILES = ("control", "pid", "ident", "starts", "deaths", "last-error", "gave-up",
                    "starting", "stopping", "health", HEALTH_RUNS_KEY, HEALTH_FAILURES_KEY,
                    WATCHDOG_MISSES_KEY, DOWN_REASON_KEY)

    def _private_dir(self):
        """The service's state directory: root's, mode 0700, a real
        directory (the daemon's identity lives there)."""
        import stat
        os.makedirs(self.settings.run_dir, 0o755, exist_ok=True)
        try:
            os.mkdir(self.state_dir, 0o700)
        except FileExistsError:
            pass
        st = os.lstat(self.state_dir)
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
            raise UserError("monit_run_dir: %s is not a directory of ours; remove it"
                            % self.state_dir)
        os.chmod(self.state_dir, 0o700)

    def _forget_leftover(self):
        """A daemon started by an earlier life of this service, that nothing
        stopped (its identity proves it is ours), is stopped before we start."""
        if self.simple:
            from .launch import stop_daemon
            stop_daemon(self.state_dir, self.model.retry, self.model.stop_group)
            for n in self._STATE_FILES:
                if n != "control":
                    _unlink(self._state(n))

    def _interrupt_start(self):
        """A stop wins over a respawn waiting out respawn_delay: flag the
        stop, so that the launcher starts nothing any more.  The starter
        waiting out the delay is left to monit's stop program (monit
        watches its pid: killed now, before monit has seen it run, monit
        would wait its whole start timeout before it stops anything)."""
        if os.path.isdir(self.state_dir):
            from ...rcstate import write_atomic
            write_atomic(self._state("stopping"), "", 0o600)

    def _remove_pidfile(self, pid):
        """Remove pidfile= only if it is the one the launcher wrote (root's,
        holding our daemon's pid) or a link the daemon's user planted.  The path may run through a directory the
        daemon's user controls, and then name any file."""
        import stat
        from ... import procinfo
        path = self.model.pidfile
        try:
            st = os.lstat(path)
        except OSError:
            return
        ours = stat.S_ISREG(st.st_mode) and st.st_uid == 0 and pid.isdigit() \
            and procinfo.read_pidfile(path) == int(pid)
        # A link the daemon's user put in its place goes too (unlink never
        # follows it); anything else stays.
        planted = stat.S_ISLNK(st.st_mode) and self.model.uid and st.st_uid == self.model.uid
        if ours or planted:
            try:
                os.unlink(path)
            except OSError:
                pass

    def _clear_child_pid(self):
        from ...rcstate import ServiceState
        try:
            ServiceState(self.model.service).set("child_pid", None)
        except (OSError, UserError):
            pass

    def _wait_forgotten(self, name):
        try:
            self._wait(lambda: self.monit.status(name) is None, self.settings.timeout_ms / 1000.0,
                       "monit to forget %s" % name)
            return None
        except UserError:
            return self.monit.status(name)

    def _teardown(self, best_effort):
        """Stop through monit, make sure the daemon is gone, remove every
        file we wrote and reload monit, so that it forgets the service."""
        s = self.settings
        self._check_trusted_dirs()
        errors, down = [], None
        # The pid pidfile= should hold, if it is ours: see _remove_pidfile.
        ours = (_read_text(self._state("ident")) or "").split(":")[0] if self.simple else ""
        if self.simple:
            self._interrupt_start()
        try:
            self.monit.require_running()
        except UserError as e:
            down = e.message
        known = None
        had_file = os.path.exists(self.include_file)
        if down is None and had_file:
            try:
                known = self.monit.status(s.name)
                if known is not None:
                    self.monit.action("stop", s.name)
                    self._wait(self._stopped, self._stop_wait(), "monit to stop %s" % s.name)
            except UserError as e:
                errors.append(e.message)
        if self.simple:
            # Whatever monit did, the daemon must be gone (also when monit
            # is down: the identity we recorded is enough to stop it).
            from .launch import end_starter, stop_daemon
            end_starter(self.state_dir)
            if not stop_daemon(self.state_dir, self.model.retry, self.model.stop_group):
                errors.append("%s survived its stop schedule" % self.model.command)
        paths = [self.include_file]
        if self.simple:
            paths += [self._state(n) for n in self._STATE_FILES]
        from .. import files
        files.remove(paths)
        if self.simple and self.model.pidfile:
            self._remove_pidfile(ours)
        if self.simple:
            try:
                os.rmdir(self.state_dir)
            except OSError:
                pass
            self._clear_child_pid()
        if down is None and had_file:
            # Also when monit did not know the service yet: a reload it was
            # about to make would otherwise find our file.
            try:
                self.monit.reload()
                self._wait(lambda: self.monit.status(s.name) is None, s.timeout_ms / 1000.0,
                           "monit to forget %s" % s.name)
            except UserError as e:
                errors.append(e.message)
        if best_effort:
            return
        if errors:
            raise UserError(errors[-1])
        if down and not self.simple:
            raise UserError("%s (removed %s, but only monit can stop what its check started)"
                            % (down, self.include_file))

    def _stopped(self):
        info = self.monit.status(self.settings.name)
        if info is None:
            return True
        if not info.get("monitoring status", "").startswith("Not monitored"):
            return False
        if "pending" in info.get("status", ""):
            return False
        return not self._daemon_pid(info)

    @staticmethod
    def _wait(cond, timeout, what):
        deadline = time.monotonic() + timeout
        while True:
            value = cond()
            if value:
                return value
            if time.monotonic() > deadline:
                raise UserError("timed out after %gs waiting for %s" % (timeout, what))
            time.sleep(_POLL)


