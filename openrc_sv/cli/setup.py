"""openrc-sv setup: wire openrc-sv into OpenRC, or (--undo) unwire it.

Two separate choices of the administrator:

--plugin            install the runscript plugin as /etc/rc.conf.d/openrc-sv.conf,
                    so that supervisor=openrc-sv works in init scripts;
--supervise-daemon  make our supervise-daemon the one openrc-run runs for
                    supervisor=supervise-daemon: a small launcher script
                    $RC_LIBEXECDIR/sbin/supervise-daemon (openrc_sv.launcher).
                    openrc-run puts $RC_LIBEXECDIR/sbin first on PATH, so it
                    wins over OpenRC's /sbin/supervise-daemon, which stays.

                    With it comes the fork server (setup_forkserver): its
                    init script /etc/init.d/openrc-sv-forkserver, in the
                    boot runlevel and started, so that supervisors are
                    forked from one shared interpreter; --no-forkserver
                    leaves it out.

--compat-shim       with --supervise-daemon, on an OpenRC older than 0.62:
                    also install /etc/rc.conf.d/openrc-sv-compat.conf, so
                    that input_file, output_logger and error_logger reach
                    the supervisor as on current OpenRC (see the shim).

Neither flag means both (without the shim).  Nothing that is not ours is
ever replaced or removed: the plugin and the shim are recognised by their
first line, the launcher by its marker line, the fork server's script by
its second.  --undo with --supervise-daemon also removes the shim, which
only works with our supervise-daemon, and the fork server.
"""

import os
import shlex
import shutil
import sys
import sysconfig

from .. import launcher, rcstate, rcversion, shellvars
from ..errors import UserError
from . import output
from . import setup_forkserver as forkserver

MARKER = "# openrc-sv runscript plugin"
CREATED_DIR = "# openrc-sv setup created the directory "
BIN_LINE = "_openrc_sv_bin=openrc-sv"


SHIM_MARKER = "# openrc-sv compat shim"
SHIM_NAME = "openrc-sv-compat.conf"
SHIM_SOURCE = os.path.join(os.path.dirname(shellvars.PLUGIN), "openrc-sv-compat.sh")

# What an OpenRC's sh/supervise-daemon.sh lacks, by the release that added
# it (upstream's history of that file): input_file became --stdin in 0.62,
# output_logger/error_logger --stdout-logger/--stderr-logger in 0.51.  From
# 0.62 on, nothing: the shim is refused there.
SHIM_ADDS = [((0, 62, 0), "stdin"), ((0, 51, 0), "loggers")]
SHIM_BELOW = SHIM_ADDS[0][0]
# Before 0.46, supervise_start took start_stop_daemon_args also when
# supervise_daemon_args was set but empty; since, only when it is unset.
EMPTY_ARGS_FALL_BACK_BELOW = (0, 46, 0)


def _under(root, path):
    return os.path.join(root, path.lstrip("/")) if root and root != "/" else path


def openrc_sv_command():
    """The absolute path of our `openrc-sv` (openrc-run's PATH lacks a venv's bin/)."""
    cand = os.path.join(sysconfig.get_path("scripts"), "openrc-sv")
    if os.access(cand, os.X_OK):
        return cand
    found = shutil.which("openrc-sv")
    if found:
        return os.path.abspath(found)
    raise UserError("cannot find the openrc-sv command: is openrc-sv installed?")


def plugin_text(created_dir=None):
    """The plugin as installed: the packaged file with our command's path."""
    try:
        with open(shellvars.PLUGIN) as f:
            text = f.read()
    except OSError as e:
        raise UserError("cannot read the packaged plugin %s: %s" % (shellvars.PLUGIN, e.strerror))
    lines = text.splitlines(keepends=True)
    try:
        i = [ln.rstrip("\n") for ln in lines].index(BIN_LINE)
    except ValueError:
        raise UserError("the packaged plugin %s lacks the line %r" % (shellvars.PLUGIN, BIN_LINE))
    lines[i] = "_openrc_sv_bin=%s\n" % shlex.quote(openrc_sv_command()) + lean_runner()
    if created_dir:
        lines.insert(1, "%s%s\n" % (CREATED_DIR, created_dir))
    return "".join(lines)


