"""One converter per value type.

Every converter takes ``what`` (the option or variable the value came from,
e.g. ``--respawn-delay`` or ``respawn_delay``) and the raw string, and
returns a typed value or raises UserError naming both and saying what would
be valid.  The supervisor and every backend share these, so a value means
the same thing whichever way it reaches us.

Only cheap built-in modules are imported here: the supervisor imports this.
"""

from . import sigs as _signal

from .errors import UserError

# OpenRC's parse_duration() units (src/shared/timeutils.c), plus the
# spellings people actually write.  A bare number is seconds.
_UNITS_MS = {
    "": 1000,
    "ms": 1, "msec": 1, "miliseconds": 1, "milliseconds": 1,
    "s": 1000, "sec": 1000, "secs": 1000, "second": 1000, "seconds": 1000,
    "m": 60000, "min": 60000, "mins": 60000, "minute": 60000, "minutes": 60000,
    "h": 3600000, "hour": 3600000, "hours": 3600000,
}

_MAX_MS = 10 * 365 * 24 * 3600 * 1000   # ten years: anything longer is a typo


def _bad(what, value, valid):
    text = str(value)
    if len(text) > 80:      # one readable line, even for a pasted megabyte
        text = text[:60] + "...(%d characters)" % len(text)
    return UserError("%s: invalid value '%s' (%s)" % (what, text, valid))


# The longest number any value here can sensibly have: past it, int() would
# be slow or (past 4300 digits) refuse, and the value is a typo anyway.
_MAX_DIGITS = 18


def _digits(text):
    """Plain ASCII digits: str.isdigit() also takes '²' and '٣', which
    int() refuses or reads as another number."""
    return text.isascii() and text.isdigit() and len(text) <= _MAX_DIGITS


def duration_ms(what, value, minimum=0, c_leading_number=False):
    """'5', '1.5', '500ms', '2sec', '1.5min', '1hour' -> milliseconds.

    c_leading_number: the option is one OpenRC's C binary reads with
    sscanf("%d") (--healthcheck-timer and -delay always, the respawn
    options before 0.62), which takes the leading whole number as seconds
    and ignores the rest, so it accepts anything that starts with one.
    A script that works with that binary must not break with ours, so
    there ours accepts the same: a fraction or a unit means what it says
    (1.5 is 1500ms, 2min two minutes: C's 1 and 2 seconds are plainly
    not what was meant), and any other tail ('30x') is read as C reads
    it, with a warning.  Elsewhere (parse_duration() in C 0.62+, --retry)
    C refuses fractions and unknown units, and so do we.
    """
    text = str(value).strip()
    i = 0
    while i < len(text) and _digits(text[i]):
        i += 1
    digits, frac = text[:i], ""
    if text[i:i + 1] == ".":
        j = i + 1
        while j < len(text) and _digits(text[j]):
            j += 1
        frac, i = text[i + 1:j], j
    unit = text[i:].strip().lower()
    if frac and not c_leading_number:
        digits = ""                     # refused below, as parse_duration() does
    if (not digits or len(digits) > _MAX_DIGITS or len(frac) > 9 or unit not in _UNITS_MS
            or (text[len(digits):len(digits) + 1] == "." and not frac)):
        if c_leading_number:
            return _leading_number_ms(what, value, minimum)
        raise _bad(what, value, "expected a whole number of seconds, or a number "
                   "followed by ms, sec, min or hour")
    scale = 10 ** len(frac)
    ms = (int(digits + frac) * _UNITS_MS[unit] * 2 + scale) // (2 * scale)
    if ms > _MAX_MS:
        raise _bad(what, value, "longer than ten years")
    if ms < minimum:
        raise _bad(what, value, "must be at least %s" % format_ms(minimum))
    return ms


def _leading_number_ms(what, value, minimum):
    """sscanf("%d") as OpenRC's binary applies it: blanks, a sign, digits."""
    text = str(value).lstrip(" \t\n")
    sign = text[:1] if text[:1] in "+-" else ""
    i = len(sign)
    while i < len(text) and _digits(text[i]):
        i += 1
    digits = text[len(sign):i]
    if not digits or len(digits) > _MAX_DIGITS or sign == "-":
        raise _bad(what, value, "expected a number of seconds (1.5 is one and a half), "
                   "or a number followed by ms, sec, min or hour")
    ms = int(digits) * 1000
    if ms > _MAX_MS:
        raise _bad(what, value, "longer than ten years")
    if ms < minimum:
        raise _bad(what, value, "must be at least %s" % format_ms(minimum))
    import sys
    shown = str(value) if len(str(value)) <= 40 else str(value)[:40] + "..."
    sys.stderr.write(" * %s: '%s' is read as %s, as OpenRC's supervise-daemon reads it "
                     "(its leading number, in seconds); write %s to say so\n"
                     % (what, shown, format_ms(ms), digits))
    return ms


