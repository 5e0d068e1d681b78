"""What a runit service directory says about its service, read in one place.

RunitBackend.status() and the metrics publishers (the health watcher,
giveup, ./finish through `python -m openrc_sv.promfile --runit`) read the
same files, so `openrc-sv status`, `openrc-sv metrics` and the textfile
agree:

    supervise/status        runsv's: run or not, the daemon's pid, since when
    state/respawn           "FIRST COUNT TOTAL" (./finish): TOTAL respawns
    state/last_exit         "exit N" / "signal N" (./finish)
    state/failed            why ./finish stopped respawning (respawn_max, a
                            stop status, respawn_on): base.down_kind
    state/health            "ok|failing|hidden EPOCH DETAIL" (the health watcher;
                            EPOCH in unix seconds, with milliseconds)
    state/health_runs, state/health_failures   its counts (healthrun.Counts)
    state/watchdog_misses   (none yet: runit has no watchdog)

Lean: the standard library and supervise.py only (the health watcher and
./finish import it).
"""

import os

from . import supervise


def _read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except (OSError, UnicodeDecodeError):
        return None


def _count(path):
    text = _read(path)
    return int(text) if text and text.isdigit() else None


def _number(text):
    try:
        return float(text)
    except ValueError:
        return None


class Facts:
    """The raw facts; None for what is not recorded."""

    def __init__(self, svdir):
        state = os.path.join(svdir, "state")
        self.svdir = svdir
        self.status = supervise.read_status(svdir)
        respawn = (_read(os.path.join(state, "respawn")) or "").split()
        self.restarts = int(respawn[2]) if len(respawn) == 3 and respawn[2].isdigit() else 0
        self.last_exit = _read(os.path.join(state, "last_exit")) or None
        # Why ./finish stopped respawning (the same words it writes to
        # options/SVC/down_reason); base.down_kind reads its kind.
        self.down_reason = (_read(os.path.join(state, "down_reason"))
                            or _read(os.path.join(state, "failed")) or None)
        self.has_watcher = os.path.isdir(os.path.join(svdir, "health"))
        health = (_read(os.path.join(state, "health")) or "").split(None, 2)
        self.health = health[0] if health else None
        self.health_at = _number(health[1]) if len(health) > 1 else None
        self.health_detail = health[2] if len(health) == 3 else None
        self.health_runs = _count(os.path.join(state, "health_runs"))
        self.health_failures = _count(os.path.join(state, "health_failures"))
        self.watchdog_misses = _count(os.path.join(state, "watchdog_misses"))
        if self.has_watcher:
            # A watcher that has run no check yet has counted none.
            self.health_runs = self.health_runs or 0
            self.health_failures = self.health_failures or 0

    @property
    def failed(self):
        """Down for good as a failure (respawn_on letting a clean exit be
        is no failure)."""
        if not self.down_reason:
            return False
        from ..base import DOWN_NOT_RESPAWNED, down_kind
        return down_kind(self.down_reason) not in (None, DOWN_NOT_RESPAWNED)

    @property
    def running(self):
        st = self.status
        return st is not None and st.state == "run" and st.pid is not None

    @property
    def started_at(self):
        """Unix time ./run last started, while the daemon runs."""
        return self.status.since if self.running else None

    def health_now(self):
        """The current daemon's health: pending until its first check
        (a result recorded before it started is its predecessor's)."""
        if not self.has_watcher:
            return None
        if self.health is None:
            return "pending" if self.running else None
        if self.health != "hidden" and self.running and self.health_at is not None \
                and self.health_at < self.status.since:
            return "pending"
        return self.health

    def metric_values(self):
        """The values promfile.render takes (see there)."""
        from ... import promvalues
        return promvalues.values(self.running, self.failed, self.started_at, self.restarts,
                               self.last_exit, self.health_now(), self.health_runs,
                               self.health_failures, self.watchdog_misses)