def lean_runner(python=None, code=None):
    """Plugin lines that run the same command as `python -I -S` (see
    launcher.py): the console script pays for the whole `site` (with an
    editable install's import hooks, some 20 ms) on every start, stop and
    status.  The console script stays the fallback, for an interpreter that
    has gone away since setup ran."""
    python = shlex.quote(python or sys.executable)
    code = shlex.quote(code or launcher.cli_code())
    return ("# openrc-sv setup: the command above, started without `site` (openrc_sv/launcher.py)\n"
            "_openrc_sv_lean() { %s -I -S -c %s \"$@\"; }\n"
            "if [ -x %s ]; then _openrc_sv_bin=_openrc_sv_lean; fi\n" % (python, code, python))


def _is_our_plugin(path):
    try:
        with open(path, errors="replace") as f:
            return f.readline().startswith(MARKER)
    except OSError:
        return False


def _created_dir(path):
    try:
        with open(path, errors="replace") as f:
            for line in f:
                if line.startswith(CREATED_DIR):
                    return line[len(CREATED_DIR):].strip()
    except OSError:
        pass
    return None


def _is_our_link(path):
    """Our launcher file, or (from older versions) a symlink to one of our
    console scripts."""
    if os.path.islink(path):
        try:
            with open(path, "rb") as f:
                return b"openrc_sv" in f.read(4096)
        except OSError:
            return False
    return launcher.is_ours(path)


# -- the plugin --------------------------------------------------------------------

def install_plugin(root="/"):
    confd = _under(root, "/etc/rc.conf.d")
    target = os.path.join(confd, "openrc-sv.conf")
    created = None
    if os.path.lexists(target):
        if not _is_our_plugin(target) or os.path.islink(target):
            raise UserError("refusing to replace %s: it was not installed by openrc-sv "
                            "(move it away first)" % target)
        created = _created_dir(target)
    if not os.path.isdir(confd):
        os.makedirs(confd, 0o755)
        created = "/etc/rc.conf.d"
    rcstate.write_atomic(target, plugin_text(created), 0o644)
    output.info("installed the runscript plugin %s" % target)


def remove_plugin(root="/"):
    confd = _under(root, "/etc/rc.conf.d")
    target = os.path.join(confd, "openrc-sv.conf")
    _remove_ours(confd, target, lambda: _is_our_plugin(target) and not os.path.islink(target))


def _remove_ours(confd, target, ours):
    """Remove target from /etc/rc.conf.d if ours() says it is openrc-sv's
    (else warn and leave it), and the directory if setup created it."""
    if not os.path.lexists(target):
        return
    if not ours():
        output.warn("left %s alone: it was not installed by openrc-sv" % target)
        return
    created = _created_dir(target)
    os.unlink(target)
    output.info("removed %s" % target)
    if created:
        try:
            os.rmdir(confd)
            output.info("removed %s" % confd)
        except OSError:
            pass    # something else lives there now


# -- the compat shim ------------------------------------------------------------------

def _shim_path(root):
    return os.path.join(_under(root, "/etc/rc.conf.d"), SHIM_NAME)


def openrc_version(libexecdir=None, root="/"):
    """(version tuple, the version file's first line, its path) of the
    OpenRC under root.  The line is what the shim compares at run time;
    only under / may `openrc --version` stand in for a missing file (it is
    the host's)."""
    libexec = _under(root, libexecdir or rcstate.libexecdir())
    line = None
    try:
        with open(os.path.join(libexec, "version"), errors="replace") as f:
            line = f.readline(200).strip() or None
    except OSError:
        pass
    if root and root != "/":
        version = rcversion.from_libexec(libexec)
    else:
        version = rcversion.detect(libexec)
    return version, line, os.path.join(libexec, "version")


