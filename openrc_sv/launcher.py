"""Starting our supervise-daemon without paying for `site`.

A console script made by pip starts with the full interpreter start-up:
site-packages, .pth files (an editable install's finder alone imports
pathlib and urllib), about 20 ms.  openrc-run runs supervise-daemon for
every start and stop, and the supervisor must stay small, so we start it
with `python -I -S` and put the directory holding this package on sys.path
ourselves: the drop-in needs nothing but the standard library.

Everything that runs our supervise-daemon goes through here: the file
`openrc-sv setup --supervise-daemon` installs as
$RC_LIBEXECDIR/sbin/supervise-daemon, the native backend, and a supervisor
re-executing itself.

The runscript plugin runs the openrc-sv command inside openrc-run for every
start, stop and status, so the plugin that `openrc-sv setup --plugin`
installs starts it the same way (cli_code()).  The command may need more than the standard
library (jinja2 and sh for the runit and monit backends, a third-party
backend's package), so that one also puts the site directories on
sys.path, after ours and the standard library's: those `site` gave the
process that wrote the launcher (with -S the interpreter cannot tell a
venv's own), but without what `site` does on top (.pth files, an editable
install's import hooks).
"""

import os
import sys

MARKER = "# openrc-sv launcher"


def package_parent():
    """The directory to put on sys.path: site-packages, or the source tree."""
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def argv():
    """The command line that runs our supervise-daemon (arguments follow).
    The script's name ends in supervise-daemon, so `ps` and our own checks
    recognise the process."""
    return [sys.executable, "-I", "-S",
            os.path.join(package_parent(), "openrc_sv", "data", "supervise-daemon")]


def script(module="openrc_sv.supervise_daemon", python=None, parent=None):
    """A launcher file: what setup installs, and what the test sandbox uses.
    python: the interpreter (default: this one); parent: the directory
    holding the openrc_sv package (default: this one's)."""
    return "#!%s -IS\n%s: runs %s (see openrc-sv(8))\nimport sys\nsys.path.insert(0, %r)\nfrom %s import main\nsys.exit(main())\n" % (
        python or sys.executable, MARKER, module, parent or package_parent(), module)


def site_dirs():
    """The site directories this process has (a venv's own, when `site` ran)."""
    import site
    return [d for d in site.getsitepackages() if os.path.isdir(d)]


def _literal(text):
    # A Python string literal in double quotes: the code goes inside
    # single quotes in the plugin's shell.
    return '"%s"' % text.replace("\\", "\\\\").replace('"', '\\"')


def cli_code(parent=None, dirs=None):
    """The openrc-sv command as one line for `python -I -S -c`: what the
    runscript plugin runs (see cli/setup.py)."""
    dirs = site_dirs() if dirs is None else dirs
    return ("import sys; sys.path.insert(0, %s); sys.path += [d for d in [%s] if d not in sys.path]; "
            "from openrc_sv.cli import main; sys.exit(main())"
            % (_literal(parent or package_parent()), ", ".join(_literal(d) for d in dirs)))


def is_ours(path):
    try:
        with open(path, "rb") as f:
            return MARKER.encode() in f.read(4096)
    except OSError:
        return False
