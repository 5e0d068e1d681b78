"""The supervisor's short-lived workers (openrc_sv/worker.py): what they
start becomes the supervisor's own child, and every way a worker can end
comes back as the report or one line of error.  Real forks, no root."""

import os
import time

import pytest

from openrc_sv import child, sd_args, subreaper, worker
from openrc_sv.rcstate import ServiceState
from openrc_sv.supervisor import Supervisor, System

pytestmark = pytest.mark.skipif(not subreaper.prepare(), reason="no _ctypes/prctl here")


def _ppid(pid):
    with open("/proc/%d/stat" % pid) as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def _state(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return None


def _wait(cond, timeout=10.0):
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.01)


def _reap(pid):
    return os.waitpid(pid, 0)[1]


def test_what_a_worker_starts_becomes_our_child():
    lines = worker.run(lambda report: report(str(os.posix_spawn("/bin/sleep", ["sleep", "30"],
                                                                 os.environ))))
    pid = int(lines[0])
    try:
        assert _ppid(pid) == os.getpid()
    finally:
        os.kill(pid, 9)
    assert os.WTERMSIG(_reap(pid)) == 9


def test_a_child_that_died_before_the_report_is_reaped_here():
    # The daemon exits while the worker still runs: it is the worker's
    # zombie, and ours once the worker is gone, with its status intact.
    def job(report):
        pid = os.posix_spawn("/bin/sh", ["sh", "-c", "exit 7"], os.environ)
        _wait(lambda: _state(pid) == "Z")
        report(str(pid))
    pid = int(worker.run(job)[0])
    status = _reap(pid)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 7


def test_no_subreaper_once_the_worker_is_reaped():
    # What a daemon leaves behind later goes to init, as before workers.
    worker.run(lambda report: report("x"))
    r, w = os.pipe()
    said_r, said_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        gpid = os.fork()
        if gpid == 0:
            os.read(r, 1)
            os._exit(0)
        os.write(said_w, b"%d\n" % gpid)
        os._exit(0)
    _reap(pid)
    os.close(said_w)
    gpid = int(os.read(said_r, 32))
    os.close(said_r)
    # the grandchild was orphaned: not ours (another test's child may be)
    with pytest.raises(ChildProcessError):
        os.waitpid(gpid, os.WNOHANG)
    os.write(w, b"x")                   # let it go
    os.close(w)
    os.close(r)


def test_a_job_error_is_one_line_with_what_was_reported_before():
    def job(report):
        report("123")
        raise OSError(2, "No such file or directory", "/run/x")
    with pytest.raises(worker.WorkerError) as e:
        worker.run(job)
    assert e.value.args == ("/run/x: No such file or directory", ["123"])


def test_a_worker_killed_without_a_word_is_an_error():
    with pytest.raises(worker.WorkerError) as e:
        worker.run(lambda report: os.kill(os.getpid(), 9))
    assert "died" in e.value.args[0] and e.value.args[1] == []


def test_inline_gives_the_same_answers():
    def job(report):
        report("1")
        raise child.SpawnError("unable to exec 'x': gone")
    assert worker.inline(lambda report: report("a")) == ["a"]
    with pytest.raises(worker.WorkerError) as e:
        worker.inline(job)
    assert e.value.args == ("unable to exec 'x': gone", ["1"])


# -- the supervisor with real workers --------------------------------------------

def _supervisor(tmp_path, *cmd):
    o = sd_args.parse(["svc", "--start", *cmd], {"RC_SVCNAME": "svc"})
    st = ServiceState("svc", root=str(tmp_path))
    made = []

    def setup():
        # Built in the worker, never in the supervisor.
        made.append(os.getpid())
        return child.Setup(o, "/lib/rc")
    sup = Supervisor(o, st, str(tmp_path / "pid"), setup, None, System(workers=True))
    sup.log = lambda prio, msg: None
    return sup, st, made


def test_the_daemon_is_our_child_with_its_identity_in_the_state(tmp_path):
    sup, st, made = _supervisor(tmp_path, "/bin/sleep", "--", "30")
    sup.spawn()
    try:
        assert _ppid(sup.pid) == os.getpid()
        assert st.get("child_pid") == str(sup.pid)
        with open("/proc/%d/stat" % sup.pid) as f:
            ticks = f.read().rsplit(")", 1)[1].split()[19]
        assert st.get("child_ident") == "%d:%s" % (sup.pid, ticks)
        assert made == []       # the Setup was made in the worker's memory only
    finally:
        child.kill_and_reap(sup.pid)


def test_a_command_that_cannot_run_is_the_same_one_line(tmp_path):
    sup, st, _ = _supervisor(tmp_path, "/nonexistent/daemon")
    with pytest.raises(child.SpawnError) as e:
        sup.spawn()
    assert str(e.value) == "unable to exec '/nonexistent/daemon': No such file or directory"
    assert sup.pid is None


def test_before_and_after_run_in_the_worker_and_fail_the_start(tmp_path):
    sup, st, _ = _supervisor(tmp_path, "/bin/sleep", "--", "30")
    seen = []

    def after():
        raise OSError(28, "No space left on device", "/run/openrc/daemons/svc")
    with pytest.raises(child.SpawnError) as e:
        sup.spawn(before=lambda: seen.append(1), after=after)
    # after() failed once the daemon ran: the caller has its pid to stop it
    assert str(e.value) == "/run/openrc/daemons/svc: No space left on device"
    assert sup.pid and _ppid(sup.pid) == os.getpid()
    child.kill_and_reap(sup.pid)
    assert seen == []           # the worker's, not ours


def test_respawns_run_here_with_only_the_environment_the_worker_reported(tmp_path):
    sup, st, made = _supervisor(tmp_path, "/bin/sleep", "--", "30")
    sup.fast = True                     # as child.prepare_supervisor says for this command
    sup.spawn()
    first = sup.pid
    try:
        assert isinstance(sup._setup, child.Prepared) and sup._setup.fast
        assert sup._setup.env == child.Setup(sup.o, "/lib/rc").env
        child.kill_and_reap(first)
        sup.spawn()                     # a respawn: posix_spawn from here, no worker
        assert sup.pid != first and _ppid(sup.pid) == os.getpid()
        assert made == []               # no Setup was ever built in this process
    finally:
        child.kill_and_reap(sup.pid)


def test_a_forked_respawn_builds_the_setup_in_the_child(tmp_path):
    # What posix_spawn cannot do (here: nice) is done by a forked child,
    # which builds the Setup itself.
    o = sd_args.parse(["svc", "--start", "--nicelevel", "3", "/bin/sleep", "--", "30"],
                      {"RC_SVCNAME": "svc"})
    prepared = child.Prepared(lambda: child.Setup(o, "/lib/rc"), None, False)
    null = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
    try:
        pid = child.spawn(prepared, o.argv, (null, null, null))
    finally:
        os.close(null)
    try:
        with open("/proc/%d/stat" % pid) as f:
            nice = int(f.read().rsplit(")", 1)[1].split()[16])
        assert nice == 3
    finally:
        child.kill_and_reap(pid)
