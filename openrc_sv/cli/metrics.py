"""openrc-sv metrics: every supervised service in Prometheus' text format.

The services are those `openrc-sv status` shows (report.entries: every
backend, and supervise-daemon services, ours or OpenRC's C one), each
asked through its backend's status(), so both commands say the same.  The
families, their HELP texts and what a backend leaves out are promfile's.

--textfile writes the same into node_exporter's textfile directory
(openrc_sv_textfile_dir, see promfile): one openrc-sv-SVC.prom per
service, and the files of services no longer supervised removed.  The
supervisors keep their own file up to date after that; this is for boot
(the files outlive a reboot, the state they describe does not) and for
services whose supervisor does not publish.
"""

import os
import sys

from .. import promfile, promvalues
from ..errors import UserError
from . import evaluate, report


def values_of(status):
    """promfile's values from a backends.base.Status."""
    return promvalues.values(status.pid is not None, status.failed, status.started_at,
                           status.restarts, status.last_exit, status.health,
                           status.health_runs, status.health_failures,
                           status.watchdog_misses)


def collect(services=None):
    """[(Status, values)] of every service that answered; a service whose
    state cannot be read is said on stderr and left out."""
    found = []
    for entry in report.entries(services):
        s = report.openrc_view(report._status_or_unknown(entry))
        if s.state == "unknown":
            sys.stderr.write(" * WARNING: %s: %s (no metrics)\n"
                             % (s.service, s.detail.get("error", "state unknown")))
            continue
        found.append((s, values_of(s)))
    return found


def metrics(services=None, textfile=False):
    evaluate.check_service_dir()
    found = collect(services)
    if not textfile:
        sys.stdout.write(promfile.render([(s.service, s.backend, v) for s, v in found]))
        return 0
    return write_textfiles(found, prune=not services)


def write_textfiles(found, prune):
    if os.geteuid() != 0:
        raise UserError("metrics --textfile: only root writes node_exporter's textfile "
                        "directory")
    directory = promfile.configured_dir()
    if not directory:
        raise UserError("metrics --textfile: set %s=DIR in /etc/rc.conf (node_exporter's "
                        "--collector.textfile.directory)" % promfile.SETTING)
    try:
        dfd = promfile.open_dir(directory)
    except promfile.Refused as e:
        raise UserError(str(e))
    try:
        keep = set()
        for s, values in found:
            name = promfile.file_name(s.service)
            if name is None:
                continue
            promfile.write_in(dfd, name, promfile.render([(s.service, s.backend, values)]))
            keep.add(name)
        if prune:
            for name in os.listdir(dfd):
                if promfile.service_of(name) is not None and name not in keep:
                    os.unlink(name, dir_fd=dfd)
    finally:
        os.close(dfd)
    return 0
