"""Starting the daemon: the same result by fork+exec and by posix_spawn."""

import os
import signal
import time

import pytest

from openrc_sv import child, sd_args


def setup_for(*options, fast):
    opts = sd_args.parse(["svc", "--start", *options, "/bin/true"],
                         {"RC_SVCNAME": "svc"})
    s = child.Setup(opts)
    s.fast = fast
    return s


def proc_status(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return line.split(":", 1)[1].strip()


def wait_exec(pid, argv0):
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            if f.read().split(b"\0")[0] == argv0.encode():
                return
        time.sleep(0.005)
    raise AssertionError("no exec")


@pytest.fixture
def devnull():
    fd = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
    yield fd
    os.close(fd)


@pytest.mark.parametrize("fast", [False, True])
def test_the_daemon_gets_its_own_session_default_signals_and_a_clean_environment(fast, devnull, monkeypatch):
    monkeypatch.setenv("RC_SVCNAME", "svc")
    monkeypatch.setenv("EINFO_QUIET", "yes")
    s = setup_for("--env", "FOO=bar baz", fast=fast)
    # SIGPIPE as the supervisor ignores it; SIGXFSZ as every Python
    # interpreter does from its start: ignored across exec unless reset.
    old = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGPIPE, signal.SIGXFSZ)}
    try:
        pid = child.spawn(s, ["/bin/sleep", "30"], (devnull, devnull, devnull))
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
    try:
        wait_exec(pid, "/bin/sleep")
        assert os.getsid(pid) == pid
        ignored = int(proc_status(pid, "SigIgn"), 16)
        assert not ignored & (1 << (signal.SIGPIPE - 1))
        assert not ignored & (1 << (signal.SIGXFSZ - 1))
        with open("/proc/%d/environ" % pid, "rb") as f:
            env = dict(e.split(b"=", 1) for e in f.read().split(b"\0") if b"=" in e)
        assert env[b"FOO"] == b"bar baz"
        assert b"RC_SVCNAME" not in env and b"EINFO_QUIET" not in env
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


@pytest.mark.parametrize("fast", [False, True])
def test_an_exec_failure_is_an_error_not_a_process(fast, devnull, tmp_path):
    s = setup_for(fast=fast)
    notexec = tmp_path / "script"
    notexec.write_text("#!/bin/sh\n")
    with pytest.raises(child.SpawnError, match="unable to exec '%s': Permission denied" % notexec):
        child.spawn(s, [str(notexec)], (devnull, devnull, devnull))


def test_the_fast_way_is_only_taken_when_nothing_needs_a_fork():
    assert setup_for("--nicelevel", "5", fast=False).needs_fork()
    assert setup_for("--user", "root", fast=False).needs_fork()
    assert not setup_for("--chdir", "/tmp", fast=False).needs_fork()   # the supervisor chdirs