def check_shim(libexecdir=None, root="/"):
    """Refuse (one line) unless the shim applies to the OpenRC found;
    returns the lines setup fills in."""
    version, line, vfile = openrc_version(libexecdir, root)
    if version is None:
        asked = "" if root and root != "/" else ", and `openrc --version` did not answer"
        if line is not None:
            shown = line.strip().splitlines()[0][:60] if line.strip() else ""
            raise UserError("--compat-shim: cannot tell which OpenRC this is (%s holds '%s', "
                            "not an OpenRC version%s)" % (vfile, shown, asked))
        raise UserError("--compat-shim: cannot tell which OpenRC this is (no %s%s)"
                        % (vfile, asked))
    if version >= SHIM_BELOW:
        raise UserError("--compat-shim: OpenRC %s passes input_file, output_logger, "
                        "error_logger and no_new_privs itself; the shim is only for "
                        "OpenRC older than %d.%d" % ((rcversion.text(version),) + SHIM_BELOW[:2]))
    if line is None or rcversion.parse(line) != version:
        raise UserError("--compat-shim: %s is missing or unreadable; the shim needs it to "
                        "tell, at every start, that OpenRC is still %s"
                        % (vfile, rcversion.text(version)))
    _refuse_a_foreign_shim(_shim_path(root))    # before anything else is changed
    adds = [name for since, name in SHIM_ADDS if version < since]
    return {
        "_openrc_sv_shim_openrc": line,
        "_openrc_sv_shim_adds": " ".join(adds),
        "_openrc_sv_shim_empty_falls_back": "yes" if version < EMPTY_ARGS_FALL_BACK_BELOW else "no",
    }


def shim_text(values, created_dir=None):
    """The packaged shim with the lines for this OpenRC filled in."""
    try:
        with open(SHIM_SOURCE) as f:
            lines = f.read().splitlines(keepends=True)
    except OSError as e:
        raise UserError("cannot read the packaged shim %s: %s" % (SHIM_SOURCE, e.strerror))
    todo = dict(values)
    for i, ln in enumerate(lines):
        name = ln.rstrip("\n").rstrip("=")
        if ln.rstrip("\n") == name + "=" and name in todo:
            lines[i] = "%s=%s\n" % (name, shlex.quote(todo.pop(name)))
    if todo:
        raise UserError("the packaged shim %s lacks the line %s=" % (SHIM_SOURCE, sorted(todo)[0]))
    if created_dir:
        lines.insert(1, "%s%s\n" % (CREATED_DIR, created_dir))
    return "".join(lines)


_is_ours = forkserver.starts_with_marker


def _refuse_a_foreign_shim(target):
    if os.path.lexists(target) and not _is_ours(target, SHIM_MARKER):
        raise UserError("refusing to replace %s: it was not installed by openrc-sv "
                        "(move it away first)" % target)


def install_shim(values, root="/"):
    confd = _under(root, "/etc/rc.conf.d")
    target = _shim_path(root)
    created = None
    if os.path.lexists(target):
        _refuse_a_foreign_shim(target)
        created = _created_dir(target)
    if not os.path.isdir(confd):
        os.makedirs(confd, 0o755)
        created = "/etc/rc.conf.d"
    text = shim_text(values, created)
    if os.path.lexists(target):
        with open(target) as f:
            if f.read() == text:
                output.info("%s is already installed" % target)
                return
    rcstate.write_atomic(target, text, 0o644)
    output.info("installed the compat shim %s (OpenRC %s: %s)" % (
        target, values["_openrc_sv_shim_openrc"],
        ", ".join({"stdin": "input_file", "loggers": "output_logger, error_logger"}[a]
                  for a in values["_openrc_sv_shim_adds"].split())))


def remove_shim(root="/"):
    confd = _under(root, "/etc/rc.conf.d")
    target = _shim_path(root)
    _remove_ours(confd, target, lambda: _is_ours(target, SHIM_MARKER))


# -- the supervise-daemon link ------------------------------------------------------

def _sbin(libexecdir, root):
    sbin = _under(root, os.path.join(libexecdir or rcstate.libexecdir(), "sbin"))
    if not os.path.isdir(sbin):
        raise UserError("%s is not a directory: is OpenRC installed? (--libexecdir names "
                        "OpenRC's, e.g. /lib/rc or /usr/libexec/rc)" % sbin)
    return sbin


def install_link(libexecdir=None, root="/"):
    """Install our launcher as $RC_LIBEXECDIR/sbin/supervise-daemon (a small
    script that runs our supervise-daemon without `site`: see launcher)."""
    link = os.path.join(_sbin(libexecdir, root), "supervise-daemon")
    text = launcher.script()
    if os.path.lexists(link):
        if not _is_our_link(link):
            raise UserError("refusing to replace %s: it is not openrc-sv's "
                            "(remove it yourself if you mean to)" % link)
        if not os.path.islink(link):
            with open(link) as f:
                if f.read() == text:
                    output.info("%s is already openrc-sv's supervise-daemon" % link)
                    return
    # write_atomic renames over the old file (or an old link of ours).
    rcstate.write_atomic(link, text, 0o755)
    output.info("installed %s (runs openrc-sv's supervise-daemon)" % link)


