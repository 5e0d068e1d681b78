"""openrc-sv setup, the fork server's part: /etc/init.d/openrc-sv-forkserver
in the boot runlevel (see forkserver.py for what the server does).

`setup --supervise-daemon` writes the init script from the packaged one
(init.d-helpers/openrc-sv-forkserver) with its command set to this
installation's interpreter and code, started without `site` as the
supervise-daemon launcher is (data/openrc-sv-forkserver), marks it as ours
on its second line (the first is openrc-run's), adds it to the boot
runlevel and, on a running OpenRC, starts it.  A script already at that
path that is not ours (a package's, such as Alpine's openrc-sv-openrc) is
used as it is and never replaced.

What setup changes it records, so that --undo takes away exactly that:
in our script, the directories it created (a --root world may lack them);
for a script not ours, in a record beside it (RECORD), that setup added
it to the boot runlevel.  A service already in the runlevel before setup
stays there after --undo, unless the script goes (ours): a runlevel link to
a missing script would be an error at every boot.

Starting is best effort: a fork server that does not start is one warning
line, never a failed setup; `supervise-daemon --start` finds no socket and
forks its own supervisor, as it does for every service started before the
server at boot.
"""

import os
import re
import shutil
import subprocess
import sys

from .. import rcstate
from ..errors import UserError
from . import output

NAME = "openrc-sv-forkserver"
INITD = "/etc/init.d"
RUNLEVEL = "boot"
SCRIPT = INITD + "/" + NAME
BOOT_DIR = "/etc/runlevels/" + RUNLEVEL
LINK = BOOT_DIR + "/" + NAME
# Beside the script, a dot file: OpenRC reads no dot file in /etc/init.d.
RECORD = INITD + "/.openrc-sv-setup-forkserver"

MARKER = "# openrc-sv setup: the fork server of this installation"
RECORD_MARKER = "# openrc-sv setup added %s (not openrc-sv's) to the %s runlevel" % (NAME, RUNLEVEL)
CREATED_DIR = "# openrc-sv setup created the directory "

_DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data")
TEMPLATE = os.path.join(_DATA, NAME + ".initd")
LAUNCHER = os.path.join(_DATA, NAME)

# The packaged script's lines that setup rewrites.
COMMAND_LINE = re.compile(r'^command="\$\{forkserver_bin:-.*\}"$')
ARGS_LINE = re.compile(r'^command_args="(--socket [^"]*)"$')
# A path written into the script unquoted: openrc-run's supervise-daemon.sh
# expands $command unquoted and evals $command_args.
_PLAIN_PATH = re.compile(r"^/[A-Za-z0-9_./+@:,=-]*$")


def _under(root, path):
    return os.path.join(root, path.lstrip("/")) if root and root != "/" else path


def paths(root):
    """(the files setup may write or remove, the directories it may create),
    as they are under root: what the caller snapshots to put back."""
    files = [_under(root, p) for p in (SCRIPT, LINK, RECORD)]
    dirs = [_under(root, d) for d in ("/etc", INITD, "/etc/runlevels", BOOT_DIR)]
    return files, dirs


# -- the script ------------------------------------------------------------------------

def command(python=None, launcher=None):
    """(command, the arguments before --socket): our fork server, run by
    this interpreter without `site`."""
    python = python or sys.executable
    launcher = launcher or LAUNCHER
    for what, path in (("the interpreter", python), ("the fork server's launcher", launcher)):
        if not _PLAIN_PATH.match(path):
            raise UserError("cannot write %s for %s %r: its path has characters an init "
                            "script's command cannot hold (install openrc-sv elsewhere, or "
                            "--no-forkserver)" % (SCRIPT, what, path))
    return python, "-I -S " + launcher


def script_text(created_dirs=(), python=None, launcher=None):
    """The init script as setup installs it: the packaged one, marked as
    ours, running this installation's fork server."""
    try:
        with open(TEMPLATE) as f:
            lines = f.read().splitlines(keepends=True)
    except OSError as e:
        raise UserError("cannot read the packaged fork server script %s: %s"
                        % (TEMPLATE, e.strerror))
    cmd, args = command(python, launcher)
    found = set()
    for i, ln in enumerate(lines):
        if COMMAND_LINE.match(ln.rstrip("\n")):
            lines[i] = "command=%s\n" % cmd
            found.add("command")
        else:
            m = ARGS_LINE.match(ln.rstrip("\n"))
            if m:
                lines[i] = 'command_args="%s %s"\n' % (args, m.group(1))
                found.add("command_args")
    for name in ("command", "command_args"):
        if name not in found:
            raise UserError("the packaged fork server script %s lacks its %s= line"
                            % (TEMPLATE, name))
    if not lines or not lines[0].startswith("#!"):
        raise UserError("the packaged fork server script %s does not start with #!" % TEMPLATE)
    head = [MARKER + " (`openrc-sv setup --undo` removes it)\n"]
    head += ["%s%s\n" % (CREATED_DIR, d) for d in created_dirs]
    return "".join(lines[:1] + head + lines[1:])


