"""openrc-sv-exec: become the daemon, the way supervise-daemon's child does.

A tool that starts the daemon itself (runit's runsv runs ./run, monit runs
its start program) execs this in place of chpst, setpriv and shell
redirections:

    python -I -S .../openrc_sv/data/openrc-sv-exec [--report FILE] [--child-pid FILE] \\
        SVCNAME \\
        [supervise-daemon process options] -- COMMAND ARGS...

The options are supervise-daemon's own (--user, --group, --umask,
--chdir, --chroot, --nicelevel, --ionice, --oom-score-adj,
--capabilities, --secbits, --no-new-privs, --env, --stdin, --stdout,
--stderr, --stdout-logger, --stderr-logger), parsed by the same parser and
applied by the same code (openrc_sv.child) as under the drop-in, so one
init script gets one process state whichever backend runs it.  Options
only a supervisor acts on (respawn, health checks, retry) are refused.

The standard streams are opened after the process has become the daemon's
user, inside its chroot and directory, as OpenRC's C supervisor does:
nothing the user planted in its log directory can make root open a file.
Where they go:
  --stdout FILE / --stderr FILE   that file (appended, created 0600)
  --stdout-logger / --stderr-logger
                                  the pipe this process was started with
                                  on its stdout (runsv's pipe to the log
                                  service, which runs the logger); a
                                  stderr-only logger gets that pipe on fd 2
  neither                         /dev/null, as under supervise-daemon
--stdin FILE is the daemon's standard input (else /dev/null).

--child-pid FILE gets this process's pid (the daemon's, once it execs),
written as root before anything else.

The daemon gets its stdin, stdout and stderr and no other descriptor, as
from supervise-daemon (OpenRC's C one closes every fd above 2 before its
exec; our native backend's spawn does the same): whatever runsvdir, monit
or a shell left open on the way (a lock, a log file, a directory outside
the chroot) is closed just before the exec.  A caller that hands an fd on
deliberately names it in $OPENRC_SV_EXEC_KEEP_FDS (numbers above 2,
separated by spaces or commas, each open when we start): runit's
./log/run keeps the log pipe on fd 3 that way.  The variable itself never
reaches the daemon.

If any step fails, the reason goes to --report FILE (opened before any
privilege is dropped, close-on-exec, so it stays empty on success) and to
stderr, and the exit status is 111 (runit's "cannot run").
"""

import os
import sys

from . import child, rcversion, sd_args, useropen
from .errors import UserError
from .rcstate import libexecdir, write_atomic

PROG = "openrc-sv-exec"
EXIT_CANNOT_RUN = 111
# What supervise-daemon does with the daemon's process, and nothing more.
PROCESS_OPTIONS = {
    "-u", "--user", "-g", "--group", "-k", "--umask", "-d", "--chdir", "-r", "--chroot",
    "-N", "--nicelevel", "-I", "--ionice", "--oom-score-adj", "--capabilities",
    "--secbits", "--no-new-privs", "--no_new_privs", "-e", "--env",
    "-0", "--stdin", "-1", "--stdout", "-2", "--stderr", "--stdout-logger",
    "--stderr-logger",
}
PREFACE = ("--report", "--child-pid")
# The fds above 2 the caller hands on to the daemon on purpose (see above).
KEEP_FDS = "OPENRC_SV_EXEC_KEEP_FDS"
# child.apply's steps (the first word of its step report) and the option
# each comes from, so that a failure names it (and, through
# backends.options.in_variables, the init script's variable).
STEP_OPTION = {
    "nicelevel": "--nicelevel", "ionice": "--ionice", "oom_score_adj": "--oom-score-adj",
    "getgrouplist": "--user", "chroot": "--chroot", "chdir": "--chdir", "setgid": "--user",
    "setgroups": "--user", "setuid": "--user", "capabilities": "--capabilities",
    "secbits": "--secbits", "no_new_privs": "--no-new-privs",
    # The PAM session --user opens (child._open_pam_session).
    "load": "--user", "open": "--user",
}


def _preface(argv):
    """Our own leading options: ({--report, --child-pid: FILE}, rest)."""
    own = {}
    while argv[:1] and argv[0] in PREFACE and len(argv) > 1:
        own[argv[0]] = argv[1]
        argv = argv[2:]
    return own, argv


def parse(argv):
    """[--report FILE] [--child-pid FILE] SVCNAME OPTIONS -- COMMAND ARGS
    -> ({preface option: FILE}, opts)."""
    own, argv = _preface(argv)
    if not argv or argv[0].startswith("-"):
        raise UserError("usage: %s [--report FILE] [--child-pid FILE] SVCNAME [OPTIONS] "
                        "-- COMMAND [ARGS]" % PROG)
    pairs, _ = sd_args.gnu_getopt(argv[1:], sd_args.SHORT, sd_args.LONG)
    for flag, _ in pairs:
        if flag not in PROCESS_OPTIONS:
            raise UserError("%s is a supervisor's option, not the daemon's" % flag)
    # Process options only: no respawn rule applies here, so none is chosen
    # (choosing would read rc.conf and conf.d as root at every daemon start,
    # and a pin only the shell can evaluate would stop the daemon).
    opts = sd_args.parse([argv[0], "--start"] + argv[1:], {"RC_SVCNAME": argv[0]},
                         rules=rcversion.rules(rcversion.LEGACY, "process options only"))
    return own, opts


