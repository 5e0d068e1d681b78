"""openrc-sv status [SVC...] and openrc-sv list: what every supervisor is doing.

A service is ours to report when OpenRC keeps state for it in its service
dir (/run/openrc; a user's own in user mode, see rcstate.svcdir) and it is
supervised: started by `openrc-sv start` (options/SVC/sv_backend
names the backend), or its init script says supervisor=openrc-sv or
supervisor=supervise-daemon (our drop-in or OpenRC's C program: the same
state files, so the native backend's reader serves both).
"""

import os

from .. import shellvars
from ..backends.base import Status
from ..errors import UserError
from ..rcstate import ServiceState, svcdir
from . import evaluate

# The state directories that name services OpenRC knows about.
_STATE_DIRS = ("started", "starting", "stopping", "inactive", "failed", "options", "daemons")

# The label under which supervise-daemon services are shown.
SUPERVISE_DAEMON = "supervise-daemon"


class Entry:
    """One supervised service: its name, backend label and how to ask it."""

    def __init__(self, service, backend, evaluation=None):
        self.service = service
        self.backend = backend
        self.evaluation = evaluation

    def status(self):
        if self.backend == SUPERVISE_DAEMON:
            from ..backends.native import state_status
            return state_status(self.service, SUPERVISE_DAEMON)
        if self.evaluation is not None:
            model = evaluate.lenient_model(self.service, self.evaluation)
        else:
            model = evaluate.bare_model(self.service)
        return evaluate.backend_for(model, self.backend).status()


def known_services():
    """Every service OpenRC has state for, sorted."""
    names = set()
    for d in _STATE_DIRS:
        try:
            names.update(n for n in os.listdir(os.path.join(svcdir(), d)) if not n.startswith("."))
        except OSError:
            pass
    return sorted(names)


def classify(service, required=False, from_stdin=False):
    """The Entry for SERVICE, or None when nothing supervises it.

    With required=True (the user named the service) "not supervised" and a
    script that cannot be read are errors instead of None.  from_stdin: the
    runscript plugin pipes its live shell's evaluation (no second load).
    """
    st = ServiceState(service)
    recorded = evaluate.recorded_backend(service)
    ev = None
    try:
        if from_stdin:
            ev = evaluate.evaluation(service, from_stdin=True)
        else:
            ev = shellvars.read(service, evaluate.script_of(service), words=False)
    except UserError:
        if required and not recorded:
            raise
    if recorded:
        return Entry(service, recorded, ev)
    supervisor = ev.variables.get("supervisor", "") if ev else ""
    if supervisor == "openrc-sv":
        return Entry(service, ev.variables.get("sv_backend") or "native", ev)
    if supervisor == "supervise-daemon" or (ev is None and st.get("start_time")):
        return Entry(service, SUPERVISE_DAEMON, ev)
    if required:
        raise UserError("not supervised by openrc-sv or supervise-daemon (supervisor=%s)"
                        % (supervisor or "start-stop-daemon"))
    return None


def entries(services=None, from_stdin=False):
    if services:
        found = []
        for s in services:
            try:
                found.append(classify(s, required=True, from_stdin=from_stdin))
            except UserError as e:
                # With one service main() names it; with several, we must.
                if len(services) > 1:
                    raise UserError("%s: %s" % (s, e))
                raise
        return found
    found = (classify(s) for s in known_services())
    return [e for e in found if e is not None]


def _status_or_unknown(entry):
    try:
        return entry.status()
    except UserError as e:
        return Status(service=entry.service, backend=entry.backend, state="unknown",
                      detail={"error": str(e)})


def openrc_view(status):
    """Combine the backend's view with OpenRC's: a service OpenRC calls
    started whose daemon is gone has crashed, as service_crashed says."""
    st = ServiceState(status.service)
    if status.state == "stopped" and st.is_marked("started"):
        status.state = "crashed"
    return status


# -- formatting ----------------------------------------------------------------

def format_uptime(seconds):
    if seconds is None:
        return "-"
    s = int(seconds)
    days, s = divmod(s, 86400)
    hours, s = divmod(s, 3600)
    minutes, s = divmod(s, 60)
    if days:
        return "%dd%02dh" % (days, hours)
    if hours:
        return "%dh%02dm" % (hours, minutes)
    if minutes:
        return "%dm%02ds" % (minutes, s)
    return "%ds" % s


COLUMNS = ("SERVICE", "BACKEND", "STATE", "PID", "UPTIME", "RESTARTS", "LAST-EXIT", "HEALTH")


def _row(s):
    def dash(v):
        return "-" if v is None or v == "" else str(v)
    return (s.service, s.backend, s.state, dash(s.pid), format_uptime(s.uptime),
            dash(s.restarts), dash(s.last_exit), dash(s.health))


def table(statuses):
    rows = [COLUMNS] + [_row(s) for s in statuses]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    for s in statuses:
        if s.detail.get("error"):
            lines.append(" * %s: %s" % (s.service, s.detail["error"]))
        elif s.down_reason and s.state != "started":
            # Why it is down for good: given up, a stop status, the watchdog.
            lines.append(" * %s: %s: %s" % (s.service, s.down_reason, s.down_detail))
    return "\n".join(lines)


def _json(statuses):
    out = []
    for s in statuses:
        d = s.as_dict()
        for k in ("uptime", "started_at"):
            if d.get(k) is not None:
                d[k] = round(d[k], 3)
        d["exit_code"] = s.exit_code
        out.append(d)
    import json     # not at the top: `status --quiet`, the plugin's, prints none
    return json.dumps(out, indent=2, sort_keys=True)


# -- the commands -------------------------------------------------------------

def status(services, as_json=False, quiet=False, from_stdin=False):
    """Print the status of SERVICES (default: every supervised one).

    Exit status: for named services, OpenRC's code of the first one that is
    not started (0 when all are); for the full report, 0.
    """
    evaluate.check_service_dir()
    statuses = [openrc_view(_status_or_unknown(e)) for e in entries(services, from_stdin)]
    if not quiet:
        if as_json:
            print(_json(statuses))
        elif statuses:
            print(table(statuses))
    if not services:
        return 0
    for s in statuses:
        if s.state == "unknown":
            raise UserError(s.detail.get("error", "unknown state"))
        if s.exit_code != 0:
            return s.exit_code
    return 0


def listing(as_json=False):
    evaluate.check_service_dir()
    found = entries()
    if as_json:
        import json
        print(json.dumps([{"service": e.service, "backend": e.backend} for e in found],
                         indent=2))
    else:
        for e in found:
            print("%s %s" % (e.service, e.backend))
    return 0
