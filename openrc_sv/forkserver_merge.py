"""`openrc-sv-forkserver --merge-pages`: let the kernel merge the pages the
supervisors copy from the server and then hold byte-identical.

Most of what a forked supervisor makes private is the same in every
supervisor (reference counts written up and back down, interpreter
globals, bytecode caches).  Kernel same-page merging (KSM) folds identical
pages back into one, copy-on-write, if their mappings are marked
mergeable.  We mark every private writable mapping of the server (the
interpreter's heap and arenas, its and its libraries' data) with
madvise(MADV_MERGEABLE); forked supervisors inherit the marks, their
daemons do not (exec drops them).

Not prctl(PR_SET_MEMORY_MERGE) (Linux 6.4+), although it would also cover
mappings made later: from Linux 6.7 that setting is kept across exec, so
every daemon the supervisors start would be merged as well, and the daemon
must not be changed by the fork server.

We never switch KSM on: that is the administrator's call
(/sys/kernel/mm/ksm/run), since ksmd spends CPU scanning (about 2% of one
core while merging, in our measurements).  Without it the marks are
harmless and we say so once.
"""

import os

MADV_MERGEABLE = 12             # asm-generic/mman-common.h, the same on every architecture
KSM_RUN = "/sys/kernel/mm/ksm/run"


def ksm_run():
    """The content of /sys/kernel/mm/ksm/run ("0", "1", "2"), or None
    where the kernel has no KSM."""
    try:
        with open(KSM_RUN) as f:
            return f.read().strip()
    except OSError:
        return None


def _mergeable_ranges(maps_text):
    """(start, length) of each private writable mapping in a /proc/PID/maps
    text, but the kernel's own ([vvar], [vsyscall] ...)."""
    out = []
    for line in maps_text.splitlines():
        fields = line.split(None, 5)
        if len(fields) < 5:
            continue
        span, perms = fields[0], fields[1]
        name = fields[5].strip() if len(fields) > 5 else ""
        if perms[:2] != "rw" or perms[3:4] != "p":
            continue
        if name.startswith("[") and name not in ("[heap]", "[stack]"):
            continue
        start, end = (int(x, 16) for x in span.split("-"))
        out.append((start, end - start))
    return out


def mark_mergeable():
    """madvise(MADV_MERGEABLE) over this process's private writable
    mappings; returns how many were marked.  OSError(EINVAL) if the kernel
    has no KSM."""
    import ctypes
    import errno
    libc = ctypes.CDLL(None, use_errno=True)
    madvise = libc.madvise
    madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    with open("/proc/self/maps") as f:
        ranges = _mergeable_ranges(f.read())
    marked = 0
    for start, length in ranges:
        if madvise(start, length, MADV_MERGEABLE) == 0:
            marked += 1
            continue
        e = ctypes.get_errno()
        if e == errno.EINVAL:
            raise OSError(e, "the kernel cannot merge pages (no KSM)")
        # ENOMEM: the mapping went away since we read the list.
    return marked


def enable(say):
    """Mark the server's pages; say(line) once what stands in the way, if
    anything.  Never fails the server."""
    run = ksm_run()
    if run is None:
        say("--merge-pages: this kernel has no same-page merging (%s is missing); "
            "carrying on without" % KSM_RUN)
        return False
    try:
        mark_mergeable()
    except OSError as e:
        say("--merge-pages: %s; carrying on without" % (e.strerror or e))
        return False
    if run != "1":
        say("--merge-pages: KSM is not running (%s is %s): pages are marked, but nothing "
            "is merged until it is 1; we never switch it on" % (KSM_RUN, run))
    return True
