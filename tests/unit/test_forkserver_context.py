"""The fork server's faithfulness rules (forkserver_context): when a forked
supervisor can be made the requester's twin, how it becomes one, and that
both ends refuse otherwise.  No root needed."""

import os
import socket
import subprocess
import sys
import time

import pytest

from openrc_sv import forkserver, forkserver_client, forkserver_context as ctx, forkserver_wire as wire

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# A process that sets up a context of its own, says "ready" and waits.
REQUESTER = r'''
import ctypes, os, resource, signal, sys, time
nnp = sys.argv[1] == "nnp"
if nnp:
    ctypes.CDLL(None, use_errno=True).prctl(38, 1, 0, 0, 0)        # PR_SET_NO_NEW_PRIVS
os.nice(5)
os.umask(0o027)
os.chdir(sys.argv[2])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, 321), hard))
os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
signal.signal(signal.SIGUSR2, signal.SIG_IGN)
print("ready", flush=True)
time.sleep(60)
'''


@pytest.fixture
def requester(tmp_path):
    procs = []

    def start(kind="plain"):
        p = subprocess.Popen([sys.executable, "-c", REQUESTER, kind, str(tmp_path)],
                             stdout=subprocess.PIPE, text=True)
        assert p.stdout.readline().strip() == "ready"
        procs.append(p)
        return p.pid
    yield start
    for p in procs:
        p.kill()
        p.wait()
        p.stdout.close()


def test_a_process_is_its_own_twin():
    assert ctx.why_not(os.getpid(), os.getpid()) is None


def test_no_new_privs_is_refused(requester):
    assert ctx.why_not(requester("nnp"), os.getpid()) == "no_new_privs is set"


def fake(monkeypatch, req_status=None, srv_status=None, req_ns=None, srv_ns=None):
    base = {"Uid": "0\t0\t0\t0", "CapBnd": "000001ffffffffff", "NoNewPrivs": "0", "Seccomp": "0"}
    st = {1: dict(base, **(req_status or {})), 2: dict(base, **(srv_status or {}))}
    ns = {1: dict({"uts": "uts:[1]", "mnt": "mnt:[2]"}, **(req_ns or {})),
          2: dict({"uts": "uts:[1]", "mnt": "mnt:[2]"}, **(srv_ns or {}))}
    monkeypatch.setattr(ctx, "status", lambda pid: st[pid])
    monkeypatch.setattr(ctx, "_namespaces", lambda pid: ns[pid])
    monkeypatch.setattr(ctx, "_read", lambda path, binary=False: None)    # no LSM


@pytest.mark.parametrize("kw, reason", [
    ({}, None),
    ({"req_status": {"Seccomp": "2"}}, "a seccomp filter (Seccomp 2)"),
    ({"req_status": {"NoNewPrivs": "1"}}, "no_new_privs is set"),
    ({"srv_status": {"NoNewPrivs": "1"}}, "NoNewPrivs differs (0, server 1)"),
    ({"req_status": {"CapBnd": "0000000000000000"}}, "CapBnd differs (0000000000000000, server 000001ffffffffff)"),
    ({"req_status": {"Uid": "0\t1000\t0\t0"}}, "Uid differs (0\t1000\t0\t0, server 0\t0\t0\t0)"),
    ({"req_ns": {"uts": "uts:[9]"}}, "another uts namespace"),
    ({"srv_ns": {"net": "net:[4]"}}, "another net namespace"),
])
def test_what_a_fork_cannot_carry_over(monkeypatch, kw, reason):
    fake(monkeypatch, **kw)
    assert ctx.why_not(1, 2) == reason


def test_an_lsm_label_that_differs_is_refused(monkeypatch):
    fake(monkeypatch)
    monkeypatch.setattr(ctx, "_read", lambda path, binary=False:
                        b"unconfined" if path.startswith("/proc/1/") else b"forkserver (enforce)")
    assert ctx.why_not(1, 2) == "the LSM label differs"


def test_a_requester_outside_our_pid_namespace_is_refused():
    assert ctx.why_not(0, os.getpid()) == "the other process is not in our pid namespace"


MOUNTS = [("cgroup2", {"rw", "nsdelegate"}, "/", "/sys/fs/cgroup/unified"),
          ("cgroup", {"rw", "cpu", "cpuacct"}, "/", "/sys/fs/cgroup/cpu,cpuacct"),
          ("cgroup", {"rw", "none", "name=openrc"}, "/", "/sys/fs/cgroup/openrc"),
          ("cgroup", {"rw", "memory"}, "/jail", "/mnt/mem")]


@pytest.mark.parametrize("hier, path, where", [
    ("0:", "/svc", "/sys/fs/cgroup/unified/svc"),
    ("0:", "/", "/sys/fs/cgroup/unified"),
    ("3:cpu,cpuacct", "/svc", "/sys/fs/cgroup/cpu,cpuacct/svc"),
    ("7:name=openrc", "/svc", "/sys/fs/cgroup/openrc/svc"),
    ("4:memory", "/jail/svc", "/mnt/mem/svc"),
    ("4:memory", "/elsewhere", None),               # not below the mount's root
    ("5:pids", "/svc", None),                       # not mounted here
])
def test_a_cgroup_is_found_through_the_mount_that_shows_it(hier, path, where):
    assert ctx._cgroup_dir(MOUNTS, hier, path) == where


