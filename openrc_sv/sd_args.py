"""The supervise-daemon command line, parsed the way OpenRC's C binary does.

    supervise-daemon SVCNAME --start|--stop|--signal SIG [options] [--] CMD [ARGS...]

GNU getopt rules (options may follow the command; `--` ends them; long
options may be abbreviated), because /lib/rc/sh/supervise-daemon.sh passes
`... $command -- $command_args`.  The parser is our own few lines rather
than argparse or getopt (which pulls in gettext): this runs in the
supervisor process, which must stay small.

Every value is converted here, once, with openrc_sv.convert; a bad one is
a UserError naming the option and the value.
"""

import os

from . import sigs as signal
from . import convert
from .errors import UsageError, UserError

SHORT = "a:A:D:d:e:Gg:I:Kk:m:N:p:P:R:r:s:Su:0:1:2:3vqChVU"
LONG = [
    "healthcheck-timer=", "healthcheck-delay=", "healthcheck-timeout=",
    "capabilities=", "secbits=", "no-new-privs", "no_new_privs",
    "respawn-delay=", "respawn-delay-step=", "respawn-delay-cap=",
    "respawn-max=", "respawn-period=", "retry=", "chdir=", "chroot=", "env=",
    "user=", "group=", "umask=", "nicelevel=", "ionice=", "oom-score-adj=",
    "stdin=", "stdout=", "stderr=", "stdout-logger=", "stderr-logger=",
    "pidfile=", "notify=", "notify-timeout=", "stop-group", "reexec",
    "start", "stop", "signal=", "verbose", "quiet", "nocolor", "help", "version",
    "user-mode", "compat=", "ready=",
    "respawn-on=", "respawn-stop-status=", "respawn-delay-factor=", "respawn-reset-after=",
    "watchdog-timer=",
]
# 0.45's supervise-daemon.sh passes --no_new_privs (sic); C getopt rejects it,
# we accept it.  -U is OpenRC's user mode (0.60+, its common options spell
# it --user); here --user keeps the argument the man page gives it, and the
# long form of -U is --user-mode.  0.60-0.61's passes --ready, which 0.62
# renamed --notify.  --compat is ours only (see rcversion.choose): the
# plugin passes it when the script pins supervise_daemon_compat.  So are
# the restart policy's --respawn-on, --respawn-stop-status,
# --respawn-delay-factor and --respawn-reset-after (see respawnpolicy):
# the plugin passes them from conf.d, supervise-daemon.sh users through
# supervise_daemon_args; OpenRC's binary refuses them.  So is
# --watchdog-timer (see watchdog.py), which needs --notify socket:ready.


def gnu_getopt(args, short, longs):
    """GNU getopt_long: returns ([(flag, value)], [non-option words])."""
    takes = {}
    for i, c in enumerate(short):
        if c != ":":
            takes["-" + c] = short[i + 1:i + 2] == ":"
    longmap = {("--" + l.rstrip("=")): l.endswith("=") for l in longs}
    pairs, rest = [], []
    i = 0
    while i < len(args):
        a = args[i]
        i += 1
        if a == "--":
            rest.extend(args[i:])
            break
        if a.startswith("--"):
            name, eq, val = a.partition("=")
            if name not in longmap:
                matches = [l for l in longmap if l.startswith(name)]
                if len(matches) != 1:
                    raise UsageError("option %s %s (see man supervise-daemon)" % (
                        name, "is ambiguous" if matches else "not recognized"))
                name = matches[0]
            if longmap[name]:
                if not eq:
                    if i >= len(args):
                        raise UsageError("option %s requires an argument" % name)
                    val = args[i]
                    i += 1
            elif eq:
                raise UsageError("option %s takes no argument" % name)
            pairs.append((name, val))
        elif a.startswith("-") and len(a) > 1:
            j = 1
            while j < len(a):
                flag = "-" + a[j]
                if flag not in takes:
                    raise UsageError("option %s not recognized (see man supervise-daemon)" % flag)
                if takes[flag]:
                    val = a[j + 1:]
                    if not val:
                        if i >= len(args):
                            raise UsageError("option %s requires an argument" % flag)
                        val = args[i]
                        i += 1
                    pairs.append((flag, val))
                    break
                pairs.append((flag, ""))
                j += 1
        else:
            rest.append(a)
    return pairs, rest


