"""Writing and removing what a backend rendered.

Renderers are pure; this is the one place their files reach the disk:
each file is written atomically (temp file, fsync, rename), so a runsv or
monit reading it never sees half a file.
"""

import os


def write(files):
    """Write RenderedFiles atomically; returns the paths written."""
    done = []
    try:
        for f in files:
            os.makedirs(os.path.dirname(f.path), 0o755, exist_ok=True)
            # A dot-name: a reader globbing the directory (monit's
            # `include DIR/*`) must not pick up a half-written file.
            head, tail = os.path.split(f.path)
            tmp = os.path.join(head, ".%s.tmp.%d" % (tail, os.getpid()))
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, f.mode)
            try:
                os.write(fd, f.content.encode())
                os.fchmod(fd, f.mode)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.rename(tmp, f.path)
            done.append(f.path)
    except BaseException:
        remove(done)
        raise
    return done


def remove(paths):
    for p in paths:
        try:
            os.unlink(p)
        except FileNotFoundError:
            pass
