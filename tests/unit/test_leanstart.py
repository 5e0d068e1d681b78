"""leanstart: a served supervisor reads the request's environment without
making it its own, and gets its options parsed by a worker.

Each test runs in a forked child: what it does to os.environ and the C
environment must not reach the test process."""

import marshal
import os

from openrc_sv import leanstart, rcversion, sd_args

REQUEST = {"RC_SVCNAME": "svc", "RC_SVCDIR": "/run/lean-test", "LANG": "C.UTF-8",
           "ONLY_IN_REQUEST": "yes", "PATH": "/usr/bin:/bin"}


def in_child(fn):
    """fn() in a fork; its return value (marshal-able) or its exception's text."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            try:
                out = ("ok", fn())
            except BaseException as e:          # noqa: B902 - reported to the parent
                out = ("error", "%s: %s" % (type(e).__name__, e))
            os.write(w, marshal.dumps(out))
        finally:
            os._exit(0)
    os.close(w)
    data = b""
    while True:
        chunk = os.read(r, 65536)
        if not chunk:
            break
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    kind, value = marshal.loads(data)
    assert kind == "ok", value
    return value


def exec_env():
    """The C environment, as a program exec'd from here would get it."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.dup2(w, 1)
        os.execv("/usr/bin/env", ["env"])
    os.close(w)
    data = b""
    while True:
        chunk = os.read(r, 65536)
        if not chunk:
            break
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    return sorted(data.decode().splitlines())


def test_python_reads_the_request_and_the_c_environment_stays_until_a_fork():
    def run():
        os.environ["ONLY_IN_SERVER"] = "server"
        leanstart.use(REQUEST)
        reads = (os.environ.get("ONLY_IN_REQUEST"), os.environ.get("ONLY_IN_SERVER"),
                 os.getenv("RC_SVCNAME"), "LANG" in os.environ, sorted(os.environ) == sorted(REQUEST))
        # Not yet the process's own: the real os.environ is the server's.
        own = leanstart._real.get("ONLY_IN_SERVER")
        forked = exec_env()                     # a fork takes it first
        return reads, own, forked, type(os.environ).__name__
    reads, own, forked, kind = in_child(run)
    assert reads == ("yes", None, "svc", True, True)
    assert own == "server"
    # (Under pytest the C environment may hold what os.environ never knew,
    # as COLUMNS: clear() cannot see those, as it never could.)
    assert set("%s=%s" % kv for kv in REQUEST.items()) <= set(forked)
    assert not [v for v in forked if v.startswith("ONLY_IN_SERVER=")]
    assert kind == "RequestEnviron"             # the fork's taking stays in the fork


def test_a_write_makes_the_request_the_processs_own_before_it_is_made():
    def run():
        os.environ["ONLY_IN_SERVER"] = "server"
        leanstart.use(REQUEST)
        os.environ["OPENRC_SV_REEXEC"] = "handoff"      # what the re-exec does, then execv
        return type(os.environ).__name__, os.getenv("OPENRC_SV_REEXEC"), \
            os.environ.get("ONLY_IN_SERVER"), os.environ.get("ONLY_IN_REQUEST")
    assert in_child(run) == ("_Environ", "handoff", None, "yes")


def test_a_tz_other_than_the_servers_is_taken_at_once():
    # C's localtime reads TZ from the C environment (a respawn's start_time).
    def run():
        os.environ["TZ"] = "UTC0"
        leanstart.use(dict(REQUEST, TZ="EST5"))
        return type(os.environ).__name__, os.environ["TZ"]
    assert in_child(run) == ("_Environ", "EST5")

    def same():
        os.environ.pop("TZ", None)
        leanstart.use(REQUEST)
        return type(os.environ).__name__
    assert in_child(same) == "RequestEnviron"


def test_the_workers_options_are_the_parsed_ones():
    argv = ["supervise-daemon", "svc", "--start", "--compat", "0.62", "--respawn-delay", "2",
            "--retry", "TERM/3/KILL/2", "--env", "A=b c", "--nicelevel", "3",
            "--healthcheck-timer", "5", "--respawn-stop-status", "3,SIGTERM",
            "--capabilities", "^cap_net_bind_service", "--notify", "fd:4",
            "--pidfile", "/run/svc.pid", "/bin/sleep", "--", "1000"]

    def run():
        lines = []
        leanstart.parse(lines.append, argv, REQUEST)
        assert len(lines) == 1 and "\n" not in lines[0]
        opts, st, pidfile = leanstart.unpack(lines[0])
        want = sd_args.parse(argv[1:], REQUEST)
        rules = (opts.rules.name, opts.rules.why, opts.rules.respawn_period_ms,
                 opts.rules.raw_strings) == (want.rules.name, want.rules.why,
                                             want.rules.respawn_period_ms, want.rules.raw_strings)
        fields = {k: v for k, v in opts.__dict__.items() if k != "rules"}
        same = fields == {k: v for k, v in want.__dict__.items() if k != "rules"}
        return (same, rules, type(opts) is sd_args.Options, opts.argv, opts.stop_schedule(),
                st.name, st.root, pidfile)
    same, rules, kind, argv_, schedule, name, root, pidfile = in_child(run)
    assert same and rules and kind
    assert argv_ == ["/bin/sleep", "1000"]
    assert schedule == [("signal", 15), ("timeout", 3000), ("signal", 9), ("timeout", 2000)]
    assert (name, root, pidfile) == ("svc", "/run/lean-test", "/run/svc.pid")
    assert rcversion.CURRENT == "0.62"


def test_a_bad_command_line_is_one_line_from_the_worker():
    def run():
        try:
            leanstart.parse(lambda line: None, ["supervise-daemon", "svc", "--start",
                                                "--nicelevel", "99", "/bin/true"], REQUEST)
        except Exception as e:
            from openrc_sv import worker
            return worker.message(e)
    msg = in_child(run)
    assert "--nicelevel" in msg and "99" in msg and "\n" not in msg


def test_the_servers_warm_up_leaves_it_as_it_was():
    """leanstart.warm_up runs a lean supervisor's path in the fork server:
    afterwards the server's signal handlers, wakeup fd, umask, directory
    and open fds are what they were, and it is no subreaper."""
    def probe():
        from openrc_sv import sigs
        from openrc_sv.supervisor import HANDLED
        here = os.getcwd()
        os.umask(0o027)
        term = lambda *_: None      # noqa: E731  (the server's own SIGTERM handler)
        sigs.signal(sigs.SIGTERM, term)

        def state():
            return ([sigs.getsignal(s) for s in HANDLED + (sigs.SIGPIPE,)], os.umask(0o027),
                    os.getcwd(), sorted(os.listdir("/proc/self/fd")))
        before = state()
        leanstart.warm_up(rounds=5)
        after = state()
        fd_after = sigs.set_wakeup_fd(-1)
        return before == after, sigs.getsignal(sigs.SIGTERM) is term, fd_after, here == after[2]
    assert in_child(probe) == (True, True, -1, True)
