"""The daemon's standard input, output and error.

OpenRC's supervise-daemon opens --stdout/--stderr files, and starts the
--stdout-logger/--stderr-logger commands, afresh for every respawn: a
logger dies with the daemon and lines in flight are lost.  Here the
supervisor owns one pipe per stream for its whole life:

  * with a logger command, the logger reads the pipe; it is started once
    and kept across respawns of the daemon (and restarted if it dies, on
    the same pipe, so nothing buffered is lost);
  * with a file, the supervisor copies the pipe into the file and can
    reopen the file on request (SIGUSR1 or "reopen" on the control fifo)
    after rotation.  (Not splice(2): Linux refuses it into O_APPEND files,
    and appending is what several writers to one log need.)

Files are opened as the daemon's user (openrc_sv.useropen), never as root.
A file that user cannot open (a symlink it planted to /etc/..., to root's
file, to a root-only input) fails --start at once with one line naming the
option and the path, and nothing is left running: OpenRC's C supervisor
fails the same open in its child after setuid, but only after --start has
reported success, and then again on every respawn.  A FIFO is refused for
--stdout/--stderr (it would block the daemon or hand its output to whoever
reads it).  A reopen (SIGUSR1, "reopen") that fails keeps writing to the
file that was open, and says why in syslog.

Each stream has one explicit mode: FILE (the supervisor copies the pipe
into the file), LOGGER (a logger command reads the pipe) or DISCARD (the
daemon writes to /dev/null; no pipe).  A logger that exits (or cannot even
start: `output_logger=/nonexistent`) is restarted with a backoff -- at
once after a long life, then 0.25 s, 0.5 s, ... up to 30 s while it keeps
dying young -- and while it is down the supervisor drains its pipe, so the
daemon never blocks on a full pipe.  Lines read while no logger runs are
dropped (and counted in syslog); while a logger runs it alone reads the
pipe, so nothing it could have read is lost.
"""

import os
import syslog
import time

from . import child, useropen

FILE, LOGGER, DISCARD = "file", "logger", "discard"
QUICK_EXIT = 1.0          # a logger that dies within this is "failing"
BACKOFF_FIRST = 0.25      # first delay after a quick exit; doubled each time
BACKOFF_CAP = 30.0


class Stream:
    """One of stdout/stderr: its mode, its pipe, and the file or logger at
    the pipe's far end."""

    def __init__(self, name, path, logger, who, file_fd=None):
        self.name = name
        self.path = path          # as the daemon sees it (inside its chroot)
        self.logger = logger
        self.mode = FILE if path else LOGGER if logger else DISCARD
        self.who = who
        self.file_fd = None
        self.logger_pid = None
        self.logger_started = 0.0
        self.quick_exits = 0      # consecutive logger deaths within QUICK_EXIT
        self.restart_at = None    # when a dead logger is started again
        self.dropped = 0          # bytes drained while no logger ran
        self.r = self.w = None
        if self.mode != DISCARD:
            self.r, self.w = os.pipe2(os.O_CLOEXEC)
        if self.mode == FILE:
            os.set_blocking(self.r, False)
            if file_fd is not None:
                self.file_fd = file_fd          # opened at the start (a lean supervisor's worker)
            else:
                self.file_fd = useropen.open_named("--" + name, self.who, self.path,
                                                   useropen.WRITE)

    def draining(self):
        """Does the supervisor read this pipe (poll it)?"""
        return self.mode == FILE or (self.mode == LOGGER and self.logger_pid is None)

    def open_file(self):
        # As the daemon's user, never as root (see useropen): at start and
        # at every reopen, since the directory may have changed meanwhile.
        fd = useropen.open_as(self.who, self.path, useropen.WRITE)
        old, self.file_fd = self.file_fd, fd
        if old is not None:
            os.close(old)

    def pump(self):
        """Move what the daemon wrote into the file (FILE), or drop it while
        the logger is down (LOGGER)."""
        if self.mode == LOGGER:
            # The read end is shared with the loggers we start, so it stays
            # blocking (a logger must not see EAGAIN); poll said readable,
            # so exactly one read cannot block.
            if self.logger_pid is None:
                try:
                    self.dropped += len(os.read(self.r, 1 << 16))
                except OSError:
                    pass
            return
        if self.mode == FILE:
            copy_to_file(self.r, self.file_fd, self.path)


