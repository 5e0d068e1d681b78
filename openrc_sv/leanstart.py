"""The start of a supervisor forked by the fork server, kept out of its pages.

A supervisor forked by the server shares the server's pages until it writes
to them, and what it writes once stays its own for the life of the service.
Measured on 3.11 in a fork of a warmed-up server, two steps of the start
wrote about 1 MB: taking on the request's environment (os.environ.clear()
and update(): some 600 kB, the C environment's strings and the encoded
copies) and parsing the command line (sd_args: some 450 kB).  Here they
write about 450 kB, and a supervisor (the rest of its start writes many of
the same pages) owns about 200 kB less.  So:

  * the command line is parsed in a short-lived worker (worker.run), which
    sends back the parsed options (marshal, a builtin, in one hex line),
    the service dir and the pidfile; only the rule set goes by name;

  * the supervisor does not make the request's environment its own.
    os.environ becomes a view of it (RequestEnviron): every Python
    read (RC_SERVICE for the health check, RC_USER_SERVICES, HOME ...)
    sees what it saw before.  The process's own C environment, which is
    what exec passes on, stays the server's until something needs it:

      - every fork takes it first (os.register_at_fork): a worker, a
        forked respawn (its Setup is made there), a health check, which
        execs with the environment it inherits;
      - a write takes it (the re-exec on SIGHUP sets its hand-off
        variable, then execs: the new supervisor sees the request's
        environment, as before);
      - a TZ other than the server's takes it at once: C's localtime, for
        the start_time of a respawn, reads TZ from there.

What the daemon gets is unchanged: its environment is built from the
request's (in a worker, or in the forked child), and posix_spawn passes it
explicitly.
"""

import marshal
import os
import sys
from collections.abc import MutableMapping

_real = None            # os.environ as the interpreter made it (os._Environ)


class RequestEnviron(MutableMapping):
    """os.environ in a lean supervisor: the request's environment, for
    Python code to read (a view, not a copy: copying writes pages too).
    Any change makes it the process's own first (take()), then goes to the
    real os.environ."""

    def __init__(self, env):
        self.env = env

    def __getitem__(self, key):
        return self.env[key]

    def __iter__(self):
        return iter(self.env)

    def __len__(self):
        return len(self.env)

    def __setitem__(self, key, value):
        take()[key] = value

    def __delitem__(self, key):
        del take()[key]

    def copy(self):
        return dict(self.env)


def take():
    """Make the request's environment this process's own (the C environment
    too) and os.environ the interpreter's again; returns os.environ."""
    global _real
    env = os.environ
    if _real is None or not isinstance(env, RequestEnviron):
        return env
    real, _real = _real, None
    real.clear()
    real.update(env.env)
    os.environ = real
    return real


def use(env):
    """Read os.environ as env from now on; the C environment follows only
    when needed (see above)."""
    global _real
    if _real is None:
        _real = os.environ
        os.register_at_fork(after_in_child=take)
    os.environ = RequestEnviron(env)
    if env.get("TZ") != _real.get("TZ"):
        take()


def parse(report, argv, env):
    """The worker's job: parse the command line (as a start in the
    supervisor did) and report what the supervisor needs, in one line."""
    from . import sd_args
    from .rcstate import ServiceState, svcdir
    opts = sd_args.parse(argv[1:], env)
    st = ServiceState(opts.svcname, svcdir(env))
    pidfile = opts.pidfile or st.get("pidfile")
    fields = dict(opts.__dict__)
    rules = fields.pop("rules", None)
    rules = (rules.name, rules.why) if rules is not None else None
    report(marshal.dumps((fields, rules, st.root, pidfile)).hex())


def unpack(line):
    """The supervisor's side: (options, service state, pidfile)."""
    from . import sd_args
    from .rcstate import ServiceState
    fields, rules, root, pidfile = marshal.loads(bytes.fromhex(line))
    opts = sd_args.Options.__new__(sd_args.Options)
    opts.__dict__.update(fields)
    if rules is not None:
        from .rcversion import rules as make_rules
        opts.rules = make_rules(*rules)
    return opts, ServiceState(opts.svcname, root), pidfile


def run(argv, env, report_fd, keys, written, name=None):
    """Turn this process (forked by the server, the requester's context
    taken on) into the service's supervisor.  Never returns.  name(svc)
    names the process."""
    from . import daemonize, worker
    use(env)
    sys.argv = argv
    try:
        lines = worker.run(lambda report: parse(report, argv, env))
        opts, st, pidfile = unpack(lines[0])
    except worker.WorkerError as e:
        _fail(report_fd, e.args[0])
    except BaseException as e:
        _fail(report_fd, worker.message(e))
    if name:
        name(opts.svcname)
    daemonize.run_supervisor(opts, st, pidfile, report_fd, keys, written)


def _fail(report_fd, msg):
    try:
        os.write(report_fd, ("fork server: %s" % msg).encode(errors="replace"))
    finally:
        os._exit(1)
