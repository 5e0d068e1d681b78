"""The one small interface every supervision backend implements.

A backend turns a ServiceModel (openrc_sv.backends.model) into files
(``render``, pure: it returns RenderedFile objects and touches no disk) and
drives its real tool to start, stop, query and signal the service.

Errors a user can fix are raised as openrc_sv.errors.UserError with one line
saying what to fix.  ``start`` must leave nothing behind when it fails: no
rendered file, no link, no process.
"""

from .. import statekeys
from .record import REQUIRED, Record, new


class RenderedFile(Record):
    """One file a backend would write (immutable, hashable)."""
    RECORD_FIELDS = (("path", REQUIRED),       # absolute path the file would be written to
                     ("content", REQUIRED),
                     ("mode", 0o644))

    def __setattr__(self, name, value):
        raise AttributeError("a RenderedFile cannot be changed (%s)" % name)

    def __hash__(self):
        return hash(self._values())


# -- what every backend reports the same way ---------------------------------------
#
# `openrc-sv status`, its --json and `openrc-sv metrics` show the same
# fields for every backend; each backend's status() fills them from what
# its supervisor records, and the texts are normalised here, once.

# Health of the current daemon (Status.health; None: no health check).
HEALTH_OK = "ok"              # its last check passed
HEALTH_FAILING = "failing"    # its last check failed (a restart follows)
HEALTH_PENDING = "pending"    # not checked yet since it (re)started
HEALTH_HIDDEN = "hidden"      # extra_commands hides healthcheck: checks are off
HEALTH_UNKNOWN = "unknown"    # the backend could not say (monit not answering)
HEALTH_WATCHDOG = "watchdog"  # a watchdog interval was missed: a restart follows

# Why a service is down for good (Status.down_reason, a kind below, and
# Status.down_detail, the words recorded).  The record is one line of text
# for people, written by whatever stopped respawning the daemon (the
# supervisor, runit's ./finish, monit's launcher; see respawnpolicy):
# options/SVC/down_reason (statekeys.DOWN_REASON; written after the stopped
# mark, which empties options/SVC; a start clears it), SVDIR/state/failed
# (runit), STATE_DIR/gave-up or down_reason (monit).  The kind is read
# from its words (down_kind), so that every writer needs only the text.
DOWN_REASON_KEY = statekeys.DOWN_REASON
DOWN_GAVE_UP = "gave-up"              # respawn_max reached within respawn_period
DOWN_STOP_STATUS = "stop-status"      # exited with a stop-for-good status or signal
DOWN_NOT_RESPAWNED = "not-respawned"  # respawn_on said no (e.g. a clean exit): not failed
DOWN_WATCHDOG = "watchdog"            # given up after watchdog misses
DOWN_OTHER = "other"                  # a text none of these rules knows
DOWN_REASONS = (DOWN_GAVE_UP, DOWN_STOP_STATUS, DOWN_NOT_RESPAWNED, DOWN_WATCHDOG, DOWN_OTHER)

# How each kind is said (the first rule that matches; case ignored).
_DOWN_WORDS = (
    (DOWN_WATCHDOG, ("watchdog",)),
    (DOWN_STOP_STATUS, ("stop status", "stop-status", "respawn_stop_status")),
    (DOWN_NOT_RESPAWNED, ("not respawned", "not-respawned")),
    (DOWN_GAVE_UP, ("respawned more than", "too many times", "gave up", "giving up",
                    "gave-up")),
)

# Counters the supervisors and health runners keep, as options/SVC keys
# (native) or files of the same names in the backend's state directory
# (runit: SVDIR/state/, monit: its state dir).  Decimal integers counting
# since the service was started (a start resets them).  Absent: the
# backend does not count it (status shows "-", metrics leave it out).
HEALTH_RUNS_KEY = statekeys.HEALTH_RUNS
HEALTH_FAILURES_KEY = statekeys.HEALTH_FAILURES
WATCHDOG_MISSES_KEY = statekeys.WATCHDOG_MISSES


def down_kind(text):
    """The kind (DOWN_*) of a recorded reason, or None for none."""
    text = " ".join((text or "").split())
    if not text:
        return None
    low = text.lower()
    for kind, words in _DOWN_WORDS:
        if any(w in low for w in words):
            return kind
    return DOWN_OTHER


