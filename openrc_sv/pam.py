"""A PAM session for the daemon's user, as OpenRC's supervise-daemon opens one.

OpenRC's C supervisor, when built with PAM (Debian's and Gentoo's are; its
binary links libpam), does this in the daemon's child whenever --user is
given (command_user), root or not, before it changes groups and ids:

    pam_start("supervise-daemon", USER, {no conversation})
    pam_acct_mgmt(PAM_SILENT)
    pam_open_session(PAM_SILENT)
    ...
    every pam_getenvlist() entry goes into the environment ("NAME=VALUE"
    sets it, overriding --env and HOME/USER; a bare "NAME" unsets it)
    execvp()   -- the session is never closed: the daemon lives in it
    pam_close_session() only if the exec failed

No pam_setcred, no pam_end.  The service name is "supervise-daemon":
Gentoo ships /etc/pam.d/supervise-daemon (session optional pam_limits.so,
so limits.conf applies to daemons); elsewhere PAM falls back to
/etc/pam.d/other (Debian: pam_unix account and session).  Any failure ends
the child with "pam error: <pam_strerror>".

This module does the same through ctypes, in the forked child only (the
supervisor never imports ctypes).  Without libpam.so.0, or where OpenRC's
own binary was built without PAM (openrc_uses_pam), it does nothing, as
that build does.
"""

import os

SERVICE = "supervise-daemon"
PAM_SUCCESS = 0
PAM_SILENT = 0x8000

# The open session's handle: kept so that a failed exec can close it (and
# so that nothing frees what the daemon's session belongs to before exec).
_open = None


class PamError(OSError):
    """One line: which step failed and PAM's own reason."""


# Where distributions install OpenRC's own supervise-daemon (ours, when
# `openrc-sv setup --supervise-daemon` ran, is $RC_LIBEXECDIR/sbin's).
C_BINARIES = ("/sbin/supervise-daemon", "/usr/sbin/supervise-daemon",
              "/bin/supervise-daemon", "/usr/bin/supervise-daemon")


def openrc_uses_pam(paths=C_BINARIES):
    """Would the OpenRC binary we stand in for open a PAM session?  Only a
    build with PAM does (meson -Dpam=true: Debian's and Gentoo's link
    libpam, a build without it does not), and OpenRC's supervise-daemon is
    installed beside ours: the first one found says, by whether it names
    libpam among its libraries.  None found: yes, as the common builds."""
    for path in paths:
        try:
            with open(path, "rb") as f:
                data = f.read(4 << 20)
        except OSError:
            continue
        if b"openrc-sv launcher" in data[:4096] or not data.startswith(b"\x7fELF"):
            continue        # ours, or a script: not OpenRC's binary
        return b"libpam.so" in data
    return True


def load():
    """(ctypes, libpam or None where there is none, or where OpenRC's own
    binary was built without PAM).  Called before a chroot: the library
    comes from the host, as the C binary's is linked in."""
    import ctypes
    if not openrc_uses_pam():
        return ctypes, None
    try:
        lib = ctypes.CDLL("libpam.so.0")
    except OSError:
        return ctypes, None
    vp, cp = ctypes.c_void_p, ctypes.c_char_p
    lib.pam_start.argtypes = [cp, cp, vp, ctypes.POINTER(vp)]
    lib.pam_start.restype = ctypes.c_int
    if hasattr(lib, "pam_start_confdir"):
        lib.pam_start_confdir.argtypes = [cp, cp, vp, cp, ctypes.POINTER(vp)]
        lib.pam_start_confdir.restype = ctypes.c_int
    for name in ("pam_acct_mgmt", "pam_open_session", "pam_close_session"):
        getattr(lib, name).argtypes = [vp, ctypes.c_int]
        getattr(lib, name).restype = ctypes.c_int
    lib.pam_strerror.argtypes = [vp, ctypes.c_int]
    lib.pam_strerror.restype = cp
    lib.pam_getenvlist.argtypes = [vp]
    lib.pam_getenvlist.restype = ctypes.POINTER(cp)
    return ctypes, lib


def open_session(loaded, user, service=SERVICE, confdir=None):
    """Start PAM for `user`, check the account, open the session.

    Returns the environment PAM gives the daemon: [(NAME, VALUE or None)]
    in PAM's order (None: unset NAME).  Raises PamError; returns [] when
    there is no libpam.  confdir (tests only) reads the service's file from
    that directory instead of /etc/pam.d (pam_start_confdir, Linux-PAM 1.4+)."""
    global _open
    ctypes, lib = loaded
    if lib is None:
        return []

    class Conv(ctypes.Structure):
        # No conversation function, as OpenRC: a module that asks
        # something fails rather than waiting for an answer.
        _fields_ = [("conv", ctypes.c_void_p), ("appdata_ptr", ctypes.c_void_p)]

    conv = Conv(None, None)
    handle = ctypes.c_void_p()
    if confdir is None:
        rc = lib.pam_start(service.encode(), user.encode(), ctypes.byref(conv),
                           ctypes.byref(handle))
    else:
        rc = lib.pam_start_confdir(service.encode(), user.encode(), ctypes.byref(conv),
                                   os.fsencode(confdir), ctypes.byref(handle))
    if rc == PAM_SUCCESS:
        rc = lib.pam_acct_mgmt(handle, PAM_SILENT)
    if rc == PAM_SUCCESS:
        rc = lib.pam_open_session(handle, PAM_SILENT)
    if rc != PAM_SUCCESS:
        reason = lib.pam_strerror(handle, rc)
        raise PamError(0, (reason or b"error %d" % rc).decode(errors="replace"))
    _open = (lib, handle, conv)
    # The list is malloc'd for us; the child execs at once, so it is not freed.
    env = []
    listed = lib.pam_getenvlist(handle)
    i = 0
    while listed and listed[i] is not None:
        item = os.fsdecode(listed[i])
        name, eq, value = item.partition("=")
        env.append((name, value if eq else None))
        i += 1
    return env


def close_session():
    """The exec failed: close the session, as OpenRC does (best effort)."""
    global _open
    if _open is not None:
        lib, handle, _ = _open
        _open = None
        lib.pam_close_session(handle, PAM_SILENT)
