"""Whether a daemon that exited is respawned, and after how long: one
policy for every backend.

The native supervisor calls decide() from its exit handler, monit's
launcher from its start program, and runit's ./finish implements the same
steps in sh (backends/runit/templates/finish), checked against this module
by one table of cases (tests/unit/test_respawnpolicy.py), so that the
backends cannot drift.

    settings  Settings: what the variables (or supervise-daemon's options)
              say, already converted (convert.py).
    history   History: what the caller keeps between two exits.
    decide(settings, history, now_ms, exit_code / signum, uptime_ms,
           restart) -> (Decision, History)

The steps, in order:

 1. A restart we asked for (a failed health check) is always respawned.
    Otherwise an exit status or signal in respawn_stop_status stops the
    service for good, failed; so does an exit respawn_on does not respawn
    (`failure`: a non-zero exit or a signal; `signal`: a signal only),
    except that a clean exit (0) stops it without marking it failed.
 2. Counting, as OpenRC's supervise-daemon counts (supervise-daemon.c, its
    respawn loop): the first respawn opens the respawn_period window; a
    respawn after the window closed starts counting afresh (that one
    counts 0); more than respawn_max in the window gives up (failed).
    respawn_period 0: the window never closes.
 3. The delay.  Its growth `level`: without respawn_reset_after, the
    window's count (OpenRC's rule); with it, the respawns since the daemon
    last stayed up at least that long.
      linear (OpenRC): respawn_delay + respawn_delay_step x level, at most
                       respawn_delay_cap when there is a step;
      multiplicative:  respawn_delay x respawn_delay_factor^(level-1),
                       each step rounded up to the next millisecond, at
                       most respawn_delay_cap.

With the defaults (respawn_on=always, no stop status, no factor, no
reset) this is exactly what OpenRC's rule sets do (rcversion.Rules).

Plain classes, integer milliseconds, no imports beyond os and convert: the
long-running supervisor imports this, and ./finish can only do integers.
"""

import os

from . import convert

ALWAYS, FAILURE, SIGNAL = "always", "failure", "signal"
RESPAWN_ON = (ALWAYS, FAILURE, SIGNAL)

RESPAWN = "respawn"     # respawn after delay_ms
STOP = "stop"           # over, not failed (a clean exit respawn_on does not respawn)
FAIL = "fail"           # over, failed (a stop status, or respawn_on)
GIVE_UP = "give up"     # over, failed (more than respawn_max)

FACTOR_SCALE = 1000     # respawn_delay_factor in thousandths: 2 is 2000


class Settings:
    """The respawn settings.  of() reads them off sd_args.Options or a
    backends.model.ServiceModel, which use the same attribute names."""

    __slots__ = ("on", "stop_exits", "stop_signals", "delay_ms", "step_ms", "cap_ms",
                 "factor", "reset_after_ms", "respawn_max", "period_ms")

    def __init__(self, on=ALWAYS, stop_exits=(), stop_signals=(), delay_ms=0, step_ms=0,
                 cap_ms=30000, factor=0, reset_after_ms=0, respawn_max=10, period_ms=0):
        self.on = on
        self.stop_exits = frozenset(stop_exits)
        self.stop_signals = frozenset(stop_signals)
        self.delay_ms = delay_ms
        self.step_ms = step_ms
        self.cap_ms = cap_ms
        self.factor = factor                # thousandths; 0: linear (the step)
        self.reset_after_ms = reset_after_ms  # 0: the window's count is the level
        self.respawn_max = respawn_max      # 0: never give up
        self.period_ms = period_ms          # 0: the whole lifetime

    @classmethod
    def of(cls, o):
        return cls(on=getattr(o, "respawn_on", ALWAYS) or ALWAYS,
                   stop_exits=getattr(o, "respawn_stop_exits", ()) or (),
                   stop_signals=getattr(o, "respawn_stop_signals", ()) or (),
                   delay_ms=o.respawn_delay_ms or 0,
                   step_ms=o.respawn_delay_step_ms or 0,
                   cap_ms=o.respawn_delay_cap_ms or 0,
                   factor=getattr(o, "respawn_delay_factor", 0) or 0,
                   reset_after_ms=getattr(o, "respawn_reset_after_ms", 0) or 0,
                   respawn_max=o.respawn_max or 0,
                   period_ms=o.respawn_period_ms or 0)


class History:
    """What is kept between two exits: OpenRC's first_spawn (ms, 0: no
    window open) and respawn_count, every respawn since the start, and the
    delay's growth level."""

    __slots__ = ("first_ms", "count", "total", "level")

    def __init__(self, first_ms=0, count=0, total=0, level=0):
        self.first_ms, self.count, self.total, self.level = first_ms, count, total, level

    def __eq__(self, other):
        return isinstance(other, History) and self.astuple() == other.astuple()

    def astuple(self):
        return self.first_ms, self.count, self.total, self.level

    def __repr__(self):
        return "History(%d, %d, %d, %d)" % self.astuple()


class Decision:
    __slots__ = ("action", "delay_ms", "reason")

    def __init__(self, action, delay_ms=0, reason=""):
        self.action = action
        self.delay_ms = delay_ms
        self.reason = reason            # why it is over: down_reason, syslog, status

    @property
    def over(self):
        return self.action != RESPAWN

    @property
    def failed(self):
        return self.action in (FAIL, GIVE_UP)

    def __repr__(self):
        return "Decision(%s, %d, %r)" % (self.action, self.delay_ms, self.reason)


