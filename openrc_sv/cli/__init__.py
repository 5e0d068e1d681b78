"""The openrc-sv command (see openrc-sv(8)).

    openrc-sv start|stop|reload SVC [--model -]
    openrc-sv signal SIG SVC [--model -]
    openrc-sv status [SVC...] [--json] [--quiet] [--model -]
    openrc-sv list [--json]
    openrc-sv metrics [SVC...] [--textfile]
    openrc-sv render SVC [--backend NAME]
    openrc-sv setup [--plugin] [--supervise-daemon [--compat-shim] [--no-forkserver]] [--undo] [--libexecdir DIR] [--root DIR]

The runscript plugin runs the first three inside openrc-run, so start-up
time matters: each subcommand's module is imported only when it runs, and
the plugin's own command lines (`VERB --model - SVC`, `status --quiet
--model - SVC`) are read without argparse (_plugin_args), which costs more
to import than they take to parse; anything else goes to argparse.
Every error a user can fix is a UserError, caught here once and printed as
one line (` * ERROR: SVC: ...`) with the exit code errors.py promises.
"""

import os
import sys

from ..errors import EXIT_USAGE, UserError


def _parser_class():
    import argparse

    class _Parser(argparse.ArgumentParser):
        # argparse exits with 2 on its own; keep its message in OpenRC's shape.
        def error(self, message):
            self.print_usage(sys.stderr)
            sys.stderr.write(" * ERROR: openrc-sv: %s\n" % message)
            sys.exit(EXIT_USAGE)
    return _Parser


def _model_option(p):
    p.add_argument("--model", choices=["-"],
                   help="read the service's variables from stdin, as the runscript "
                        "plugin writes them, instead of evaluating its init script")


