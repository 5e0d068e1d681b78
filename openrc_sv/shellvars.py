"""An init script's variables, as the shell itself evaluates them.

openrc-run does not parse init scripts: /lib/rc/sh/openrc-run.sh *sources*
/etc/rc.conf, /etc/rc.conf.d/*.conf, conf.d/SVC and the script, and
supervise_start then evals ``$command_args``.  So do we: a small harness
run by /bin/sh loads the same files in the same order, with the same
helpers defined, and reports what the shell ended up with.  There is no
hand-written shell parser anywhere in openrc-sv.

The report is the runscript plugin's own ``_openrc_sv_dump`` (see
init.d-helpers/openrc-sv.sh): inside openrc-run the plugin runs it in the
live shell, here the harness sources the plugin and runs it after loading
everything.  Both paths therefore produce byte-for-byte the same format,
parsed by ``parse()``:

    openrc-sv-model 1 | V NAME VALUE | W | A WORD | S WORD | E VAR MESSAGE | F NAME | END

all fields NUL-terminated, which no shell value can contain.
"""

import os

from . import rcstate
from .errors import UserError

PLUGIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "openrc-sv.sh")

FORMAT = ("openrc-sv-model", "1")


class BrokenReport(UserError):
    """The shell's report is cut short or malformed (as opposed to a bad value)."""


class Evaluation:
    """What the shell made of a service: unpacks as (variables, args, functions).

    variables: {name: value}; args: the words of command_args
    command_args_foreground; functions: a frozenset of the names of
    healthcheck/unhealthy the script defines; sd_args: the words of
    supervise_daemon_args (or start_stop_daemon_args) as supervise_start's
    eval makes them, None when the shell was not asked for them (only a
    start evaluates them, as only supervise_start does).

    A plain class, not a typing.NamedTuple: typing costs the runscript
    plugin's every command a few milliseconds (issue 10)."""
    __slots__ = ("variables", "args", "functions", "sd_args")

    def __init__(self, variables, args, functions, sd_args=None):
        self.variables = variables
        self.args = args
        self.functions = functions
        self.sd_args = sd_args

    def __iter__(self):
        return iter((self.variables, self.args, self.functions))

    def __eq__(self, other):
        if not isinstance(other, Evaluation):
            return NotImplemented
        return (self.variables, self.args, self.functions, self.sd_args) == \
            (other.variables, other.args, other.functions, other.sd_args)

    __hash__ = None

    def __repr__(self):
        return "Evaluation(variables=%r, args=%r, functions=%r, sd_args=%r)" % (
            self.variables, self.args, self.functions, self.sd_args)


