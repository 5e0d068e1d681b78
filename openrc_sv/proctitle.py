"""Give this process another command line, as /proc/PID/cmdline (and so
`ps`) shows it.

The native backend runs our supervise-daemon inside the `openrc-sv`
process and the supervisor is forked from it (backends/native.py): left
alone, it would show `python -I -S -c <the plugin's code> start --model -
SVC`, where a supervisor has always shown `... supervise-daemon SVC
--start ...`, the words people, our tests and supervise_daemon's own
recognition of a supervisor by its command line (supervisor_alive) look
for.

Linux shows a process's argument area, [arg_start, arg_end) of its memory
(fields 48 and 49 of /proc/self/stat), as it is now: we write the new words
there, through /proc/self/mem, as setproctitle(3) does in C.  The area
keeps its size: words that do not fit are left off (whole words only), and
the rest is NULs, which /proc shows as empty words at the end; when not
even the words that matter fit (a short command line: `openrc-sv start
SVC` typed by hand), the old line stays.  The
interpreter took its copy of argv at start-up and never reads the area
again.  Where the write is refused (a kernel or security module that
forbids it) the old command line stays: nothing else depends on it.
"""

import os


def _arg_area():
    fd = os.open("/proc/self/stat", os.O_RDONLY | os.O_CLOEXEC)
    try:
        data = os.read(fd, 4096)
    finally:
        os.close(fd)
    fields = data[data.rindex(b")") + 2:].split()
    return int(fields[45]), int(fields[46])     # arg_start, arg_end


def fit(words, size, need=1):
    """The bytes for an argument area of SIZE: NUL-terminated words, as
    many whole ones as fit, NUL-padded.  None if the first NEED do not."""
    out = b""
    n = 0
    for w in words:
        w = os.fsencode(w) + b"\0"
        if len(out) + len(w) > size:
            break
        out += w
        n += 1
    if n < max(need, 1):
        return None
    return out + b"\0" * (size - len(out))


def prepared(choices):
    """(address, bytes) that make this process's command line the first of
    CHOICES, (words, need) pairs, whose first NEED words fit; None if
    none does.  Worked out here, written by write(): in a process forked
    from this one too, whose argument area is the same (the fork server's
    supervisor: leanstart), so that it only has to write."""
    try:
        start, end = _arg_area()
    except (OSError, ValueError, IndexError):
        return None
    for words, need in choices:
        data = fit(words, end - start, need)
        if data is not None:
            return start, data
    return None


def write(start, data):
    try:
        fd = os.open("/proc/self/mem", os.O_WRONLY | os.O_CLOEXEC)
        try:
            return os.pwrite(fd, data, start) == len(data)
        finally:
            os.close(fd)
    except (OSError, OverflowError):
        return False


def set_words(words, need=1):
    """Show WORDS as this process's command line, or at least its first
    NEED words (else the old line stays); False if it could not."""
    try:
        found = prepared([(words, need)])
    except (OSError, ValueError, IndexError, OverflowError):
        return False
    return found is not None and write(*found)
