"""prctl(PR_SET_CHILD_SUBREAPER) without the ctypes package.

The supervisor forks short-lived workers to start its daemon and loggers
(see worker.py); a process they start must become the supervisor's child
when the worker exits, not init's.  A child subreaper gets them: the kernel
re-parents an orphan to its nearest subreaper ancestor.

`import ctypes` costs a process that has not imported it about 1.4 MB of
private memory (its module builds a hundred classes), and prctl is all we
need from it.  The C module _ctypes alone, with one function pointer type,
costs much less, and nothing in a process forked from one that built it
already: prepare() builds it (the fork server calls worker.prepare()).
Otherwise it is built on first use, without the import machinery (this
module is imported wherever worker.py is).
"""

PR_SET_CHILD_SUBREAPER = 36

_prctl = None
_tried = False


def prepare():
    """Build the prctl call; True if there is one (_ctypes and prctl)."""
    global _prctl, _tried
    if not _tried:
        _tried = True
        try:
            import _ctypes

            class Int(_ctypes._SimpleCData):
                _type_ = "i"

            class Function(_ctypes.CFuncPtr):
                _flags_ = _ctypes.FUNCFLAG_CDECL
                _restype_ = Int

            class Process:
                # Where CFuncPtr((name, library)) looks the symbol up: this
                # process's global symbols, libc's among them.
                _handle = _ctypes.dlopen(None)

            _prctl = Function(("prctl", Process()))
        except (ImportError, AttributeError, OSError):
            _prctl = None
    return _prctl is not None


def set(on):
    """Be (or stop being) a child subreaper; False if the kernel said no."""
    return _prctl(PR_SET_CHILD_SUBREAPER, 1 if on else 0, 0, 0, 0) == 0