# The harness.  Positional parameters: LIBEXECDIR SYSCONFDIR PLUGIN [--start].
# It mirrors openrc-run.sh (0.45) step by step; comments name the step.
# Everything the sourced files print goes to stderr; the records go to fd 8.
HARNESS = r'''
exec 8>&1 1>&2
_osv_libexec=$1 _osv_etc=$2 _osv_plugin=$3 _osv_start=$4
set --

# sourcex -e: a missing file is skipped; a file that fails to load stops
# everything, as it stops openrc-run ("error loading").
_osv_source()
{
	[ -e "$1" ] || return 1
	if ! . "$1"; then
		echo "error loading $1" >&2
		exit 1
	fi
}

# The einfo family, yesno, service_* ...: OpenRC's own definitions.
if [ -r "$_osv_libexec/sh/functions.sh" ]; then
	. "$_osv_libexec/sh/functions.sh"
	_osv_source "$_osv_libexec/sh/rc-functions.sh"
else
	# No OpenRC here (a build host): quiet stand-ins, so that a script
	# calling them at load time still loads.
	for _osv_f in ebegin eend einfo einfon ewarn ewarnn eerror eerrorn ewend \
		veinfo vewarn vebegin veend vewend eindent eoutdent veindent veoutdent \
		esyslog service_set_value service_get_value checkpath; do
		eval "$_osv_f() { return 0; }"
	done
	for _osv_f in service_started service_starting service_stopping \
		service_inactive service_crashed service_wasinactive; do
		eval "$_osv_f() { return 1; }"
	done
	yesno()
	{
		case "$1" in
			[Yy][Ee][Ss]|[Tt][Rr][Uu][Ee]|[Oo][Nn]|1) return 0 ;;
		esac
		return 1
	}
fi

# The dependency functions only matter inside depend(), which we never run.
for _osv_f in config need use want before after provide keyword; do
	eval "$_osv_f() { return 0; }"
done

# Global configuration, then the service's (the net.eth0 -> net rule).
_osv_source "$_osv_etc/rc.conf"
if [ -d "$_osv_etc/rc.conf.d" ]; then
	for _osv_f in "$_osv_etc"/rc.conf.d/*.conf; do
		_osv_source "$_osv_f"
	done
fi
_osv_conf_d=${RC_SERVICE%/*}/../conf.d
_osv_c=${RC_SVCNAME%%.*}
if [ -n "$_osv_c" ] && [ "$_osv_c" != "$RC_SVCNAME" ]; then
	_osv_source "$_osv_conf_d/$_osv_c.$RC_RUNLEVEL" || _osv_source "$_osv_conf_d/$_osv_c"
fi
_osv_source "$_osv_conf_d/$RC_SVCNAME.$RC_RUNLEVEL" || _osv_source "$_osv_conf_d/$RC_SVCNAME"

# The supervisor modules (they add healthcheck/unhealthy to extra_commands).
for _osv_f in runit s6 start-stop-daemon supervise-daemon; do
	_osv_source "$_osv_libexec/sh/$_osv_f.sh"
done

# The script itself.  openrc-run.sh uses plain sourcex here: it must load.
# Which of healthcheck/unhealthy it defines is noted as the plugin's
# sourcex notes it, so that _openrc_sv_dump need not load it again.
unset -f healthcheck unhealthy
_osv_source "$RC_SERVICE" || { echo "cannot read $RC_SERVICE" >&2; exit 1; }
_openrc_sv_functions=
for _osv_f in healthcheck unhealthy; do
	if [ "$(command -v "$_osv_f")" = "$_osv_f" ]; then
		_openrc_sv_functions="$_openrc_sv_functions $_osv_f"
	else
		eval "$_osv_f() { return 0; }"
	fi
done

_osv_plugin_file=$_osv_plugin
unset _osv_libexec _osv_etc _osv_plugin _osv_f _osv_c _osv_conf_d
. "$_osv_plugin_file"
unset _osv_plugin_file
_openrc_sv_dump $_osv_start >&8
'''


def parse(data):
    """Parse _openrc_sv_dump's output (bytes) into an Evaluation.

    Raises BrokenReport when the report is cut short or malformed, and
    UserError naming the variable when the shell could not evaluate one.
    """
    fields = data.split(b"\0")
    if fields and fields[-1] == b"":
        fields.pop()
    words = [f.decode("utf-8", "surrogateescape") for f in fields]
    if not words:
        raise BrokenReport("the shell reported nothing (did the init script call exit "
                           "while it was being loaded?)")
    if tuple(words[:2]) != FORMAT:
        raise BrokenReport("the shell's report does not start with %r (format %s expected)"
                        % (words[:2], " ".join(FORMAT)))
    variables, args, functions, sd_args = {}, [], set(), None
    i, n = 2, len(words)

    def take(count):
        nonlocal i
        if i + count > n:
            raise BrokenReport("the shell's report was cut short")
        got = words[i:i + count]
        i += count
        return got

    while i < n:
        tag, = take(1)
        if tag == "V":
            name, value = take(2)
            variables[name] = value
        elif tag == "A":
            args.extend(take(1))
        elif tag == "W":
            sd_args = sd_args or []
        elif tag == "S":
            sd_args = (sd_args or []) + take(1)
        elif tag == "F":
            functions.update(take(1))
        elif tag == "E":
            var, message = take(2)
            value = variables.get(var, "")
            if var == "command_args":
                value = " ".join(x for x in (variables.get("command_args"),
                                             variables.get("command_args_foreground")) if x)
            raise UserError("%s: invalid value '%s' (%s)" % (var, value, message))
        elif tag == "END":
            if i != n:
                raise BrokenReport("the shell's report has data after its end")
            return Evaluation(variables, args, frozenset(functions), sd_args)
        else:
            raise BrokenReport("the shell's report has an unknown record %r" % tag)
    raise BrokenReport("the shell's report was cut short (the init script may have "
                    "called exit while it was being loaded)")