def normalise_exit(text):
    """One spelling of a last exit for every backend: "exit N" or "signal
    NAME" (TERM, KILL; a number only for a signal without a name), with any
    note after it kept ("exit 0; forked into the background ...").  runit's
    ./finish writes "signal 15", our supervisor "signal TERM"; None stays
    None."""
    if text is None:
        return None
    text = str(text).strip()
    if not text:
        return None
    head, sep, rest = text.partition(";")
    words = head.split()
    if len(words) == 2 and words[0] == "signal":
        name = words[1].upper()
        if name.isdigit():
            from ..convert import signal_name
            name = signal_name(int(name))
        elif name.startswith("SIG"):
            name = name[3:]
        head = "signal %s" % name
    elif len(words) == 2 and words[0] == "exit" and words[1].lstrip("-").isdigit():
        head = "exit %d" % int(words[1])
    return head + sep + rest


def health_of(result, checked_at, started_at):
    """The health of the current daemon from a backend's last recorded
    check: `result` (ok | failing | hidden | ...), when it was recorded
    (unix seconds, None if unknown) and when the daemon started (unix
    seconds, None if not running).  A result older than the daemon belongs
    to one before it: pending until the first check of this one."""
    if result is None:
        return HEALTH_PENDING if started_at is not None else None
    if result in (HEALTH_HIDDEN, HEALTH_PENDING, HEALTH_UNKNOWN):
        return result
    if started_at is not None and checked_at is not None and checked_at < started_at:
        return HEALTH_PENDING
    return result


class Status(Record):
    """What `openrc-sv status` (and --json, and `openrc-sv metrics`) shows,
    and what maps to OpenRC's exit codes.  Fields a backend does not know
    stay None (shown as "-", omitted from metrics), never a made-up 0."""
    RECORD_FIELDS = (
        ("service", REQUIRED),
        ("backend", REQUIRED),
        ("state", REQUIRED),        # started | stopped | crashed | failed | starting | unsupervised
        ("pid", None),              # the daemon's pid
        ("supervisor_pid", None),
        ("uptime", None),           # seconds since the daemon's current start
        ("restarts", None),
        ("last_exit", None),        # "exit 3" / "signal KILL" (normalise_exit)
        ("health", None),           # HEALTH_*, None: no health check
        ("health_runs", None),
        ("health_failures", None),
        ("watchdog_misses", None),
        ("down_reason", None),      # DOWN_*, None while it may run
        ("down_detail", None),      # the text recorded, as written
        ("detail", new(dict)),      # backend-specific name -> text
    )

    # OpenRC's status exit codes (sh/supervise-daemon.sh, supervise_status)
    EXIT_CODES = {"started": 0, "stopped": 3, "starting": 8, "crashed": 32,
                  "failed": 32, "unsupervised": 64}

    # What as_dict() shows, in its order (started_at is computed).
    FIELDS = ("service", "backend", "state", "pid", "supervisor_pid", "uptime", "started_at",
              "restarts", "last_exit", "health", "health_runs", "health_failures",
              "watchdog_misses", "down_reason", "down_detail")

    @property
    def last_exit(self):
        return self._last_exit

    @last_exit.setter
    def last_exit(self, text):
        # One spelling, whenever a backend sets it: at construction or
        # after (runit's status fills it in from ./finish's "signal 15").
        self._last_exit = normalise_exit(text)

    @property
    def exit_code(self):
        return self.EXIT_CODES.get(self.state, 1)

    @property
    def started_at(self):
        """Unix time of the daemon's current start, from its uptime."""
        if self.uptime is None:
            return None
        import time
        return time.time() - self.uptime

    def set_down_reason(self, text):
        text = " ".join((text or "").split())
        self.down_reason, self.down_detail = down_kind(text), (text or None)

    @property
    def failed(self):
        """Down for good as a failure (not a clean exit respawn_on let be)."""
        return self.state == "failed" or self.down_reason not in (None, DOWN_NOT_RESPAWNED)

    def as_dict(self):
        d = {k: getattr(self, k) for k in self.FIELDS}
        d.update(self.detail)
        return d


class Backend:
    """Base class: subclasses set ``name`` and implement the five verbs."""

    name = "?"
    # Can the backend run a user's own services (OpenRC's user mode:
    # RC_USER_SERVICES=yes)?  Only one that keeps every file in the user's
    # service dir and runs nothing as root on the user's files may say so;
    # the others are refused in user mode, in one line (evaluate.backend_for).
    user_services = False

    def __init__(self, model):
        self.model = model

    def render(self):
        """[RenderedFile]: the files start would write."""
        raise NotImplementedError

    def start(self):
        raise NotImplementedError

    def stop(self):
        raise NotImplementedError

    def status(self):
        """A Status."""
        raise NotImplementedError

    def signal(self, signum):
        raise NotImplementedError

    def reload(self) -> None:
        """Deliver the reload signal (reload_signal=, default HUP) to the daemon."""
        self.signal(self.model.reload_signal)
