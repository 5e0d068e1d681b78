"""The one jinja2 environment every backend renders with.

Strict about undefined variables (a typo in a template is an error, not an
empty string), no autoescape (we write shell and monit files, not HTML), and
every filter registered here, in one place:

  shellquote   a value as one POSIX sh word:  it's -> 'it'"'"'s'
  monitquote   a value as one monit string:   "...", refusing ", \\ and line
               breaks, which monit strings cannot hold
  shelljoin    a list of values as sh words, each quoted

Templates live beside their backend: openrc_sv/backends/NAME/templates/.
"""

import os

from ..errors import UserError


def shellquote(value):
    s = str(value)
    if s and all(c.isalnum() or c in "@%+=:,./-_" for c in s):
        return s
    return "'" + s.replace("'", "'\"'\"'") + "'"


def shelljoin(values):
    return " ".join(shellquote(v) for v in values)


def monitquote(value):
    """A value as one monit string.  monit strings have no escapes (a \\"
    is a syntax error, and one broken included file stops every monit
    command), so a value that cannot be written as is is refused."""
    s = str(value)
    bad = [c for c in ('"', "\\", "\n", "\r", "\0") if c in s]
    if bad:
        raise UserError("value %r cannot go into a monit control file: monit strings cannot "
                        "hold %s" % (s, " or ".join(repr(c) for c in bad)))
    return '"' + s + '"'


def environment(backend_dir):
    import jinja2
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(os.path.join(backend_dir, "templates")),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["shellquote"] = shellquote
    env.filters["shelljoin"] = shelljoin
    env.filters["monitquote"] = monitquote
    return env
