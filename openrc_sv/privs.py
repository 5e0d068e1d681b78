"""Linux process attributes that need system calls the os module lacks:
capabilities (cap_iab text), secure bits, no_new_privs, I/O priority.

Used only in the forked child between fork and exec (ctypes is imported
there, never in the supervisor) and by the option parser to validate
--capabilities text.
"""

import os
import platform

from .errors import UserError

# Linux capability numbers (linux/capability.h).
CAPS = ("chown dac_override dac_read_search fowner fsetid kill setgid setuid setpcap "
        "linux_immutable net_bind_service net_broadcast net_admin net_raw ipc_lock "
        "ipc_owner sys_module sys_rawio sys_chroot sys_ptrace sys_pacct sys_admin "
        "sys_boot sys_nice sys_resource sys_time sys_tty_config mknod lease audit_write "
        "audit_control setfcap mac_override mac_admin syslog wake_alarm block_suspend "
        "audit_read perfmon bpf checkpoint_restore").split()

PR_SET_KEEPCAPS = 8
PR_CAPBSET_DROP = 24
PR_SET_SECUREBITS = 28
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2

# ioprio_set(2) has no libc wrapper; its number depends on the architecture.
_IOPRIO_SET = {"x86_64": 251, "aarch64": 30, "riscv64": 30, "i686": 289, "i386": 289,
               "armv7l": 314, "ppc64le": 273, "s390x": 282, "loongarch64": 30}


def parse_iab(what, text):
    """cap_iab(3) text -> (inheritable, ambient, drop_bounding) sets of numbers.

    Each comma-separated entry is a capability name (cap_ prefix optional),
    prefixed by '!' (drop from the bounding set), '^' (ambient, hence also
    inheritable) or '%' / nothing (inheritable).
    """
    inh, amb, drop = set(), set(), set()
    for entry in text.split(","):
        e = entry.strip().lower()
        flags = ""
        while e[:1] in ("!", "^", "%"):
            flags += e[0]
            e = e[1:]
        name = e[4:] if e.startswith("cap_") else e
        if name not in CAPS:
            raise UserError("%s: invalid value '%s' (unknown capability '%s'; "
                            "see capabilities(7), e.g. ^cap_net_bind_service)" % (what, text, entry.strip()))
        n = CAPS.index(name)
        if "!" in flags:
            drop.add(n)
        if "^" in flags:
            amb.add(n)
            inh.add(n)
        if "%" in flags or not flags:
            inh.add(n)
    return inh, amb, drop


def _libc():
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    return ctypes, libc


def _check(ctypes, rc, what):
    if rc != 0:
        e = ctypes.get_errno()
        raise OSError(e, "%s: %s" % (what, os.strerror(e)))


def prctl(option, arg2=0, arg3=0):
    ctypes, libc = _libc()
    _check(ctypes, libc.prctl(option, ctypes.c_ulong(arg2), ctypes.c_ulong(arg3), 0, 0), "prctl")


def set_ionice(cls, data, pid=0):
    """ioprio_set for process pid (0: this one)."""
    nr = _IOPRIO_SET.get(platform.machine())
    if nr is None:
        raise OSError(0, "ionice is not supported on %s" % platform.machine())
    ctypes, libc = _libc()
    # IOPRIO_WHO_PROCESS = 1, class in the top bits (shift 13).
    _check(ctypes, libc.syscall(nr, 1, pid, (cls << 13) | data), "ioprio_set")


def before_setuid(iab):
    """Drop bounding capabilities and keep the permitted set across setuid,
    so that inheritable/ambient ones can be raised afterwards."""
    if iab is None:
        return
    for n in iab[2]:
        prctl(PR_CAPBSET_DROP, n)
    if iab[0] or iab[1]:
        prctl(PR_SET_KEEPCAPS, 1)


def after_setuid(iab):
    """Set the inheritable set, then raise the ambient capabilities."""
    if iab is None or not (iab[0] or iab[1]):
        return
    ctypes, libc = _libc()

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                    ("inheritable", ctypes.c_uint32)]

    hdr = Header(0x20080522, 0)          # _LINUX_CAPABILITY_VERSION_3
    data = (Data * 2)()
    _check(ctypes, libc.capget(ctypes.byref(hdr), data), "capget")
    for n in iab[0]:
        data[n // 32].inheritable |= 1 << (n % 32)
        data[n // 32].effective |= 1 << (n % 32) if data[n // 32].permitted & (1 << (n % 32)) else 0
    _check(ctypes, libc.capset(ctypes.byref(hdr), data), "capset")
    for n in iab[1]:
        prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, n)
