"""Metrics in Prometheus' text format, and node_exporter's textfile.

One table of metric families (FAMILIES) serves `openrc-sv metrics` and the
textfile the supervisors keep.  Every sample has the labels `service` and
`backend`; a value a backend does not record is left out (no sample),
never written as a made-up 0.

The textfile (opt-in): with

    openrc_sv_textfile_dir="/var/lib/openrc-sv/textfile"

in /etc/rc.conf or /etc/rc.conf.d/*.conf (read as librc reads rc.conf),
each system service's supervisor rewrites DIR/openrc-sv-SVC.prom when
something about its service changes (a start, an exit, a health result,
giving up, a stop) -- never on a timer.  Point node_exporter at DIR
(--collector.textfile.directory=DIR): it reads every *.prom there and
merges the families of all the files (node_exporter 1.5 does; their HELP
and TYPE lines are the same text).

One file per service, not one shared file: each supervisor writes only its
own, so there is no lock for a stuck or killed supervisor to hold, one
service's crash storm rewrites only its own small file (a shared file would
be re-read and rewritten whole, for every service, at every respawn), and
node_exporter's node_textfile_mtime_seconds{file=...} tells per service
when it last changed.  `openrc-sv metrics --textfile` writes every
supervised service's file at once and removes the files of services that
are no longer supervised (run it at boot: the files outlive a reboot).

Each write is atomic: a new file `.openrc-sv-SVC.prom.RANDOM` (node_exporter
reads only names ending in .prom), created O_EXCL|O_NOFOLLOW, then renamed
over the old one, both relative to a descriptor of the directory opened
O_NOFOLLOW.  The directory, and every directory above it, must be root's
and writable by nobody else (trust.untrusted_part): node_exporter runs as
its own user (Debian: prometheus, whose home /var/lib/prometheus holds
Debian's default textfile directory), and a user who could rename
directories on the way could make root write where it chose.  Such a
directory is refused, said once by the caller.  User services (a
non-root caller) write nothing.

Lean: the supervisor imports this (os only at the top; trust and rcversion
when a publisher is made).
"""

import os

SETTING = "openrc_sv_textfile_dir"
PREFIX, SUFFIX = "openrc-sv-", ".prom"

# (name, type, help, the values key it is made from)
FAMILIES = (
    ("openrc_sv_up", "gauge",
     "1 while the service's daemon runs, 0 when it does not.", "up"),
    ("openrc_sv_failed", "gauge",
     "1 when the service is down for good (given up after respawn_max, a stop-for-good "
     "exit status, the watchdog; see openrc-sv status), 0 otherwise.", "failed"),
    ("openrc_sv_start_time_seconds", "gauge",
     "Unix time the running daemon started; absent while none runs.", "start_time"),
    ("openrc_sv_restarts_total", "counter",
     "Respawns of the daemon (crashes and health-check restarts) since the service "
     "was started.", "restarts"),
    ("openrc_sv_last_exit_code", "gauge",
     "Exit status of the daemon's last exit; absent when a signal ended it or it has "
     "not exited.", "last_exit_code"),
    ("openrc_sv_last_exit_signal", "gauge",
     "Number of the signal that ended the daemon last; absent when it exited by "
     "itself or has not exited.", "last_exit_signal"),
    ("openrc_sv_health_ok", "gauge",
     "1 when the running daemon's last health check passed, 0 when it failed; absent "
     "without a health check and until the first check of the current daemon.",
     "health_ok"),
    ("openrc_sv_health_checks_total", "counter",
     "Health checks run to a result since the service was started.", "health_runs"),
    ("openrc_sv_health_check_failures_total", "counter",
     "Health checks that failed or timed out since the service was started.",
     "health_failures"),
    ("openrc_sv_watchdog_misses_total", "counter",
     "Watchdog intervals the daemon let pass without WATCHDOG=1 since the service "
     "was started.", "watchdog_misses"),
)


# -- the text format ------------------------------------------------------------------

def escape_label(value):
    """A label value as the text format quotes it: \\ " and newline escaped."""
    return str(value).replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n")


def escape_help(text):
    return str(text).replace("\\", "\\\\").replace("\n", "\\n")


def _number(value):
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    return repr(float(value))


def _exit_numbers(text):
    """(status, signal number) of a last exit "exit N" / "signal NAME|N"."""
    words = (text or "").split(";", 1)[0].split()
    if len(words) != 2:
        return None, None
    if words[0] == "exit" and words[1].isdigit():
        return int(words[1]), None
    if words[0] == "signal":
        if words[1].isdigit():
            return None, int(words[1])
        import _signal
        num = getattr(_signal, "SIG" + words[1].upper().replace("SIG", "", 1), None)
        return None, num if isinstance(num, int) else None
    return None, None


def derive(values):
    """The values of FAMILIES from promvalues.values() (a backend's values):

        up, failed                      0/1 (bool or int)
        start_time                      unix seconds (float), None when not running
        restarts, health_runs, health_failures, watchdog_misses   int or None
        last_exit                       "exit N" / "signal NAME" or None
        health                          ok | failing | pending | hidden | ... or None
    """
    out = dict(values)
    out["last_exit_code"], out["last_exit_signal"] = _exit_numbers(values.get("last_exit"))
    health = values.get("health")
    # "watchdog": a missed watchdog interval, the restart under way.
    out["health_ok"] = ({"ok": 1, "failing": 0, "watchdog": 0}.get(health)
                        if values.get("up") else None)
    return out


