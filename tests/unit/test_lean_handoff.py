"""The pieces of a lean supervisor's hand-off (leanstart, handoff): what the
worker sends must come back as the same state, every fd in its place, and
the supervisor's own steps must do what they say."""

import os
import tempfile

from openrc_sv import child, forkserver_context, handoff, leanstart, proctitle, sigs
from openrc_sv.rcstate import RetryingWriter


def test_streams_are_renumbered_by_place_and_back():
    place = {7: 2, 8: 3}
    sent = handoff._renumber("7,8,123;,,", place.get)
    assert sent == "2,3,123;,,"
    fds = [40, 41, 50, 51]
    assert handoff._renumber(sent, lambda i: fds[i]) == "50,51,123;,,"
    assert handoff._renumber("", place.get) == ""


def test_the_writer_carries_what_it_knows(tmp_path):
    class State:
        def options_dir(self):
            return str(tmp_path)

        def set_many(self, values):
            pass

    a = RetryingWriter(State(), lambda: 5.0, lambda *_: None)
    a.set_many({"child_pid": 42, "restarts": 0})
    b = RetryingWriter(State(), lambda: 6.0, lambda *_: None)
    b.carry_on(a.carried())
    assert b.written == {"child_pid": "42", "restarts": "0"} and b.last_write == 5.0
    # What it knows is on disk is not written again.
    writes = []
    b.write = writes.append
    b.set_many({"child_pid": 42})
    assert writes == []


class Opts:
    chroot = user = group = nicelevel = ionice = oom_score_adj = capabilities = None
    secbits = None
    no_new_privs = False
    umask = None
    chdir = None


def test_what_the_supervisor_takes_from_its_daemon():
    o = Opts()
    assert child.supervisor_takes(o) == (0o022, None)
    o.umask, o.chdir = 0o077, "/srv"
    assert child.supervisor_takes(o) == (0o077, "/srv")
    o.user = (65534, 65534)
    assert child.supervisor_takes(o) is None           # forked: its child takes them


def test_the_title_is_the_first_choice_that_fits():
    found = proctitle.prepared([(["x" * 100000], 1), (["supervise-daemon", "svc", "--start"], 2)])
    assert found is not None
    start, data = found
    assert data.startswith(b"supervise-daemon\0svc\0") and start > 0
    assert proctitle.prepared([(["x" * 100000], 1)]) is None


def _in_child(fn):
    """fn() in a fork; its exit status (0: it returned True)."""
    pid = os.fork()
    if pid == 0:
        try:
            os._exit(0 if fn() else 1)
        except BaseException:
            os._exit(2)
    return os.waitpid(pid, 0)[1]


def test_take_own_sets_umask_and_directory_and_closes_the_fd():
    d = tempfile.mkdtemp()
    fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)

    def check():
        forkserver_context.take_own((None, None, None, [], 0o027), fd)
        mask = os.umask(0)
        try:
            os.fstat(fd)
            closed = False
        except OSError:
            closed = True
        return mask == 0o027 and os.getcwd() == os.path.realpath(d) and closed
    assert _in_child(check) == 0
    os.close(fd)
    os.rmdir(d)


def test_the_workers_exit_is_no_event_but_any_other_signal_is_put_back():
    def check():
        hold_r, hold_w = os.pipe()
        if os.fork() == 0:              # a child that lives on: the daemon
            os.read(hold_r, 1)
            os._exit(0)
        r, w = os.pipe2(os.O_NONBLOCK)
        os.write(w, bytes([sigs.SIGCHLD, sigs.SIGCHLD]))
        quiet = leanstart._quiet((r, w))
        os.write(w, bytes([sigs.SIGCHLD, sigs.SIGTERM]))
        busy = not leanstart._quiet((r, w))
        back = os.read(r, 10)
        os.write(hold_w, b"x")
        return quiet and busy and back == bytes([sigs.SIGTERM])
    assert _in_child(check) == 0


def test_no_child_left_is_an_event():
    def check():
        r, w = os.pipe2(os.O_NONBLOCK)
        return not leanstart._quiet((r, w))
    assert _in_child(check) == 0


def test_a_child_waiting_to_be_reaped_is_an_event():
    def check():
        r, w = os.pipe2(os.O_NONBLOCK)
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)     # a zombie now
        return not leanstart._quiet((r, w))
    assert _in_child(check) == 0