def is_ours(path):
    """Our script: a file (not a link) whose second line is our marker."""
    if os.path.islink(path):
        return False
    try:
        with open(path, errors="replace") as f:
            f.readline()
            return f.readline().startswith(MARKER)
    except OSError:
        return False


def starts_with_marker(path, marker):
    """Is path a file (not a link) whose first line starts with marker: one
    that setup wrote?  (Also setup.py's test for its own files.)"""
    if os.path.islink(path):
        return False
    try:
        with open(path, errors="replace") as f:
            return f.readline().startswith(marker)
    except OSError:
        return False


def _record_is_ours(path):
    return starts_with_marker(path, RECORD_MARKER)


def _created_dirs(path):
    dirs = []
    try:
        with open(path, errors="replace") as f:
            for line in f:
                if line.startswith(CREATED_DIR):
                    dirs.append(line[len(CREATED_DIR):].strip())
    except OSError:
        pass
    return dirs


def _missing_dirs(root, dirs):
    """Of dirs (absolute, top-down), those not there yet under root."""
    return [d for d in dirs if not os.path.isdir(_under(root, d))]


# -- OpenRC's tools, on the running system only --------------------------------------

def _run(argv):
    """(exit status, the last line it printed); a missing program is 127."""
    try:
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=120)
    except OSError as e:
        return 127, e.strerror or str(e)
    except subprocess.TimeoutExpired:
        return 124, "no answer within 120 seconds"
    return r.returncode, last_line(r.stdout)


# What openrc-run says around every start and stop, whatever went wrong.
_FRAME = re.compile(r"^(Starting |Stopping |Caching service dependencies|\[ |failed to (start|stop) "
                    r"|ERROR: \S+ failed to (start|stop)$)")


def last_line(text):
    """Why an OpenRC tool failed, in one line without its ` * ` bullet: the
    first thing it said besides openrc-run's own frame (ebegin, eend,
    "ERROR: SVC failed to start"), else the last line."""
    # ebegin ends no line: " * Starting SVC ... * why" is two messages.
    said = [ln.strip().lstrip("* ").strip() for ln in re.split(r"\n| \* ", text)]
    said = [ln for ln in said if ln]
    reasons = [ln for ln in said if not _FRAME.match(ln)]
    return (reasons[:1] or said[-1:] or [""])[0]


def _tools(root):
    """rc-update is used on the running system (root /), where it exists."""
    return (not root or root == "/") and shutil.which("rc-update") is not None


def _live(root):
    """Is OpenRC running here (so that rc-service may start the server)?"""
    if root and root != "/":
        return False
    try:
        return os.path.exists(os.path.join(rcstate.svcdir({}), "softlevel")) \
            and shutil.which("rc-service") is not None
    except UserError:
        return False


def _started():
    return _run(["rc-service", NAME, "status"])[0] == 0


# -- install ------------------------------------------------------------------------------

def install(root="/"):
    """Write the script (unless one not ours is there) and add it to the
    boot runlevel.  Starting it is start(), once every step of setup has
    succeeded.  True if an older script of ours was replaced."""
    script = _under(root, SCRIPT)
    link = _under(root, LINK)
    foreign = os.path.lexists(script) and not is_ours(script)
    in_boot = os.path.lexists(link)
    # The runlevel's directory: made by us only in a --root world; on the
    # running system a missing boot runlevel is rc-update's error to say.
    made = _missing_dirs(root, ["/etc", INITD]) if not foreign else []
    if not in_boot and not _tools(root):
        made += [d for d in _missing_dirs(root, ["/etc/runlevels", BOOT_DIR]) if d not in made]
    replaced = False
    if foreign:
        output.info("using %s, which is not openrc-sv's: left as it is" % script)
    else:
        keep = _created_dirs(script) if os.path.lexists(script) else []
        text = script_text(keep + made)
        for d in made:
            os.makedirs(_under(root, d), 0o755, exist_ok=True)
        if os.path.lexists(script) and _same(script, text):
            output.info("%s is already installed" % script)
        else:
            replaced = os.path.lexists(script)
            rcstate.write_atomic(script, text, 0o755)
            output.info("installed the fork server's init script %s" % script)
    if in_boot:
        output.info("%s is already in the %s runlevel" % (NAME, RUNLEVEL))
        return replaced
    _add_to_boot(root, link, made)
    if foreign:
        # made: only the runlevel's directories (/etc/init.d holds the script).
        rcstate.write_atomic(_under(root, RECORD),
                             RECORD_MARKER + " (`openrc-sv setup --undo` takes it out)\n"
                             + "".join("%s%s\n" % (CREATED_DIR, d) for d in made), 0o644)
    output.info("added %s to the %s runlevel" % (NAME, RUNLEVEL))
    return replaced