class Options:
    """Everything the command line said, converted.  Plain attributes."""

    def __init__(self):
        self.svcname = None
        self.mode = None                  # start | stop | signal | reexec
        self.signal = int(signal.SIGTERM)
        self.exec = None
        self.args = []
        self.healthcheck_timer_ms = 0
        self.healthcheck_delay_ms = 0
        self.healthcheck_timeout_ms = 0
        self.respawn_delay_ms = 0
        self.respawn_delay_step_ms = 0
        self.respawn_delay_cap_ms = 0
        self.respawn_max = 10
        self.respawn_period_ms = 0        # 0: the whole lifetime
        # The restart policy (ours; respawnpolicy.Settings.of reads these).
        self.respawn_on = "always"
        self.respawn_stop_exits = frozenset()
        self.respawn_stop_signals = frozenset()
        self.respawn_delay_factor = 0     # thousandths; 0: the linear step
        self.respawn_reset_after_ms = 0   # 0: the window's count is the level
        # As given (None: not given), for options/SVC under 0.62's rules;
        # the _ms values are resolved with the rule set once all is read.
        self.respawn_delay_text = None
        self.respawn_period_text = None
        self.rules = None                 # rcversion.Rules (start and reexec)
        self.retry = None                 # list of steps, None: default
        self.retry_text = None
        self.chdir = None
        self.chroot = None
        self.env = []
        self.user = None                  # (uid, gid, name, home)
        self.group = None                 # gid from --group
        self.umask = None
        self.nicelevel = None
        self.ionice = None
        self.oom_score_adj = None
        self.capabilities = None
        self.secbits = None
        self.no_new_privs = False
        self.stdin = None
        self.stdout = None
        self.stderr = None
        self.stdout_logger = None
        self.stderr_logger = None
        self.pidfile = None
        self.notify = None
        self.notify_timeout_ms = 60000
        self.watchdog_timer_ms = 0        # --watchdog-timer; 0: no watchdog
        self.stop_group = False
        self.verbose = False
        self.quiet = False
        self.user_mode = False            # -U/--user-mode or RC_USER_SERVICES=yes

    @property
    def argv(self):
        return [self.exec] + self.args

    def stop_schedule(self):
        if self.retry is not None:
            return self.retry
        return convert.retry_schedule("--retry", "5")


def _mode(opts, mode, flag):
    # A re-executed supervisor gets its original command line (with --start)
    # plus --reexec: reexec wins.
    if {opts.mode, mode} == {"start", "reexec"}:
        opts.mode = "reexec"
        return
    if opts.mode and opts.mode != mode:
        raise UsageError("%s cannot be combined with --%s" % (flag, opts.mode))
    opts.mode = mode