def test_the_forked_process_takes_on_the_requesters_context(requester, tmp_path):
    pid = requester()
    c = ctx.Context(pid, 0)
    r, w = os.pipe()
    child = os.fork()
    if child == 0:
        try:
            import resource
            import signal
            os.close(r)
            c.apply()
            mask = os.umask(0)
            seen = [os.getpriority(os.PRIO_PROCESS, 0), mask, os.getcwd(),
                    resource.getrlimit(resource.RLIMIT_NOFILE),
                    sorted(os.sched_getaffinity(0)),
                    signal.getsignal(signal.SIGUSR2) == signal.SIG_IGN]
            os.write(w, repr(seen).encode())
        finally:
            os._exit(0)
    os.close(w)
    c.close()
    with os.fdopen(r) as f:
        seen = f.read()
    os.waitpid(child, 0)
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    expect = [os.getpriority(os.PRIO_PROCESS, 0) + 5, 0o027, str(tmp_path),
              (min(soft, 321), hard), [min(os.sched_getaffinity(0))], True]
    assert seen == repr(expect)


def test_a_recycled_pid_lends_no_context(requester, monkeypatch):
    pid = requester()
    idents = iter(["%d:1" % pid, "%d:2" % pid])             # another process by the second look
    monkeypatch.setattr("openrc_sv.procinfo.identity", lambda p: next(idents))
    with pytest.raises(OSError, match="the requester is gone"):
        ctx.Context(pid, 0)


# -- both ends, over a real socket ----------------------------------------------

@pytest.fixture
def server(tmp_path):
    path = str(tmp_path / "fs.sock")
    env = dict(os.environ, PYTHONPATH=REPO)
    p = subprocess.Popen([sys.executable, "-c", "import sys; from openrc_sv import forkserver; "
                          "sys.exit(forkserver.main(sys.argv[1:]))", "--socket", path], env=env)
    deadline = time.monotonic() + 30
    while not os.path.exists(path):
        assert p.poll() is None and time.monotonic() < deadline, "no fork server"
        time.sleep(0.02)
    yield path
    p.kill()
    p.wait()


RAW_CLIENT = r'''
import ctypes, os, socket, sys
from openrc_sv import forkserver_wire as wire
ctypes.CDLL(None, use_errno=True).prctl(38, 1, 0, 0, 0)            # PR_SET_NO_NEW_PRIVS
r, w = os.pipe()
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
payload = wire.encode(["supervise-daemon", "svc", "--start", "/bin/true"], {}, "/", 0o22, [], [])
socket.send_fds(s, [payload[:1]], [w])
s.sendall(payload[1:])
s.shutdown(socket.SHUT_WR)
os.close(w)
answer = b""
while True:
    d = s.recv(4096)
    if not d:
        break
    answer += d
print(answer.decode(), "| report:", os.read(r, 100).decode())
'''


def test_the_server_refuses_what_it_cannot_match(server):
    """A client that asks anyway (here: under no_new_privs) gets a reason,
    and no supervisor writes to its report pipe."""
    r = subprocess.run([sys.executable, "-c", RAW_CLIENT, server], capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=REPO), timeout=60)
    assert r.stdout.strip() == "NO no_new_privs is set | report:", r.stderr


CLIENT = r'''
import ctypes, os, sys
from openrc_sv import forkserver_client
if sys.argv[1] == "nnp":
    ctypes.CDLL(None, use_errno=True).prctl(38, 1, 0, 0, 0)
r, w = os.pipe()
print(forkserver_client.request(["supervise-daemon", "svc", "--start", "/bin/true"], w, [], []))
'''


def test_the_client_does_not_ask_a_server_that_cannot_match(server):
    # The server answers every request; a client under no_new_privs never
    # sends one, it returns False so that --start forks its own supervisor.
    env = dict(os.environ, PYTHONPATH=REPO, OPENRC_SV_FORKSERVER=server)
    r = subprocess.run([sys.executable, "-c", CLIENT, "nnp"], capture_output=True, text=True,
                       env=env, timeout=60)
    assert (r.stdout, r.stderr) == ("False\n", "")


def test_a_cut_short_request_is_refused_with_the_reason(server):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(server)
    rp, wp = os.pipe()
    socket.send_fds(s, [b"3"], [wp])
    s.shutdown(socket.SHUT_WR)
    answer = s.recv(4096)
    s.close()
    os.close(rp)
    os.close(wp)
    assert answer.startswith(wire.NO + b" ") and b"truncated" in answer


@pytest.mark.parametrize("argv, message", [
    (["--bogus"], "unknown option '--bogus'"),
    (["--socket"], "--socket needs a PATH"),
])
def test_bad_options_are_one_line(capsys, argv, message):
    assert forkserver.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err


def test_the_client_waits_longer_than_the_server():
    assert wire.CLIENT_TIMEOUT > wire.READY_TIMEOUT
    assert forkserver_client.wire is wire
