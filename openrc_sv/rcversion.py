"""Which OpenRC called us, as a (major, minor, patch) tuple.

A drop-in must behave like the binary it replaces, and OpenRC's binary
changed its defaults between releases (issue 9 §2), so we ask, in order:

  1. $RC_LIBEXECDIR/version: one line, "0.45.2", installed by every
     OpenRC build we know of (Debian, Alpine, Gentoo, upstream meson);
  2. `openrc --version`: "openrc (OpenRC) 0.63.3" (the part in parentheses
     is the vendor, e.g. "OpenRC [DOCKER]"), only if the file is missing.

None when neither answers.  Only cheap built-in modules are imported at
the top: the long-running supervisor imports this.

choose() turns that into the rule set a service gets (Rules: respawn
defaults, how respawn values are read and written to options/SVC): the
administrator's pin (supervise_daemon_compat in rc.conf, rc.conf.d or
conf.d, read the way librc reads rc.conf), else the version, else a hint
from what supervise-daemon.sh passed, else the pre-0.62 rules.
"""

import os


def parse(text):
    """The first dotted version number in text, as a tuple of 3 ints, or None.
    '0.45.2' -> (0, 45, 2); 'openrc (OpenRC) 0.63' -> (0, 63, 0)."""
    for word in (text or "").replace("(", " ").replace(")", " ").split():
        word = word.lstrip("v")
        head = word.split("-")[0].split("_")[0]
        parts = head.split(".")
        if len(parts) >= 2 and all(p.isdigit() and len(p) <= 6 for p in parts[:3]):
            nums = [int(p) for p in parts[:3]] + [0] * (3 - len(parts[:3]))
            return tuple(nums)
    return None


def from_libexec(libexec):
    try:
        with open(os.path.join(libexec, "version"), errors="replace") as f:
            return parse(f.read(200))
    except OSError:
        return None


def _openrc_on(path):
    """The `openrc` on path (a PATH value), searched in its absolute
    directories only (a relative one would be wherever we happen to be),
    or None."""
    for d in path.split(":"):
        exe = os.path.join(d, "openrc")
        if d.startswith("/") and os.path.isfile(exe) and os.access(exe, os.X_OK):
            return exe
    return None


def _ask(exe, env, timeout):
    """What `openrc --version` writes on its stdout (at most 4 KiB), b""
    if it cannot run; a command that hangs is killed after timeout
    seconds and what it wrote by then is taken (subprocess.run does the
    killing and the reaping)."""
    import subprocess
    try:
        return subprocess.run(["openrc", "--version"], executable=exe, env=env,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, timeout=timeout).stdout[:4096]
    except subprocess.TimeoutExpired as e:
        return (e.output or b"")[:4096]
    except OSError:
        return b""