def parse(argv, environ=None, rules=None):
    """argv without the program name; returns Options or raises UserError.

    rules: the rcversion.Rules to apply; None chooses them as
    rcversion.choose() does (the pin, the calling OpenRC's version).
    Only a start (or re-exec) needs them: stop and signal never look."""
    env = os.environ if environ is None else environ
    opts = Options()
    svc = env.get("RC_SVCNAME")
    if not svc:
        raise UserError("RC_SVCNAME is not set: supervise-daemon is run by openrc-run "
                        "(or set RC_SVCNAME=SVCNAME and pass SVCNAME first)")
    if not argv or argv[0] != svc:
        raise UserError("the first argument must be the service name '%s' (RC_SVCNAME), not '%s'"
                        % (svc, argv[0] if argv else ""))
    opts.svcname = svc
    opts.raw_argv = list(argv)
    from .rcstate import user_mode
    opts.user_mode = user_mode(env)
    # Variables first, so that the command line takes precedence.
    if env.get("SSD_NICELEVEL"):
        opts.nicelevel = convert.integer("SSD_NICELEVEL", env["SSD_NICELEVEL"], -20, 19)
    if env.get("SSD_IONICELEVEL"):
        opts.ionice = convert.ionice("SSD_IONICELEVEL", env["SSD_IONICELEVEL"])
    if env.get("SSD_OOM_SCORE_ADJ"):
        opts.oom_score_adj = convert.integer("SSD_OOM_SCORE_ADJ", env["SSD_OOM_SCORE_ADJ"], -1000, 1000)
    pairs, rest = gnu_getopt(argv[1:], SHORT, LONG)
    user_text = compat = None
    given = {}
    for flag, val in pairs:
        _apply(opts, flag, val)
        if flag in ("-u", "--user"):
            user_text = val
        elif flag == "--compat":
            compat = val
        given[_CANON.get(flag, flag)] = (flag, val)
    if opts.mode is None:
        raise UsageError("one of --start, --stop or --signal is required")
    if opts.mode in ("start", "reexec"):
        if not rest:
            raise UserError("nothing to start: no command given")
        opts.exec, opts.args = rest[0], rest[1:]
        if opts.exec.startswith("~"):
            opts.exec = os.path.expanduser(opts.exec)
    if not opts.chroot:
        # The supervisor may chdir to the daemon's directory (see
        # child.prepare_supervisor): paths it opens later must not move.
        for attr in ("pidfile", "stdin", "stdout", "stderr"):
            if getattr(opts, attr):
                setattr(opts, attr, os.path.abspath(getattr(opts, attr)))
    if user_text is not None:
        opts.user = convert.user_group("--user", user_text)
    if opts.group is not None and opts.user is not None:
        opts.user = (opts.user[0], opts.group) + opts.user[2:]
    if opts.mode in ("start", "reexec"):
        if rules is None:
            from . import rcversion
            rules = rcversion.choose(svc, env, pin=compat, argv=argv)
        _respawn(opts, rules, given)
    if not opts.healthcheck_timeout_ms:
        opts.healthcheck_timeout_ms = opts.healthcheck_timer_ms or opts.healthcheck_delay_ms
    if opts.watchdog_timer_ms and opts.mode in ("start", "reexec"):
        from .watchdog import check
        check("--watchdog-timer", given["--watchdog-timer"][1], opts.notify,
              "--notify socket:ready")
    return opts


# Short flags as their long names, to know what was given.
_CANON = {"-D": "--respawn-delay", "-P": "--respawn-period"}


def _respawn(o, rules, given):
    """The respawn values, with the rule set's defaults for what was not
    given.  Before 0.62 C reads --respawn-delay/-period with sscanf("%d"),
    so there ours takes whatever C takes (convert.duration_ms)."""
    o.rules = rules
    lenient = rules.sscanf_respawn
    o.respawn_delay_ms, o.respawn_period_ms = 0, rules.respawn_period_ms
    if "--respawn-delay" in given:
        flag, o.respawn_delay_text = given["--respawn-delay"]
        o.respawn_delay_ms = convert.duration_ms(flag, o.respawn_delay_text,
                                                 c_leading_number=lenient)
    if "--respawn-period" in given:
        flag, o.respawn_period_text = given["--respawn-period"]
        # 0: the whole lifetime (C before 0.62 refuses 0; 0.62 takes it so)
        o.respawn_period_ms = convert.duration_ms(flag, o.respawn_period_text,
                                                  c_leading_number=lenient)
    if "--respawn-delay-step" not in given:
        o.respawn_delay_step_ms = rules.respawn_delay_step_ms
    if "--respawn-delay-cap" not in given:
        o.respawn_delay_cap_ms = rules.respawn_delay_cap_ms
    from . import respawnpolicy
    respawnpolicy.check(respawnpolicy.Settings.of(o), respawnpolicy.OPTION_NAMES,
                        "--respawn-delay-step" in given)


