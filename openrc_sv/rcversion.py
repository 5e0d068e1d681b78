"""Which OpenRC called us, as a (major, minor, patch) tuple.

A drop-in must behave like the binary it replaces, and OpenRC's binary
changed its defaults between releases (issue 9 §2), so we ask, in order:

  1. $RC_LIBEXECDIR/version: one line, "0.45.2", installed by every
     OpenRC build we know of (Debian, Alpine, Gentoo, upstream meson);
  2. `openrc --version`: "openrc (OpenRC) 0.63.3" (the part in parentheses
     is the vendor, e.g. "OpenRC [DOCKER]"), only if the file is missing.

None when neither answers.  Only cheap built-in modules are imported at
the top: the long-running supervisor imports this.
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


def from_openrc_command(environ=None):
    import subprocess
    env = dict(os.environ if environ is None else environ)
    env.setdefault("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
    try:
        out = subprocess.run(["openrc", "--version"], stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             env=env, timeout=5, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return parse(out.decode(errors="replace"))


def detect(libexec=None, environ=None):
    """The calling OpenRC's version, or None if it cannot be told."""
    if libexec is None:
        from .rcstate import libexecdir
        libexec = libexecdir()
    return from_libexec(libexec) or from_openrc_command(environ)


def text(version):
    return "unknown" if version is None else "%d.%d.%d" % version