def rewind(fd):
    """Each start of the daemon reads its --stdin file from the beginning
    (a pipe or a device cannot be rewound, and is read on as it is)."""
    try:
        os.lseek(fd, 0, os.SEEK_SET)
    except OSError:
        pass


def copy_to_file(r, file_fd, path):
    """Move what is in the pipe r (non-blocking) into the file (a FILE
    stream's pump; a lean supervisor's too, leanstart)."""
    while True:
        try:
            data = os.read(r, 1 << 16)
            n = len(data)
            if n:
                os.write(file_fd, data)
        except BlockingIOError:
            return
        except OSError as e:
            # A full disk or a vanished file must not stop supervision:
            # drop what we cannot write.
            syslog.syslog(syslog.LOG_ERR, "%s: %s" % (path, e.strerror))
            try:
                os.read(r, 1 << 16)
            except OSError:
                pass
            return
        if not n:
            return


class OutputPipes:
    def __init__(self, opts, setup, spawn=None, now=None, files=None):
        """files: {"stdin"/"stdout"/"stderr": fd} opened at the start, for a
        supervisor that takes over from the one that started the daemon
        (handoff.lean_adopt): the daemon's user may have changed the paths
        since, and files are opened once, at the start."""
        files = files or {}
        self.setup = setup
        self.spawn = spawn or child.spawn
        self.now = now or time.monotonic
        self.stdin_path = opts.stdin
        self.stdin_fd = files.get("stdin")
        self.devnull = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
        self.who = useropen.Who(opts.user, opts.chroot, opts.chdir, opts.group)
        self.streams = [s for s in (
            Stream("stdout", opts.stdout, None if opts.stdout else opts.stdout_logger, self.who,
                   files.get("stdout")),
            Stream("stderr", opts.stderr, None if opts.stderr else opts.stderr_logger, self.who,
                   files.get("stderr")),
        )]

    def files(self):
        """The files opened at the start, for files= above."""
        out = {s.name: s.file_fd for s in self.streams if s.file_fd is not None}
        if self.stdin_fd is not None:
            out["stdin"] = self.stdin_fd
        return out

    def start_loggers(self):
        for s in self.streams:
            if s.mode == LOGGER and not s.logger_pid:
                self._start_logger(s)

    def _start_logger(self, s):
        # Like OpenRC: `sh -c CMD`, reading the pipe, in the daemon's
        # chroot and as its user; its own output goes nowhere.
        s.restart_at = None
        s.logger_started = self.now()
        try:
            s.logger_pid = self.spawn(self.setup, ["/bin/sh", "-c", s.logger],
                                      (s.r, self.devnull, self.devnull))
        except child.SpawnError as e:
            syslog.syslog(syslog.LOG_ERR, "cannot start logger '%s': %s" % (s.logger, e))
            self._logger_down(s)
            return
        if s.dropped:
            syslog.syslog(syslog.LOG_WARNING, "logger '%s' restarted; %d bytes of %s were "
                          "dropped while it was down" % (s.logger, s.dropped, s.name))
            s.dropped = 0

    def _logger_down(self, s):
        s.logger_pid = None
        if self.now() - s.logger_started < QUICK_EXIT:
            s.quick_exits += 1
        else:
            s.quick_exits = 0
        delay = 0.0 if not s.quick_exits else min(BACKOFF_CAP, BACKOFF_FIRST * 2 ** (s.quick_exits - 1))
        s.restart_at = self.now() + delay
        if s.quick_exits == 1:
            syslog.syslog(syslog.LOG_ERR, "logger '%s' exits at once; %s is drained (and "
                          "dropped) until it runs again; retrying with a backoff up to %gs"
                          % (s.logger, s.name, BACKOFF_CAP))

    def daemon_stdio(self):
        if self.stdin_path:
            if self.stdin_fd is None:
                self.stdin_fd = useropen.open_named("--stdin", self.who, self.stdin_path,
                                                    useropen.READ)
            else:
                rewind(self.stdin_fd)
        stdin = self.stdin_fd if self.stdin_fd is not None else self.devnull
        out, err = (s.w if s.w is not None else self.devnull for s in self.streams)
        return stdin, out, err

    def poll_fds(self):
        """The pipes the supervisor reads now (changes as loggers come and go)."""
        return [s.r for s in self.streams if s.draining()]

    def pump(self, fd):
        for s in self.streams:
            if s.r == fd and s.draining():
                s.pump()

    def deadline(self):
        due = [s.restart_at for s in self.streams if s.restart_at is not None]
        return min(due) if due else None

    def tick(self, now):
        """Restart the loggers whose backoff is over."""
        for s in self.streams:
            if s.restart_at is not None and now >= s.restart_at and s.mode == LOGGER:
                self._start_logger(s)

    def reopen(self):
        """SIGUSR1 / "reopen": reopen the FILE streams; nothing else to do
        for a logger or a discarded stream.  Never raises."""
        for s in self.streams:
            if s.mode != FILE:
                continue
            try:
                s.pump()
                s.open_file()
                syslog.syslog(syslog.LOG_INFO, "reopened %s" % s.path)
            except (OSError, ValueError, TypeError) as e:
                syslog.syslog(syslog.LOG_ERR, "unable to reopen %s: %s"
                              % (s.path, getattr(e, "strerror", None) or e))

    def child_exited(self, pid):
        for s in self.streams:
            if s.logger_pid == pid:
                self._logger_down(s)
                return True
        return False

    def finish(self, deadline=2.0):
        """At shutdown: flush files; close our write ends so loggers see EOF
        and exit, and wait a little for them."""
        for s in self.streams:
            s.restart_at = None
            if s.mode == FILE:
                s.pump()
            if s.w is not None:
                os.close(s.w)
                s.w = None
        end = time.monotonic() + deadline
        for s in self.streams:
            while s.logger_pid:
                try:
                    pid, _ = os.waitpid(s.logger_pid, os.WNOHANG)
                except ChildProcessError:
                    break
                if pid:
                    break
                if time.monotonic() > end:
                    try:
                        os.kill(s.logger_pid, 9)
                        os.waitpid(s.logger_pid, 0)
                    except OSError:
                        pass
                    break
                time.sleep(0.01)
            s.logger_pid = None

    def logger_pids(self):
        return [s.logger_pid for s in self.streams if s.logger_pid]

    # re-exec ------------------------------------------------------------
    def export(self):
        """'r,w,pid' per stream, for a re-executed supervisor to take over."""
        return ";".join("%s,%s,%s" % (s.r if s.r is not None else "", s.w if s.w is not None else "",
                                      s.logger_pid or "") for s in self.streams)

    def inheritable_fds(self):
        return [fd for s in self.streams for fd in (s.r, s.w) if fd is not None]

    def adopt(self, text):
        for s, part in zip(self.streams, text.split(";")):
            r, w, pid = part.split(",")
            if r:
                if s.r is not None:
                    os.close(s.r)
                    os.close(s.w)
                s.r, s.w = int(r), int(w)
                os.set_inheritable(s.r, False)
                os.set_inheritable(s.w, False)
                if s.mode == FILE:
                    os.set_blocking(s.r, False)
            s.logger_pid = int(pid) if pid else None
            s.logger_started = self.now() - 10
            if s.mode == LOGGER and s.logger_pid is None:
                s.restart_at = self.now()       # it was down: try again