def _runlevel(env):
    level = env.get("RC_RUNLEVEL")
    if level:
        return level
    try:
        with open(os.path.join(rcstate.svcdir(), "softlevel")) as f:
            return f.read().strip() or "default"
    except OSError:
        return "default"


def _environment(service, script, libexec, extra):
    """openrc-run's filtered environment: the caller's own (a user's
    exported command=..., say) must not leak into the model."""
    env = {
        "PATH": "/sbin:/bin:/usr/sbin:/usr/bin",
        "RC_SVCNAME": service,
        "SVCNAME": service,
        "RC_SERVICE": script,
        "RC_LIBEXECDIR": libexec,
        "RC_SVCDIR": rcstate.svcdir(),
        "EINFO_COLOR": "NO",
    }
    for key in ("LANG", "LC_ALL", "LC_MESSAGES", "TERM", "RC_SYS", "RC_UNAME",
                "RC_VERSION", "RC_DEFAULTLEVEL", "RC_BOOTLEVEL"):
        if key in os.environ:
            env[key] = os.environ[key]
    env.update(extra or {})
    env["RC_RUNLEVEL"] = _runlevel(env)
    return env


def script_path(service, sysconfdir="/etc"):
    return os.path.join(sysconfdir, "init.d", service)


def read(service, script=None, *, libexec=None, sysconfdir="/etc", env=None,
         shell="/bin/sh", timeout=30.0, words=True):
    """Evaluate SERVICE's init script and configuration the way openrc-run does.

    Returns Evaluation(variables, args, functions): every variable the shell
    has set, the daemon's argument words, and which of healthcheck/unhealthy
    the script defines itself.  Raises UserError with one line on any failure.
    words=False leaves command_args and supervise_daemon_args unevaluated
    (args empty, sd_args None), as openrc-run does for anything but start.
    """
    if not service or "/" in service:
        raise UserError("invalid service name '%s'" % service)
    script = script or script_path(service, sysconfdir)
    try:
        with open(script, "rb") as f:
            first = f.readline(256)
    except OSError as e:
        raise UserError("cannot read init script %s: %s" % (script, e.strerror))
    # openrc-run hands LSB and plain sysv scripts to other code paths;
    # sourcing one would run its case "$1" logic.
    if not first.startswith(b"#!") or not (b"openrc-run" in first or b"runscript" in first):
        raise UserError("%s is not an openrc-run script (its first line must be "
                        "#!/sbin/openrc-run)" % script)
    libexec = libexec or rcstate.libexecdir()
    # Only here: the runscript plugin's commands get their report on
    # stdin (parse()) and never pay for importing subprocess.
    import subprocess
    try:
        proc = subprocess.run(
            [shell, "-c", HARNESS, "openrc-sv", libexec, sysconfdir, PLUGIN,
             "--start" if words else ""],
            env=_environment(service, script, libexec, env), cwd="/",
            stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise UserError("loading %s took longer than %g seconds" % (script, timeout))
    except OSError as e:
        raise UserError("cannot run %s: %s" % (shell, e.strerror))
    try:
        return parse(proc.stdout)
    except BrokenReport as e:
        complaint = _last_line(proc.stderr)
        if complaint and proc.returncode != 0:
            raise UserError("cannot load %s: %s" % (script, complaint))
        raise UserError("loading %s: %s" % (script, e))


def _last_line(data):
    lines = [ln.strip() for ln in data.decode("utf-8", "replace").splitlines() if ln.strip()]
    return lines[-1] if lines else ""
