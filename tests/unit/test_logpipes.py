"""OutputPipes: explicit stream modes, a logger that dies (at once or
later) and the daemon's pipe that must never fill up.  No process runs:
the logger's spawn is a stub and the clock a variable."""

import os

import pytest

from openrc_sv import child, logpipes, sd_args
from openrc_sv.logpipes import DISCARD, FILE, LOGGER, OutputPipes


class Clock:
    t = 100.0

    def __call__(self):
        return self.t


@pytest.fixture
def make(monkeypatch):
    clock = Clock()
    spawned = []

    def spawn(setup, argv, stdio, *a):
        if argv[-1] == "/cannot-run":
            raise child.SpawnError("unable to exec")
        spawned.append(argv)
        return 7000 + len(spawned)

    def build(*opts):
        o = sd_args.parse(["svc", "--start", *opts, "/bin/true"], {"RC_SVCNAME": "svc"})
        return OutputPipes(o, None, spawn=spawn, now=clock), clock, spawned
    return build


def test_each_stream_has_one_explicit_mode(make, tmp_path):
    out, _, _ = make("--stdout", str(tmp_path / "log"), "--stderr-logger", "logger -t x")
    assert [s.mode for s in out.streams] == [FILE, LOGGER]
    out, _, _ = make()
    assert [s.mode for s in out.streams] == [DISCARD, DISCARD]
    assert out.poll_fds() == [] and out.deadline() is None


def test_a_running_logger_alone_reads_the_pipe(make):
    out, _, spawned = make("--stdout-logger", "cat")
    out.start_loggers()
    assert len(spawned) == 1
    assert out.poll_fds() == []          # we never steal the logger's lines


def test_a_logger_that_exits_at_once_is_drained_and_restarted_with_backoff(make):
    out, clock, spawned = make("--stdout-logger", "/nonexistent")
    out.start_loggers()
    s = out.streams[0]
    delays = []
    for _ in range(10):
        assert out.child_exited(s.logger_pid)
        assert out.poll_fds() == [s.r]   # drained while down
        delays.append(round(out.deadline() - clock.t, 3))
        clock.t = out.deadline()
        out.tick(clock.t)
        assert s.logger_pid and out.poll_fds() == []
    assert delays == [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    assert len(spawned) == 11


def test_a_logger_killed_twice_within_a_second_is_restarted_both_times(make):
    out, clock, spawned = make("--stdout-logger", "cat")
    out.start_loggers()
    s = out.streams[0]
    clock.t += 60                                # a long life: back at once
    out.child_exited(s.logger_pid)
    assert out.deadline() == clock.t
    out.tick(clock.t)
    clock.t += 0.5                               # killed again at once
    out.child_exited(s.logger_pid)
    clock.t = out.deadline()
    out.tick(clock.t)
    assert len(spawned) == 3 and s.logger_pid
    clock.t += 60                                # it lives: the backoff resets
    out.child_exited(s.logger_pid)
    assert out.deadline() == clock.t


def test_a_logger_that_cannot_be_spawned_counts_as_a_quick_exit(make):
    out, clock, _ = make("--stdout-logger", "/cannot-run")
    out.streams[0].logger = "/cannot-run"
    out.start_loggers()
    s = out.streams[0]
    assert s.logger_pid is None and out.poll_fds() == [s.r]
    assert out.deadline() == clock.t + 0.25


def test_the_daemon_never_blocks_while_the_logger_is_down(make):
    """Far more than a pipe holds (64 KiB) goes through while no logger
    runs: every write succeeds without blocking, and the pipe's read end
    stays blocking for the next logger."""
    out, _, _ = make("--stdout-logger", "/nonexistent")
    out.start_loggers()
    s = out.streams[0]
    out.child_exited(s.logger_pid)
    w = os.dup(s.w)
    os.set_blocking(w, False)
    written = 0
    try:
        for _ in range(64):
            written += os.write(w, b"x" * 8192)      # BlockingIOError if full
            for fd in out.poll_fds():
                out.pump(fd)
    finally:
        os.close(w)
    assert written == 64 * 8192 and s.dropped == written
    assert os.get_blocking(s.r)


@pytest.mark.parametrize("opts", [("--stdout-logger", "/nonexistent"), ()])
def test_reopen_never_raises_without_a_file(make, opts):
    out, _, _ = make(*opts)
    out.start_loggers()
    if out.logger_pids():
        out.child_exited(out.logger_pids()[0])
    out.reopen()


def test_reopen_moves_a_file_stream_to_the_new_file(make, tmp_path):
    log = tmp_path / "log"
    out, _, _ = make("--stdout", str(log))
    s = out.streams[0]
    os.write(s.w, b"one\n")
    out.pump(s.r)
    os.rename(log, tmp_path / "log.1")
    out.reopen()
    os.write(s.w, b"two\n")
    out.pump(s.r)
    assert (tmp_path / "log.1").read_text() == "one\n" and log.read_text() == "two\n"


def test_reexec_adopts_a_down_logger_and_restarts_it(make):
    out, clock, spawned = make("--stdout-logger", "cat")
    out.start_loggers()
    s = out.streams[0]
    out.child_exited(s.logger_pid)
    text = out.export()
    again, _, _ = make("--stdout-logger", "cat")
    again.now = clock
    again.adopt(text)
    assert again.deadline() == clock.t


def test_modes_are_plain_strings():
    assert (logpipes.FILE, logpipes.LOGGER, logpipes.DISCARD) == ("file", "logger", "discard")
