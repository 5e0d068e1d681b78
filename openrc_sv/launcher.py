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


def script(module="openrc_sv.supervise_daemon"):
    """A launcher file: what setup installs, and what the test sandbox uses."""
    return "#!%s -IS\n%s: runs %s (see openrc-sv(8))\nimport sys\nsys.path.insert(0, %r)\nfrom %s import main\nsys.exit(main())\n" % (
        sys.executable, MARKER, module, package_parent(), module)


def is_ours(path):
    try:
        with open(path, "rb") as f:
            return MARKER.encode() in f.read(4096)
    except OSError:
        return False
