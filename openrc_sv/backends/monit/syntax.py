"""What monit's control-file parser can and cannot take.

monit's manual is silent on quoting; these rules were found with
`monit -t` (monit 5.33) and are pinned by tests/unit/test_monit_render.py:

  * a "double-quoted" string ends at the next double quote: there is no
    escape (\\" is a syntax error);
  * a doubled backslash becomes one in some strings (a pidfile) and stays
    two in others (a program string), so no spelling of a backslash is
    right everywhere;
  * a string cannot span lines;
  * a program string (start/stop program, check program's path, exec) is
    split into words at white space, and single quotes inside it group
    words ('a b' is one word).

So a value holding a double quote or a line break cannot be written into a
monit file at all, and a word of a program string cannot hold white space
or quotes.  We check every value against these rules before rendering and
refuse the ones that do not fit with a UserError naming the variable; the
templates then pass them through the monitquote filter as well.  The
daemon's own argv never goes through here: it is written, shell-quoted,
into the control script (see render.py), where any byte is fine.
"""

from ...errors import UserError

# Never valid inside a monit string (the backslash: see above; the shared
# monitquote filter doubles it, which is right for a pidfile only).
_NEVER = ('"', "\\", "\n", "\r", "\0")


def _bad(what, value, why):
    return UserError("%s: invalid value %r for the monit backend (%s)" % (what, value, why))


def string(what, value):
    """A value that will become one "double-quoted" monit string."""
    s = str(value)
    if not s:
        raise _bad(what, s, "it is empty")
    for c in _NEVER:
        if c in s:
            raise _bad(what, s, "monit cannot quote %s in its control file"
                       % {'"': "a double quote", "\\": "a backslash"}.get(c, "a line break"))
    if any(ord(c) < 32 or ord(c) == 127 for c in s):
        raise _bad(what, s, "it contains a control character")
    return s


def word(what, value):
    """A value that will be one word of a monit program string."""
    s = string(what, value)
    if any(c.isspace() for c in s) or "'" in s:
        raise _bad(what, s, "monit splits program strings at white space and quotes; "
                   "use a path without spaces or quotes")
    return s


def program(what, *words):
    """The words of a monit program string, checked, joined by spaces."""
    return " ".join(word(what, w) for w in words)