def samples(service, backend, values):
    """[(family name, sample line)] for one service; values as derive() takes."""
    v = derive(values)
    labels = '{service="%s",backend="%s"}' % (escape_label(service), escape_label(backend))
    found = []
    for name, _type, _help, key in FAMILIES:
        value = v.get(key)
        if value is None:
            continue
        found.append((name, "%s%s %s" % (name, labels, _number(value))))
    return found


def render(services):
    """The text exposition of [(service, backend, values)]: each family's
    HELP and TYPE once, then its samples (families without one left out)."""
    by_family = {}
    for service, backend, values in services:
        for name, line in samples(service, backend, values):
            by_family.setdefault(name, []).append(line)
    lines = []
    for name, kind, text, _key in FAMILIES:
        if name in by_family:
            lines.append("# HELP %s %s" % (name, escape_help(text)))
            lines.append("# TYPE %s %s" % (name, kind))
            lines.extend(by_family[name])
    return "".join(line + "\n" for line in lines)


# -- the textfile ------------------------------------------------------------------

def file_name(service):
    """openrc-sv-SVC.prom, or None for a name that cannot be a file name
    (OpenRC's service names are the names of files in /etc/init.d)."""
    if not service or service.startswith(".") or "/" in service or "\0" in service \
            or "\n" in service or len(service) > 200:
        return None
    return PREFIX + service + SUFFIX


def service_of(name):
    """The service a file in the directory is for, or None if not ours."""
    if name.startswith(PREFIX) and name.endswith(SUFFIX) and len(name) > len(PREFIX + SUFFIX):
        return name[len(PREFIX):-len(SUFFIX)]
    return None


def configured_dir(etc="/etc"):
    """openrc_sv_textfile_dir from rc.conf and rc.conf.d/*.conf (the last
    one set wins, as when openrc-run sources them), or None."""
    from .rcversion import conf_value, rc_conf_files
    found = None
    for path in rc_conf_files(etc):
        v = conf_value(path, SETTING)
        if v is not None:
            found = v
    return found or None


class Refused(Exception):
    """The directory may not be written (one line for the log)."""


def open_dir(directory):
    """A descriptor of the textfile directory, once it is shown to be
    root's alone; Refused (or OSError) otherwise."""
    from .trust import Untrusted, open_trusted_dir
    if not directory.startswith("/"):
        raise Refused("%s=%s: not an absolute path" % (SETTING, directory))
    try:
        return open_trusted_dir(directory)
    except Untrusted as e:
        raise Refused("%s=%s: %s; use a directory only root can change (and point "
                      "node_exporter's --collector.textfile.directory at it)"
                      % (SETTING, directory, e))


def write_in(dfd, name, text):
    """Replace NAME in the directory dfd with text, atomically."""
    data = text.encode()
    for _ in range(100):
        tmp = ".%s.%s" % (name, os.urandom(6).hex())
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                         0o644, dir_fd=dfd)
            break
        except FileExistsError:
            continue
    else:
        raise FileExistsError(17, "no free temporary name", name)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fchmod(fd, 0o644)
        finally:
            os.close(fd)
        os.rename(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
    except BaseException:
        try:
            os.unlink(tmp, dir_fd=dfd)
        except OSError:
            pass
        raise


class Publisher:
    """Keeps one service's file up to date.  Made once (configured()), then
    publish(values) at each change of state.  publish never raises: it
    returns None, or a one-line reason when the file could not be written;
    `complaint` is set only when that reason differs from the last one, so
    a caller logs a lasting problem once."""

    def __init__(self, directory, service, backend):
        self.dir = directory
        self.service = service
        self.backend = backend
        self.name = file_name(service)
        self.last_error = None
        self.complaint = None

    @classmethod
    def configured(cls, service, backend, etc="/etc", environ=None):
        """A Publisher when the administrator asked for the textfile and
        this is a system service (root, not OpenRC's user mode), else None."""
        env = os.environ if environ is None else environ
        if os.geteuid() != 0 or env.get("RC_USER_SERVICES") == "yes":
            return None
        try:
            directory = configured_dir(etc)
        except Exception:       # a broken rc.conf must never stop a supervisor
            return None
        if not directory or file_name(service) is None:
            return None
        return cls(directory, service, backend)

    def publish(self, values):
        try:
            self.write(render([(self.service, self.backend, values)]))
            error = None
        except Refused as e:
            error = str(e)
        except OSError as e:
            error = "%s: cannot write %s: %s" % (SETTING, os.path.join(self.dir, self.name),
                                                 e.strerror or e)
        except Exception as e:   # never the end of supervision
            error = "%s: %s" % (SETTING, e)
        self.complaint = error if error != self.last_error else None
        self.last_error = error
        return error

    def write(self, text):
        dfd = open_dir(self.dir)
        try:
            write_in(dfd, self.name, text)
        finally:
            os.close(dfd)


# -- for scripts: `python3 -S -m openrc_sv.promfile --runit SVDIR SVC` -------------

def _runit(svdir, service):
    from .backends.runit.facts import Facts
    pub = Publisher.configured(service, "runit")
    if pub is None:
        return 0
    error = pub.publish(Facts(svdir).metric_values())
    if error:
        import sys
        sys.stderr.write("openrc-sv: %s\n" % error)
        return 1
    return 0


def main(argv=None):
    import sys
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) == 3 and argv[0] == "--runit":
        return _runit(argv[1], argv[2])
    sys.stderr.write("usage: python3 -m openrc_sv.promfile --runit SVDIR SERVICE\n")
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