def from_openrc_command(environ=None, timeout=5.0):
    """`openrc --version`, run by subprocess in a child forked for the
    purpose, which hands back what it read and ends.

    The fork keeps subprocess (and the threading, selectors... it imports)
    out of this process: this runs in supervise-daemon --start, and in the
    plugin's process that runs it in-process, both of which fork into the
    long-running supervisor, which imports only built-ins
    (test_lean_supervisor).  The child ends by itself within `timeout`
    (subprocess.run's), so it is only reaped here, never killed."""
    env = dict(os.environ if environ is None else environ)
    env.setdefault("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
    exe = _openrc_on(env["PATH"])
    if exe is None:
        return None
    try:
        r, w = os.pipe()
    except OSError:
        return None
    try:
        pid = os.fork()
    except OSError:
        os.close(r)
        os.close(w)
        return None
    if pid == 0:
        # Never back into the caller's code, whatever happens here.
        try:
            os.close(r)
            out = _ask(exe, env, timeout)
            while out:
                out = out[os.write(w, out):]
        finally:
            os._exit(0)
    os.close(w)
    chunks = []
    try:
        chunk = os.read(r, 4096)
        while chunk:
            chunks.append(chunk)
            chunk = os.read(r, 4096)
    except OSError:
        pass
    finally:
        os.close(r)
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:     # SIGCHLD ignored: reaped already
            pass
    return parse(b"".join(chunks).decode(errors="replace"))


def detect(libexec=None, environ=None):
    """The calling OpenRC's version, or None if it cannot be told."""
    if libexec is None:
        from .rcstate import libexecdir
        libexec = libexecdir()
    return from_libexec(libexec) or from_openrc_command(environ)


def text(version):
    return "unknown" if version is None else "%d.%d.%d" % version


# -- rule sets ----------------------------------------------------------------
#
# What OpenRC's C supervise-daemon does by default, by release (read from
# src/supervise-daemon/supervise-daemon.c at each tag, 0.45 to 0.63.3):
#
#   before 0.62   respawn_period 0: respawn_max counts over the supervisor's
#                 whole life; no delay step; options/SVC/respawn_delay and
#                 respawn_period hold whole seconds ("%i"); every duration
#                 is read with sscanf("%d"), so "2min" is 2 and "1.5" is 1
#   0.62 and on   respawn_period "12sec"; respawn_delay_step 128ms and
#                 respawn_delay_cap 30s (new options); respawn_delay and
#                 respawn_period go through parse_duration() (units, no
#                 fractions) and are written to options/SVC as given;
#                 respawn_delay_step/_cap as milliseconds
#
# Nothing in between changed these (0.52 renamed --no_new_privs, 0.60 added
# --ready, 0.62 --notify and --stdin: see HINTS).

class Rules:
    """One rule set.  Plain attributes, no dataclass: the supervisor imports this."""

    def __init__(self, name, respawn_period_ms, respawn_delay_step_ms, raw_strings,
                 sscanf_respawn):
        self.name = name
        self.respawn_period_ms = respawn_period_ms      # default; 0: the whole lifetime
        self.respawn_period_text = "12sec" if respawn_period_ms else "0"
        self.respawn_delay_step_ms = respawn_delay_step_ms
        # The cap of a delay step.  0.62 and on: 30s.  Before, no step
        # existed in C; ours (an extension there) gets the same cap.
        self.respawn_delay_cap_ms = 30000
        self.raw_strings = raw_strings                  # options/SVC as given
        self.sscanf_respawn = sscanf_respawn            # "5x" is 5 seconds, as C reads it
        self.why = ""                                   # how it was chosen

    def __repr__(self):
        return "Rules(%s%s)" % (self.name, ", " + self.why if self.why else "")


FIRST_NEW = (0, 62, 0)
LEGACY, CURRENT = "0.45", "0.62"


def rules(name, why=""):
    r = (Rules(CURRENT, 12000, 128, True, False) if name == CURRENT
         else Rules(LEGACY, 0, 0, False, True))
    r.why = why
    return r


def rules_name(version):
    """The rule set of an OpenRC version (a tuple); LEGACY when unknown:
    what openrc-sv always did, and what a lifetime budget gives, is the
    more cautious guess (it gives up rather than respawn for ever)."""
    return CURRENT if version is not None and tuple(version) >= FIRST_NEW else LEGACY


# -- the administrator's pin ------------------------------------------------------

PIN = "supervise_daemon_compat"


def parse_pin(what, value):
    """'0.45', '0.62', any OpenRC version such as '0.56' or '0.63.3' (its
    rule set), or 'auto' (detect) -> a rule set name, or None for auto.
    Anything else is a UserError naming ``what`` and the value."""
    text = (value or "").strip()
    if text in ("", "auto"):
        return None
    parts = text.split(".")
    if 2 <= len(parts) <= 3 and all(p.isascii() and p.isdigit() and len(p) <= 6 for p in parts):
        return rules_name(tuple(int(p) for p in parts) + (0,) * (3 - len(parts)))
    from .errors import UserError
    shown = text if len(text) <= 60 else text[:60] + "..."
    raise UserError("%s: invalid value '%s' (expected auto, 0.45 or 0.62, or the OpenRC "
                    "version to behave like, such as 0.56 or 0.63.3)" % (what, shown))


def conf_value(path, key):
    """KEY's value in one file, read as librc's rc_conf_value() reads
    rc.conf (rc_config_list + rc_config_set_value): not a shell.  Leading
    blanks go, '#' starts a comment, `export ` is dropped, the value is
    the first non-empty piece between quotes; the last assignment wins.
    None when the file or the key is not there."""
    try:
        with open(path, errors="replace") as f:
            text = f.read(1 << 20)
    except OSError:
        return None
    found = None
    for line in text.splitlines():
        line = line.lstrip(" \t").split("#", 1)[0]
        if line.startswith("export "):
            line = line[7:]
        name, eq, value = line.partition("=")
        if not eq or name != key:
            continue
        if not value.startswith("$"):
            pieces = [p for p in value.replace("'", '"').split('"') if p]
            value = pieces[0] if pieces else ""
        found = value.strip()
    return found


def rc_conf_files(etc="/etc"):
    """rc.conf, then rc.conf.d/*.conf in openrc-run.sh's (C locale) order:
    later ones override earlier ones."""
    files = [os.path.join(etc, "rc.conf")]
    d = os.path.join(etc, "rc.conf.d")
    try:
        files += [os.path.join(d, n) for n in sorted(os.listdir(d)) if n.endswith(".conf")]
    except OSError:
        pass
    return files


def conf_files(svcname, environ, etc="/etc"):
    """The files openrc-run.sh sources for a service, in its order (later
    ones override earlier ones): rc.conf, rc.conf.d/*.conf, conf.d of the
    service's prefix (net for net.eth0), then conf.d/SVC, each preferring
    the .RUNLEVEL variant when it exists."""
    files = rc_conf_files(etc)
    script = environ.get("RC_SERVICE")
    confd = (os.path.join(os.path.dirname(script), "..", "conf.d") if script
             else os.path.join(etc, "conf.d"))
    level = environ.get("RC_RUNLEVEL")
    if svcname:
        names = [svcname.split(".", 1)[0]] if "." in svcname else []
        for name in names + [svcname]:
            base = os.path.join(confd, name)
            if level and os.path.exists(base + "." + level):
                files.append(base + "." + level)
            else:
                files.append(base)
    return files


def pinned(svcname, environ, etc="/etc"):
    """(value, where) of the pin the administrator wrote, or (None, None).

    openrc-run exports none of these files' variables to supervise-daemon,
    so the drop-in reads them itself, the way librc reads rc.conf; one
    that conf.d exports (`export supervise_daemon_compat=...`) is in our
    environment and wins, as it would in the shell."""
    if environ.get(PIN) is not None:
        return environ[PIN], "the environment"
    value = where = None
    for path in conf_files(svcname, environ, etc):
        v = conf_value(path, PIN)
        if v is not None:
            value, where = v, path
    return value, where


# -- hints from what supervise-daemon.sh passed --------------------------------------

# An option only one range of supervise-daemon.sh passes: a hint when
# neither the version file nor `openrc --version` answers.
HINTS = (
    ("--no_new_privs", (0, 45, 0)),     # 0.45-0.51 (0.52 spells it --no-new-privs)
    ("--ready", (0, 60, 0)),            # 0.60-0.61 (0.62 renamed it --notify)
)


def hinted(argv):
    for word in argv or ():
        if word == "--":
            break
        for opt, version in HINTS:
            if word == opt or word.startswith(opt + "="):
                return version, "%s on its command line" % opt
    return None, None


def choose(svcname, environ=None, pin=None, argv=None, etc="/etc"):
    """The rule set for a service: the pin given (supervise-daemon's own
    --compat), else the administrator's (PIN, see pinned()), else the
    calling OpenRC's version, else a hint from argv, else LEGACY.
    A bad pin is a UserError naming it."""
    env = os.environ if environ is None else environ
    if pin is not None:
        name = parse_pin("--compat", pin)
        if name:
            return rules(name, "--compat %s" % pin.strip())
    else:
        value, where = pinned(svcname, env, etc)
        if value is not None:
            name = parse_pin(PIN, value)
            if name:
                return rules(name, "%s=%s in %s" % (PIN, value, where))
    libexec = env.get("RC_LIBEXECDIR")
    if not libexec:
        from .rcstate import libexecdir
        libexec = libexecdir()
    version = from_libexec(libexec)
    how = "%s/version" % libexec
    if version is None:
        version = from_openrc_command(env)
        how = "openrc --version"
    if version is None:
        version, how = hinted(argv)
    if version is None:
        return rules(LEGACY, "OpenRC's version unknown")
    return rules(rules_name(version), "OpenRC %s (%s)" % (text(version), how))
