"""Writing and removing what a backend rendered.

Renderers are pure; this is the one place their files reach the disk:
each file is written atomically (temp file, fsync, rename), so a runsv or
monit reading it never sees half a file.
"""

import os


def write(files):
    """Write RenderedFiles atomically; returns the paths written.  On any
    failure nothing is left: neither a temp file nor the files written
    before it; the OSError names the file that could not be written."""
    done = []
    try:
        for f in files:
            os.makedirs(os.path.dirname(f.path), 0o755, exist_ok=True)
            _write_one(f)
            done.append(f.path)
    except BaseException:
        remove(done)
        raise
    return done


def _write_one(f):
    # A dot-name: a reader globbing the directory (monit's `include DIR/*`)
    # must not pick up a half-written file.  New (O_EXCL) and unguessable:
    # nothing planted under a predicted name is written through.
    head, tail = os.path.split(f.path)
    tmp = os.path.join(head, ".%s.tmp.%s" % (tail, os.urandom(6).hex()))
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     f.mode)
    except OSError as e:
        raise OSError(e.errno, e.strerror, f.path)
    try:
        try:
            data = f.content.encode()
            while data:
                data = data[os.write(fd, data):]
            os.fchmod(fd, f.mode)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, f.path)
    except OSError as e:
        remove([tmp])
        raise OSError(e.errno, e.strerror, f.path)
    except BaseException:
        remove([tmp])
        raise


def remove(paths):
    for p in paths:
        try:
            os.unlink(p)
        except FileNotFoundError:
            pass