def parser():
    _Parser = _parser_class()
    p = _Parser(prog="openrc-sv", description="Supervise OpenRC services with native, "
                "runit or monit backends.  See openrc-sv(8).")
    p.add_argument("-U", "--user", action="store_true",
                   help="your own services (OpenRC's user mode, as rc-service --user): "
                        "the service dir $XDG_RUNTIME_DIR/openrc")
    sub = p.add_subparsers(dest="verb", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    for verb, text in (("start", "start SVC's daemon under its backend"),
                       ("stop", "stop SVC's daemon"),
                       ("reload", "send SVC's daemon its reload_signal (default HUP)")):
        s = sub.add_parser(verb, help=text)
        s.add_argument("service", metavar="SVC")
        _model_option(s)

    s = sub.add_parser("signal", help="send a signal to SVC's daemon")
    s.add_argument("signal", metavar="SIG")
    s.add_argument("service", metavar="SVC")
    _model_option(s)

    s = sub.add_parser("status", help="show supervised services (default: all of them)")
    s.add_argument("services", metavar="SVC", nargs="*")
    s.add_argument("--json", action="store_true", help="print JSON")
    s.add_argument("-q", "--quiet", action="store_true",
                   help="print nothing; the exit status says it (OpenRC's codes)")
    _model_option(s)

    s = sub.add_parser("list", help="list supervised services and their backends")
    s.add_argument("--json", action="store_true", help="print JSON")

    s = sub.add_parser("metrics", help="print supervised services' metrics for Prometheus")
    s.add_argument("services", metavar="SVC", nargs="*")
    s.add_argument("--textfile", action="store_true",
                   help="write them to openrc_sv_textfile_dir (node_exporter) instead")

    s = sub.add_parser("render", help="print the files a backend would write for SVC")
    s.add_argument("service", metavar="SVC")
    s.add_argument("--backend", metavar="NAME", help="this backend instead of sv_backend")

    s = sub.add_parser("setup", help="install the runscript plugin and/or our "
                       "supervise-daemon link (default: both)")
    s.add_argument("--plugin", action="store_true",
                   help="install /etc/rc.conf.d/openrc-sv.conf")
    s.add_argument("--supervise-daemon", action="store_true",
                   help="link $RC_LIBEXECDIR/sbin/supervise-daemon to ours")
    s.add_argument("--compat-shim", action="store_true",
                   help="with --supervise-daemon, on OpenRC older than 0.62: install "
                   "/etc/rc.conf.d/openrc-sv-compat.conf so that input_file, "
                   "output_logger and error_logger work")
    s.add_argument("--no-forkserver", action="store_true",
                   help="with --supervise-daemon: leave out (or, with --undo, leave in place) "
                   "the fork server's init script /etc/init.d/openrc-sv-forkserver, which "
                   "setup otherwise adds to the boot runlevel and starts")
    s.add_argument("--undo", action="store_true", help="remove what setup installed")
    s.add_argument("--libexecdir", metavar="DIR",
                   help="OpenRC's RC_LIBEXECDIR (default: found, e.g. /lib/rc)")
    s.add_argument("--root", metavar="DIR", default="/",
                   help="install under DIR instead of / (packaging, tests)")
    return p


class _Args:
    """What argparse would have made of one of the plugin's command lines."""

    def __init__(self, **values):
        self.user = False       # the plugin runs in openrc-run's mode already
        self.__dict__.update(values)


def _plugin_args(argv):
    """The runscript plugin's command lines, exactly as it writes them, or
    None for anything else.  A service name that looks like an option is
    left to argparse, which refuses it as before."""
    n = len(argv)
    if n == 4 and argv[0] in ("start", "stop", "reload") and argv[1:3] == ["--model", "-"]:
        svc = argv[3]
        if svc and not svc.startswith("-"):
            return _Args(verb=argv[0], service=svc, model="-")
    elif n == 5 and argv[:4] == ["status", "--quiet", "--model", "-"]:
        svc = argv[4]
        if svc and not svc.startswith("-"):
            return _Args(verb="status", services=[svc], json=False, quiet=True, model="-")
    return None


def _dispatch(a):
    if a.verb in ("start", "stop", "reload"):
        from . import control
        return getattr(control, a.verb)(a.service, from_stdin=a.model == "-")
    if a.verb == "signal":
        from . import control
        return control.signal(a.signal, a.service, from_stdin=a.model == "-")
    if a.verb == "status":
        from . import report
        if a.model == "-" and len(a.services) != 1:
            raise UserError("status --model - takes exactly one service")
        return report.status(a.services, as_json=a.json, quiet=a.quiet,
                             from_stdin=a.model == "-")
    if a.verb == "list":
        from . import report
        return report.listing(as_json=a.json)
    if a.verb == "metrics":
        from . import metrics
        return metrics.metrics(a.services, textfile=a.textfile)
    if a.verb == "render":
        from . import render
        return render.render(a.service, a.backend)
    if a.verb == "setup":
        from . import setup
        return setup.setup(a.plugin, a.supervise_daemon, a.undo, a.libexecdir, a.root,
                           compat_shim=a.compat_shim, fork_server=not a.no_forkserver)
    raise AssertionError(a.verb)


def _service_of(a):
    service = getattr(a, "service", None)
    if service:
        return service
    services = getattr(a, "services", None)
    return services[0] if services and len(services) == 1 else None


def _exit_now(code):
    """End the process as sys.exit(code) would, without the interpreter's
    teardown (freeing every module and object: a few ms of each plugin
    command, issue 10).  Only for the plugin's own command lines, whose
    code paths leave no file open for writing; what is buffered on
    stdout and stderr is written first."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        code = code or 1
    os._exit(0 if code is None else code if isinstance(code, int) else 1)


def main(argv=None):
    """The command; with argv None (a process's own command line) one of
    the plugin's command lines ends the process (_exit_now) instead of
    returning its exit status."""
    from_process = argv is None
    argv = sys.argv[1:] if argv is None else list(argv)
    plugin = _plugin_args(argv)
    if plugin is not None and from_process:
        _exit_now(_main(plugin))
    return _main(plugin or parser().parse_args(argv))


def _main(a):
    if getattr(a, "user", False):
        # As rc-service --user: librc's user mode for everything below.
        os.environ["RC_USER_SERVICES"] = "yes"
    try:
        return _dispatch(a)
    except UserError as e:
        from .output import error
        error(e.message, _service_of(a))
        return e.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 1
    except OSError as e:
        # A full /run, a state directory that is not one: one line, never
        # a traceback (a backend raises UserError for what it foresees).
        from .output import error
        where = ("%s: " % e.filename) if e.filename else ""
        error("%s%s" % (where, e.strerror or e), _service_of(a))
        return 1
