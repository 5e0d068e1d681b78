"""The one small interface every supervision backend implements.

A backend turns a ServiceModel (openrc_sv.backends.model) into files
(``render``, pure: it returns RenderedFile objects and touches no disk) and
drives its real tool to start, stop, query and signal the service.

Errors a user can fix are raised as openrc_sv.errors.UserError with one line
saying what to fix.  ``start`` must leave nothing behind when it fails: no
rendered file, no link, no process.
"""

from dataclasses import dataclass, field
from typing import Dict, List, Optional


@dataclass(frozen=True)
class RenderedFile:
    path: str            # absolute path the file would be written to
    content: str
    mode: int = 0o644


@dataclass
class Status:
    """What `openrc-sv status` shows, and what maps to OpenRC's exit codes."""
    service: str
    backend: str
    state: str                      # started | stopped | crashed | failed | starting | unsupervised
    pid: Optional[int] = None       # the daemon's pid
    supervisor_pid: Optional[int] = None
    uptime: Optional[float] = None  # seconds since the daemon's current start
    restarts: Optional[int] = None
    last_exit: Optional[str] = None  # "exit 3" / "signal KILL"
    health: Optional[str] = None     # ok | failing | hidden | unknown | None (no check)
    detail: Dict[str, str] = field(default_factory=dict)

    # OpenRC's status exit codes (sh/supervise-daemon.sh, supervise_status)
    EXIT_CODES = {"started": 0, "stopped": 3, "starting": 8, "crashed": 32,
                  "failed": 32, "unsupervised": 64}

    @property
    def exit_code(self):
        return self.EXIT_CODES.get(self.state, 1)

    def as_dict(self):
        d = {k: getattr(self, k) for k in ("service", "backend", "state", "pid",
                                           "supervisor_pid", "uptime", "restarts",
                                           "last_exit", "health")}
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

    def render(self) -> List[RenderedFile]:
        raise NotImplementedError

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def status(self) -> Status:
        raise NotImplementedError

    def signal(self, signum: int) -> None:
        raise NotImplementedError

    def reload(self) -> None:
        """Deliver the reload signal (reload_signal=, default HUP) to the daemon."""
        self.signal(self.model.reload_signal)