def describe(exit_code=None, signum=None):
    """'exit 78' or 'signal ABRT': how the reasons name a status; None
    when neither is known (monit never sees its daemon's exit)."""
    if signum is None and exit_code is None:
        return None
    if signum is not None:
        return "signal %s" % convert.signal_name(signum)
    return "exit %d" % exit_code


def delay_for(s, level):
    """The wait before a respawn at growth level `level` (0 or more)."""
    if s.factor:
        delay = s.delay_ms
        for _ in range(level - 1):
            if s.cap_ms and delay >= s.cap_ms:
                break
            delay = -(-delay * s.factor // FACTOR_SCALE)     # rounded up: it always grows
        return min(delay, s.cap_ms) if s.cap_ms else delay
    delay = s.delay_ms + s.step_ms * level
    if s.step_ms and delay > s.cap_ms:
        delay = s.cap_ms
    return delay


def give_up_reason(s):
    """The respawn_max reason, as ./finish has it rendered in."""
    within = " within %s" % convert.format_ms(s.period_ms) if s.period_ms else ""
    return "respawned more than %d times%s" % (s.respawn_max, within)


def decide(s, h, now_ms, exit_code=None, signum=None, uptime_ms=None, restart=False):
    """(Decision, the History to keep).  exit_code or signum says how the
    daemon ended (signum wins: runsv gives -1 and the signal); uptime_ms
    how long it ran (None: unknown, then the level is not reset); restart:
    we stopped it to restart it (a failed health check).  With neither
    status given, only counting and the delay apply."""
    last = describe(exit_code, signum)
    if not restart and last is not None:
        if (signum is not None and signum in s.stop_signals) or \
                (signum is None and exit_code in s.stop_exits):
            return Decision(FAIL, 0, "stop status: %s" % last), h
        if (s.on == FAILURE and signum is None and exit_code == 0) or \
                (s.on == SIGNAL and signum is None):
            action = STOP if exit_code == 0 else FAIL
            return Decision(action, 0, "not respawned: %s (respawn_on=%s)" % (last, s.on)), h
    first, count = h.first_ms, h.count
    if first == 0:
        first = now_ms
    if s.period_ms and now_ms - first > s.period_ms:
        first, count = 0, 0         # the window is over: this one opens no new count
    else:
        count += 1
    total = h.total + 1
    if s.reset_after_ms:
        level = h.level
        if uptime_ms is not None and uptime_ms >= s.reset_after_ms:
            level = 0
        level += 1
    else:
        level = count
    new = History(first, count, total, level)
    if s.respawn_max and count > s.respawn_max:
        return Decision(GIVE_UP, 0, give_up_reason(s) + (" (last: %s)" % last if last else "")), new
    return Decision(RESPAWN, delay_for(s, level)), new


def decide_status(s, h, now, status, started_at, restart=False):
    """decide() for a wait status (os.waitpid's) at monotonic time `now`,
    for a daemon spawned at started_at (None: unknown): the one way a
    supervisor turns its daemon's exit into a decision, whether the full
    Supervisor takes it or a lean one before it is built (leanstart)."""
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
    sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
    uptime = int((now - started_at) * 1000) if started_at is not None else None
    return decide(s, h, int(now * 1000), exit_code=code, signum=sig, uptime_ms=uptime,
                  restart=restart)


# -- checking settings that only make sense together --------------------------------

def check(s, names, step_given):
    """Refuse combinations that cannot mean what was meant; names maps
    'delay', 'step', 'cap', 'factor' to the variable or option the user
    wrote (respawn_delay or --respawn-delay).  A UserError naming it."""
    from .errors import UserError
    if not s.factor:
        return
    head = "%s: '%s'" % (names["factor"], convert.format_factor(s.factor))
    if step_given:
        raise UserError("%s cannot be combined with %s (choose one way for the delay to "
                        "grow: a factor or a step)" % (head, names["step"]))
    if not s.delay_ms:
        raise UserError("%s needs %s above 0: the first delay, which the factor "
                        "multiplies (such as 100ms)" % (head, names["delay"]))
    if not s.cap_ms:
        raise UserError("%s needs %s above 0: the longest delay (such as 1min)"
                        % (head, names["cap"]))


# Backends that never learn how their daemon ended, and why.
NO_EXIT_STATUS = {"monit": "monit restarts a daemon whose exit status it never sees"}


def refuse_status_policy(s, backend):
    """For a backend in NO_EXIT_STATUS: a UserError naming the first
    setting that needs the exit status, None when neither is set."""
    from .errors import UserError
    why = NO_EXIT_STATUS[backend]
    for name, is_set, value in (
            ("respawn_on", s.on != ALWAYS, s.on),
            ("respawn_stop_status", bool(s.stop_exits or s.stop_signals),
             convert.format_statuses(s.stop_exits, s.stop_signals))):
        if is_set:
            raise UserError("%s: '%s' is not supported with sv_backend=%s (%s); use "
                            "sv_backend=native or runit" % (name, value, backend, why))


VARIABLE_NAMES = {"delay": "respawn_delay", "step": "respawn_delay_step",
                  "cap": "respawn_delay_cap", "factor": "respawn_delay_factor"}
OPTION_NAMES = {"delay": "--respawn-delay", "step": "--respawn-delay-step",
                "cap": "--respawn-delay-cap", "factor": "--respawn-delay-factor"}
