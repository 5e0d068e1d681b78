"""Messages in OpenRC's einfo style.

The plugin's shell side prints ebegin/eend around our work; we only add
lines of our own: errors and warnings, one line each, on stderr, shaped
like OpenRC's (` * ERROR: SVC: what went wrong`).
"""

import sys


def _one_line(text):
    # A value quoted in a message may hold a newline; a message is one line.
    return str(text).replace("\r", "\\r").replace("\n", "\\n")


def error(message, service=None):
    who = service or "openrc-sv"
    sys.stderr.write(" * ERROR: %s: %s\n" % (who, _one_line(message)))


def warn(message, service=None):
    who = service or "openrc-sv"
    sys.stderr.write(" * WARNING: %s: %s\n" % (who, _one_line(message)))


def info(message):
    sys.stdout.write(" * %s\n" % _one_line(message))