def _same(path, text):
    try:
        with open(path) as f:
            return f.read() == text
    except OSError:
        return False


def _add_to_boot(root, link, made):
    if _tools(root):
        code, said = _run(["rc-update", "add", NAME, RUNLEVEL])
        if code != 0 or not os.path.lexists(link):
            raise UserError("rc-update add %s %s failed%s (nothing was changed; "
                            "--no-forkserver installs without the fork server)"
                            % (NAME, RUNLEVEL, ": " + said if said else ""))
        return
    for d in made:
        os.makedirs(_under(root, d), 0o755, exist_ok=True)
    if not os.path.isdir(os.path.dirname(link)):
        raise UserError("%s is not a directory: is OpenRC installed? (--no-forkserver "
                        "installs without the fork server)" % os.path.dirname(link))
    # What rc-update makes: an absolute link to the script in /etc/init.d.
    os.symlink(SCRIPT, link)


def start(root="/", replaced=False):
    """Start the server on a running OpenRC; a failure is a warning.
    replaced: the script was rewritten, and a running server is still the
    old one."""
    if not _live(root):
        return
    if _started():
        if replaced:
            output.info("%s is running from the script it replaced: rc-service %s restart "
                        "runs the new one (services keep their supervisors)" % (NAME, NAME))
        else:
            output.info("%s is already running" % NAME)
        return
    code, said = _run(["rc-service", NAME, "start"])
    if code == 0:
        output.info("started %s" % NAME)
    else:
        output.warn("%s did not start%s; until it runs, each service's supervise-daemon "
                    "forks its own supervisor (rc-service %s start to try again)"
                    % (NAME, " (" + said + ")" if said else "", NAME))


# -- undo --------------------------------------------------------------------------------

def stop(root="/"):
    """Stop our server if it runs (before its script goes); True if it was
    stopped, so that a failed undo can start it again."""
    script = _under(root, SCRIPT)
    if not (is_ours(script) and _live(root) and _started()):
        return False
    code, said = _run(["rc-service", NAME, "stop"])
    if code != 0:
        raise UserError("rc-service %s stop failed%s (nothing was changed)"
                        % (NAME, ": " + said if said else ""))
    output.info("stopped %s" % NAME)
    return True


def remove(root="/"):
    script = _under(root, SCRIPT)
    link = _under(root, LINK)
    record = _under(root, RECORD)
    ours = is_ours(script)
    if ours:
        created = _created_dirs(script)
        _take_out_of_boot(root, link)
        os.unlink(script)
        output.info("removed %s" % script)
    elif _record_is_ours(record):
        # A script not ours, that setup added to the boot runlevel.
        created = _created_dirs(record)
        _take_out_of_boot(root, link)
        os.unlink(record)
    else:
        created = []
    if os.path.lexists(script) and not ours:
        output.warn("left %s alone: it was not installed by openrc-sv" % script)
    for d in reversed(created):
        try:
            os.rmdir(_under(root, d))
            output.info("removed %s" % _under(root, d))
        except OSError:
            pass    # something else lives there now


def _take_out_of_boot(root, link):
    if not os.path.islink(link):
        if os.path.lexists(link):
            output.warn("left %s alone: it is not a runlevel link" % link)
        return
    if _tools(root):
        code, said = _run(["rc-update", "del", NAME, RUNLEVEL])
        if code != 0 and os.path.lexists(link):
            raise UserError("rc-update del %s %s failed%s" % (NAME, RUNLEVEL,
                                                                ": " + said if said else ""))
    if os.path.lexists(link):
        os.unlink(link)
    output.info("took %s out of the %s runlevel" % (NAME, RUNLEVEL))