def remove_link(libexecdir=None, root="/"):
    link = os.path.join(_sbin(libexecdir, root), "supervise-daemon")
    if not os.path.lexists(link):
        return
    if not _is_our_link(link):
        output.warn("left %s alone: it is not openrc-sv's link" % link)
        return
    os.unlink(link)
    output.info("removed %s" % link)


def _snapshot(path):
    """What is at path now, to put it back: ('absent',), ('link', target)
    or ('file', bytes, mode)."""
    if os.path.islink(path):
        return ("link", os.readlink(path))
    try:
        with open(path, "rb") as f:
            return ("file", f.read(), os.stat(path).st_mode & 0o7777)
    except FileNotFoundError:
        return ("absent",)


def _restore(path, snap):
    if snap[0] == "absent":
        if os.path.lexists(path):
            os.unlink(path)
        return
    # An undo may have removed the directory too (one setup created).
    os.makedirs(os.path.dirname(path), 0o755, exist_ok=True)
    if snap[0] == "link":
        if os.path.lexists(path):
            os.unlink(path)
        os.symlink(snap[1], path)
    else:
        rcstate.write_atomic(path, snap[1], snap[2])


def _paths(plugin, supervise_daemon, shim, fork_server, libexecdir, root):
    """The files setup may change, and the directories it may create
    (deepest last) that are not there yet."""
    paths = []
    dirs = []
    if supervise_daemon:
        paths.append(os.path.join(_sbin(libexecdir, root), "supervise-daemon"))
    confd = _under(root, "/etc/rc.conf.d")
    if fork_server:
        files, made = forkserver.paths(root)
        paths += files
        dirs += made
    if shim:
        paths.append(_shim_path(root))
    if plugin:
        paths.append(os.path.join(confd, "openrc-sv.conf"))
    if plugin or shim:
        dirs.append(confd)
    return paths, [d for d in dirs if not os.path.isdir(d)]


def setup(plugin=False, supervise_daemon=False, undo=False, libexecdir=None, root="/",
          compat_shim=False, fork_server=True):
    """All or nothing: when a later step fails, what the earlier ones
    changed is put back as it was, and the error is reported.  Starting
    the fork server comes last and may fail alone (a warning)."""
    if compat_shim and not supervise_daemon:
        raise UserError("--compat-shim goes with --supervise-daemon: the options it adds "
                        "are for openrc-sv's supervise-daemon")
    if not plugin and not supervise_daemon:
        plugin = supervise_daemon = True
    fork_server = fork_server and supervise_daemon
    try:
        shim_values = check_shim(libexecdir, root) if compat_shim and not undo else None
        # Undoing the link undoes the shim: OpenRC's own old binary would
        # reject the options it adds.
        shim = supervise_daemon and (undo or compat_shim)
        paths, new_dirs = _paths(plugin, supervise_daemon, shim, fork_server, libexecdir, root)
        before = [(p, _snapshot(p)) for p in paths]
        stopped = replaced = False
        try:
            if undo:
                if fork_server:
                    # Before its script goes, while rc-service can still stop it.
                    stopped = forkserver.stop(root)
                if supervise_daemon:
                    remove_link(libexecdir, root)
                    remove_shim(root)
                if fork_server:
                    forkserver.remove(root)
                if plugin:
                    remove_plugin(root)
            else:
                if supervise_daemon:
                    install_link(libexecdir, root)
                if shim_values:
                    install_shim(shim_values, root)
                if fork_server:
                    replaced = forkserver.install(root)
                if plugin:
                    install_plugin(root)
        except BaseException:
            _roll_back(before, new_dirs)
            if stopped:
                forkserver.start(root)
            raise
    except PermissionError as e:
        raise UserError("%s: permission denied (run as root)" % (e.filename or "setup"))
    except OSError as e:
        raise UserError("%s: %s (nothing was changed)" % (e.filename or "setup", e.strerror or e))
    if fork_server and not undo:
        forkserver.start(root, replaced)
    return 0


def _roll_back(before, new_dirs):
    for path, snap in reversed(before):
        try:
            if _snapshot(path) != snap:
                _restore(path, snap)
                output.info("put %s back as it was" % path)
        except OSError as e:
            output.warn("could not put %s back: %s" % (path, e.strerror))
    for d in reversed(new_dirs):
        try:
            os.rmdir(d)
        except OSError:
            pass