def format_ms(ms):
    """The shortest exact spelling of a duration, in OpenRC's units."""
    if ms % 3600000 == 0 and ms:
        return "%dhour" % (ms // 3600000)
    if ms % 60000 == 0 and ms:
        return "%dmin" % (ms // 60000)
    if ms % 1000 == 0:
        return "%dsec" % (ms // 1000)
    return "%dms" % ms


def count(what, value, minimum=0, maximum=None):
    text = str(value).strip()
    if not text or not (_digits(text) or (text[0] in "+-" and _digits(text[1:]))):
        raise _bad(what, value, "expected a whole number")
    n = int(text)
    if n < minimum:
        raise _bad(what, value, "must be %d or more" % minimum)
    if maximum is not None and n > maximum:
        raise _bad(what, value, "must be %d or less" % maximum)
    return n


def integer(what, value, minimum, maximum):
    """A signed number in a closed range (nice level, oom score)."""
    return count(what, value, minimum, maximum)


def signal_number(what, value):
    """'TERM', 'SIGTERM', 'term', '15' -> 15."""
    text = str(value).strip()
    if _digits(text):
        n = int(text)
        if 0 <= n < _signal.NSIG:
            return n
        raise _bad(what, value, "signal numbers go from 0 to %d" % (_signal.NSIG - 1))
    name = text.upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    sig = _signal.NUMBERS.get(name)
    if sig is None:
        raise _bad(what, value, "expected a signal name such as TERM or HUP, or a number")
    return sig


def signal_name(num):
    name = _signal.NAMES.get(num)
    return name[3:] if name else str(num)


# A retry schedule is a list of steps: ("signal", n), ("timeout", ms),
# ("forever", None).  The steps after 'forever' repeat until the process is
# gone; a final 'forever' waits for it however long it takes.
def retry_schedule(what, value, stopsig=_signal.SIGTERM):
    text = str(value).strip()
    if "/" not in text:
        # A bare timeout: send the stop signal, wait, then KILL (OpenRC's
        # parse_schedule() with count == 0, plus the SIGKILL every admin
        # expects after the timeout; openrc-run's default retry is TERM/5/KILL/5).
        timeout = duration_ms(what, text) if text else 5000
        return [("signal", int(stopsig)), ("timeout", timeout),
                ("signal", int(_signal.SIGKILL)), ("timeout", timeout)]
    steps = []
    for item in text.split("/"):
        item = item.strip()
        if item == "forever":
            if any(kind == "forever" for kind, _ in steps):
                raise _bad(what, value, "'forever' may appear only once")
            if not steps:
                raise _bad(what, value, "'forever' must follow a signal or timeout")
            steps.append(("forever", None))
        elif _digits(item[:1]):
            steps.append(("timeout", duration_ms(what, item)))
        elif item:
            sig = item[1:] if item.startswith("-") else item
            try:
                steps.append(("signal", signal_number(what, sig)))
            except UserError:
                raise _bad(what, value, "'%s' is neither a signal nor a timeout" % item)
        else:
            raise _bad(what, value, "empty step; write SIGNAL/TIMEOUT/SIGNAL/TIMEOUT")
    if not any(kind == "signal" for kind, _ in steps):
        raise _bad(what, value, "a schedule needs at least one signal")
    kinds = [kind for kind, _ in steps]
    if "forever" in kinds:
        repeated = kinds[kinds.index("forever") + 1:]
        if repeated and "timeout" not in repeated:
            # It would send its signals in a tight loop for ever.
            raise _bad(what, value, "the steps after 'forever' repeat, so they need a timeout")
    return steps


def format_schedule(steps):
    return "/".join(
        signal_name(v) if k == "signal" else ("forever" if k == "forever" else format_ms(v))
        for k, v in steps)


def umask(what, value):
    text = str(value).strip()
    if not text or len(text) > 4 or any(c not in "01234567" for c in text):
        raise _bad(what, value, "expected an octal mode such as 022 or 0027")
    return int(text, 8)


def ionice(what, value):
    """'class[:data]' as in ionice(1) and start-stop-daemon: class 0-3, data 0-7."""
    text = str(value).strip()
    cls, _, data = text.partition(":")
    try:
        if not _digits(cls) or (data and not _digits(data)):
            raise ValueError(text)
        c = int(cls)
        d = int(data) if data else 0
    except ValueError:
        raise _bad(what, value, "expected CLASS[:DATA], class 0-3 and data 0-7")
    if not (0 <= c <= 3 and 0 <= d <= 7):
        raise _bad(what, value, "expected CLASS[:DATA], class 0-3 and data 0-7")
    if c == 0:
        d = 0
    elif c == 3:
        d = 7
    return c, d


def user_group(what, value):
    """'user', 'uid', 'user:group' -> (uid, gid, name, home).

    The gid is the user's primary group unless a group is named.  pwd/grp
    are imported here, not at module level: only a start that names a user
    pays for them.
    """
    import pwd
    text = str(value).strip()
    user, sep, group = text.partition(":")
    if not user or (sep and not group):
        raise _bad(what, value, "expected USER or USER:GROUP")
    try:
        pw = pwd.getpwuid(int(user)) if _digits(user) else pwd.getpwnam(user)
    except (KeyError, OverflowError, ValueError):
        raise UserError("%s: user '%s' not found" % (what, user))
    try:
        gid = group_id(what, group) if group else pw.pw_gid
    except UserError:
        raise UserError("%s: group '%s' of '%s' not found" % (what, group, text))
    return pw.pw_uid, gid, pw.pw_name, pw.pw_dir


def group_id(what, value):
    import grp
    text = str(value).strip()
    try:
        return grp.getgrgid(int(text)).gr_gid if _digits(text) else grp.getgrnam(text).gr_gid
    except (KeyError, OverflowError, ValueError):
        raise UserError("%s: group '%s' not found" % (what, value))


def notify(what, value):
    """'fd:N' or 'socket:ready' -> ('fd', N) or ('socket', None)."""
    text = str(value).strip()
    kind, _, arg = text.partition(":")
    if kind == "fd" and _digits(arg) and 3 <= int(arg) <= 1023:
        return "fd", int(arg)
    if kind == "socket" and arg == "ready":
        return "socket", None
    raise _bad(what, value, "expected fd:N (N from 3 to 1023) or socket:ready")


def yesno(what, value):
    text = str(value).strip().lower()
    if text in ("yes", "true", "on", "1"):
        return True
    if text in ("no", "false", "off", "0", ""):
        return False
    raise _bad(what, value, "expected yes or no")


def env_assignment(what, value):
    name, sep, _ = str(value).partition("=")
    if not sep or not name or not (name.replace("_", "a").isalnum() and not name[0].isdigit()):
        raise _bad(what, value, "expected NAME=VALUE")
    return name, str(value)[len(name) + 1:]


def choice(what, value, choices):
    """One word of a fixed set: respawn_on=failure."""
    text = str(value).strip().lower()
    if text not in choices:
        raise _bad(what, value, "expected %s" % " or ".join(
            [", ".join(choices[:-1]), choices[-1]] if len(choices) > 2 else choices))
    return text


def exit_statuses(what, value):
    """'78 SIGABRT 64-70, TERM' -> (frozenset of exit codes, frozenset of
    signal numbers).  Exit codes and ranges of them from 0 to 255; signals
    by name only (a number is an exit code: 15 is `exit 15`, never SIGTERM)."""
    exits, sigs = set(), set()
    words = str(value).replace(",", " ").split()
    if not words:
        raise _bad(what, value, "expected exit codes (0-255, or ranges such as 64-78) "
                   "and signal names such as ABRT")
    for word in words:
        lo, dash, hi = word.partition("-")
        if _digits(lo) and (not dash or _digits(hi)):
            first, last = int(lo), int(hi) if dash else int(lo)
            if not (0 <= first <= last <= 255):
                raise _bad(what, value, "'%s': exit codes go from 0 to 255, a range from "
                           "low to high" % word)
            exits.update(range(first, last + 1))
            continue
        name = word.upper()
        sig = _signal.NUMBERS.get(name if name.startswith("SIG") else "SIG" + name)
        if sig is None:
            raise _bad(what, value, "'%s' is neither an exit code (0-255, or a range such "
                       "as 64-78) nor a signal name such as ABRT" % word)
        sigs.add(sig)
    return frozenset(exits), frozenset(sigs)


def format_statuses(exits, sigs):
    """The canonical spelling of exit_statuses' result: ranges, then names."""
    out, codes = [], sorted(exits)
    i = 0
    while i < len(codes):
        j = i
        while j + 1 < len(codes) and codes[j + 1] == codes[j] + 1:
            j += 1
        out.append(str(codes[i]) if i == j else "%d-%d" % (codes[i], codes[j]))
        i = j + 1
    return " ".join(out + [signal_name(n) for n in sorted(sigs)])


def factor(what, value):
    """A growth factor above 1 and at most 100, with up to three decimals,
    as thousandths: '2' -> 2000, '1.5' -> 1500."""
    text = str(value).strip()
    whole, dot, frac = text.partition(".")
    if not _digits(whole) or (dot and not (frac and _digits(frac))) or len(frac) > 3:
        raise _bad(what, value, "expected a number above 1, such as 2 or 1.5 "
                   "(at most three decimals)")
    n = int(whole) * 1000 + (int(frac.ljust(3, "0")) if frac else 0)
    if not 1000 < n <= 100000:
        raise _bad(what, value, "must be above 1 and at most 100")
    return n


def format_factor(n):
    whole, frac = divmod(n, 1000)
    return str(whole) if not frac else ("%d.%03d" % (whole, frac)).rstrip("0")
