"""Signals, without the `signal` module's enums.

`import signal` pulls in enum, functools and collections: about 5 ms, paid
by every `supervise-daemon` run (each rc-service start and stop) and
memory in every supervisor.  The C module underneath has all we use, with
plain numbers.  Everything in openrc-sv that runs in the supervisor or the
drop-in imports signals from here.
"""

from _signal import *  # noqa: F401,F403  (SIGTERM, signal(), set_wakeup_fd(), ...)
import _signal

# Also in _signal but spelled SIG*: not signals.
_NOT_SIGNALS = ("SIG_DFL", "SIG_IGN", "SIG_BLOCK", "SIG_UNBLOCK", "SIG_SETMASK", "SIGRTMIN", "SIGRTMAX")

NUMBERS = {}
for _name in dir(_signal):
    if _name.startswith("SIG") and _name not in _NOT_SIGNALS:
        NUMBERS[_name] = getattr(_signal, _name)
# Several names may share a number (SIGIOT/SIGABRT, SIGPOLL/SIGIO, SIGCLD/SIGCHLD):
# the name shown is the usual one.
_PREFERRED = {"SIGIOT": "SIGABRT", "SIGPOLL": "SIGIO", "SIGCLD": "SIGCHLD"}
NAMES = {}
for _name, _num in sorted(NUMBERS.items()):
    NAMES.setdefault(_num, _PREFERRED.get(_name, _name))
    if _name in _PREFERRED.values():
        NAMES[_num] = _name
del _name, _num