def kept_fds(environ):
    """The fds $OPENRC_SV_EXEC_KEEP_FDS names, taken out of environ (the
    daemon's environment is made from it).  A UserError names the variable
    when a word is not an fd above 2, or the fd was not handed to us open
    and inheritable: one opened by us later (close-on-exec, as the report
    is) could have taken its number."""
    text = environ.pop(KEEP_FDS, None) or ""
    words = text.replace(",", " ").split()
    if not all(w.isascii() and w.isdigit() and 3 <= int(w) < 1 << 20 for w in words):
        raise UserError("%s: invalid value '%s' (expected fd numbers above 2, such as 3)"
                        % (KEEP_FDS, text[:60]))
    fds = {int(w) for w in words}
    for fd in sorted(fds):
        try:
            handed = os.get_inheritable(fd)
        except OSError:
            handed = False
        if not handed:
            raise UserError("%s: fd %d was not handed to %s open" % (KEEP_FDS, fd, PROG))
    return fds


def close_other_fds(keep):
    """Close every fd but 0, 1, 2 and keep, the way supervise-daemon's
    child does.  By fd ranges (close_range(2) underneath), because by now
    we may be in a chroot without /proc to list them."""
    # The descriptor table's size, as OpenRC's getdtablesize().
    top = max([os.sysconf("SC_OPEN_MAX"), 1024] + [fd + 1 for fd in keep])
    low = 3
    for fd in sorted(set(keep) | {top}):
        if fd >= low:
            os.closerange(low, fd)
            low = fd + 1


def _stdio(opts, setup):
    """(stdin, stdout, stderr) fds, opened as the daemon (we are it now)."""
    def open_(option, path, flags):
        return useropen.open_named(option, None, path, flags)

    null = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
    stdin = open_("--stdin", opts.stdin, useropen.READ) if opts.stdin else null
    # The inherited pipe to a logger, if a logger was asked for.
    logged = os.dup(1) if (opts.stdout_logger or opts.stderr_logger) else None
    out = open_("--stdout", opts.stdout, useropen.WRITE) if opts.stdout else \
        logged if opts.stdout_logger else null
    err = open_("--stderr", opts.stderr, useropen.WRITE) if opts.stderr else \
        logged if opts.stderr_logger else null
    return stdin, out, err


def become(opts, keep=()):
    """Apply the process state and stdio in place, and close every other fd
    but those in keep; returns the environment."""
    setup = child.Setup(opts, libexecdir())
    step = ["setup"]
    try:
        child.apply(setup, step)
    except OSError as e:
        option = STEP_OPTION.get(step[0].split()[0])
        raise UserError("%sunable to %s: %s" % (option + ": " if option else "", step[0],
                                                e.strerror or e))
    stdio = _stdio(opts, setup)
    for target, fd in enumerate(stdio):
        os.dup2(fd, target)
    close_other_fds(keep)
    return setup.env


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    report_fd = None
    try:
        own, _ = _preface(argv)
        if "--report" in own:
            report_fd = os.open(own["--report"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC
                                | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        keep = kept_fds(os.environ) | ({report_fd} if report_fd is not None else set())
        own, opts = parse(argv)
        if "--child-pid" in own:
            # Our pid is the daemon's once we exec: service_get_value
            # child_pid and rc-status show it, as under supervise-daemon.
            # Written as root, before any privilege is dropped, into the
            # service's (root's) state directory.  Not fatal: after a
            # `rc-service zap` the directory is gone, and a respawn must
            # not fail for want of it.
            try:
                write_atomic(own["--child-pid"], "%d" % os.getpid())
            except OSError as e:
                os.write(2, ("%s: warning: %s: %s\n" % (PROG, own["--child-pid"], e.strerror))
                         .encode(errors="replace"))
        env = become(opts, keep)
        try:
            os.execvpe(opts.exec, opts.argv, env)
        except OSError as e:
            raise UserError("unable to exec '%s': %s" % (opts.exec, e.strerror or e))
    except UserError as e:
        msg = e.message
    except OSError as e:
        msg = "%s%s" % (("%s: " % e.filename) if e.filename else "", e.strerror or e)
    except Exception as e:      # never a traceback on the daemon's stderr
        msg = "%s: %s" % (type(e).__name__, e)
    line = "%s: fatal: %s\n" % (PROG, msg)
    if report_fd is not None:
        try:
            os.write(report_fd, msg.encode(errors="replace") + b"\n")
        except OSError:
            pass
    try:
        os.write(2, line.encode(errors="replace"))
    except OSError:
        pass
    return EXIT_CANNOT_RUN


if __name__ == "__main__":
    sys.exit(main())