def _apply(o, flag, val):
    f = flag
    # C reads both timers with sscanf("%d"): see convert.duration_ms.
    if f in ("-a", "--healthcheck-timer"):
        o.healthcheck_timer_ms = convert.duration_ms(f, val, minimum=1, c_leading_number=True)
    elif f in ("-A", "--healthcheck-delay"):
        o.healthcheck_delay_ms = convert.duration_ms(f, val, minimum=1, c_leading_number=True)
    elif f == "--healthcheck-timeout":
        o.healthcheck_timeout_ms = convert.duration_ms(f, val, minimum=1)
    elif f in ("-D", "--respawn-delay", "-P", "--respawn-period", "--compat"):
        pass  # resolved after the loop, once the rule set is known (_respawn)
    elif f == "--respawn-delay-step":
        o.respawn_delay_step_ms = convert.duration_ms(f, val)
    elif f == "--respawn-delay-cap":
        o.respawn_delay_cap_ms = convert.duration_ms(f, val)
    elif f == "--respawn-on":
        from .respawnpolicy import RESPAWN_ON
        o.respawn_on = convert.choice(f, val, RESPAWN_ON)
    elif f == "--respawn-stop-status":
        o.respawn_stop_exits, o.respawn_stop_signals = convert.exit_statuses(f, val)
    elif f == "--respawn-delay-factor":
        o.respawn_delay_factor = convert.factor(f, val)
    elif f == "--respawn-reset-after":
        o.respawn_reset_after_ms = convert.duration_ms(f, val)
    elif f in ("-m", "--respawn-max"):
        o.respawn_max = convert.count(f, val)
    elif f in ("-R", "--retry"):
        o.retry_text = val
        o.retry = convert.retry_schedule(f, val)
    elif f in ("-d", "--chdir"):
        o.chdir = os.path.expanduser(val) if val.startswith("~") else val
    elif f in ("-r", "--chroot"):
        o.chroot = val
    elif f in ("-e", "--env"):
        o.env.append(convert.env_assignment(f, val))
    elif f in ("-u", "--user"):
        pass  # resolved after the loop, once --group is known
    elif f in ("-g", "--group"):
        o.group = convert.group_id(f, val)
    elif f in ("-k", "--umask"):
        o.umask = convert.umask(f, val)
    elif f in ("-N", "--nicelevel"):
        o.nicelevel = convert.integer(f, val, -20, 19)
    elif f in ("-I", "--ionice"):
        o.ionice = convert.ionice(f, val)
    elif f == "--oom-score-adj":
        o.oom_score_adj = convert.integer(f, val, -1000, 1000)
    elif f == "--capabilities":
        if val.strip():
            from . import privs
            o.capabilities = privs.parse_iab(f, val)
    elif f == "--secbits":
        if val.strip():
            try:
                # strtoul(3) base 0, as OpenRC: 0x.. hex, 0.. octal, else decimal
                v = val.strip()
                o.secbits = int(v, 8) if len(v) > 1 and v[0] == "0" and v.isdigit() else int(v, 0)
            except ValueError:
                raise UserError("%s: invalid value '%s' (expected a number, e.g. 0x2f)" % (f, val))
    elif f in ("--no-new-privs", "--no_new_privs"):
        o.no_new_privs = True
    elif f in ("-0", "--stdin"):
        o.stdin = val
    elif f in ("-1", "--stdout"):
        o.stdout = val or None
    elif f in ("-2", "--stderr"):
        o.stderr = val or None
    elif f == "--stdout-logger":
        o.stdout_logger = val or None
    elif f == "--stderr-logger":
        o.stderr_logger = val or None
    elif f in ("-p", "--pidfile"):
        o.pidfile = val
    elif f in ("--notify", "--ready"):
        o.notify = convert.notify(f, val)
    elif f == "--watchdog-timer":
        o.watchdog_timer_ms = convert.duration_ms(f, val, minimum=1)
    elif f == "--notify-timeout":
        o.notify_timeout_ms = convert.duration_ms(f, val, minimum=1)
    elif f in ("-G", "--stop-group"):
        o.stop_group = True
    elif f in ("-S", "--start"):
        _mode(o, "start", f)
    elif f in ("-K", "--stop"):
        _mode(o, "stop", f)
    elif f in ("-s", "--signal"):
        _mode(o, "signal", f)
        o.signal = convert.signal_number(f, val)
    elif f in ("-3", "--reexec"):
        _mode(o, "reexec", f)
    elif f in ("-U", "--user-mode"):
        o.user_mode = True
    elif f in ("-v", "--verbose"):
        o.verbose = True
    elif f in ("-q", "--quiet"):
        o.quiet = True
    elif f in ("-h", "--help"):
        raise UserError("usage: supervise-daemon SVCNAME --start [options] COMMAND [-- ARGS] | "
                        "--stop | --signal SIG (see man supervise-daemon)", exit_code=0)
    elif f in ("-V", "--version"):
        from . import __version__
        raise UserError("supervise-daemon (openrc-sv) %s" % __version__, exit_code=0)
    # -C/--nocolor: accepted for compatibility, nothing to do.
