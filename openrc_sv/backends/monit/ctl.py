"""Talking to a running monit through its command line (with `sh`).

The monit CLI reads the control file (`monit -c $monit_conf`, or monit's
default search) to find the daemon's HTTP interface, a unix socket or a
port with a user:password, and sends it the verb.  Things learnt from
monit 5.33 that shape this module:

  * every CLI call parses the whole control file with its includes first;
    a broken include file makes every call fail, `reload` included (the
    daemon keeps its old configuration);
  * start, stop, restart, monitor and unmonitor only queue the action:
    the CLI returns at once and the daemon acts shortly after, so callers
    poll status();
  * `reload` signals the daemon through monit's pidfile and returns at
    once; the daemon knows the new services a moment later;
  * `monit -t -v` prints the configuration as parsed: the services' names
    and the poll cycle ("Poll time = N seconds").
"""

import re

from ...errors import UserError

_NAME = re.compile(r"^(\w+) Name\s+= (.*)$")
_POLL = re.compile(r"^\s*Poll time\s+= (\d+) second")
_HEADER = re.compile(r"^(\w+) '(.*)'$")


def parse_status(text):
    """`monit -B status` output -> {name: {"type": ..., key: value}}.

    Each service is a header line `Process 'name'` followed by indented
    `key   value` lines; keys may hold single spaces ("monitoring status"),
    a run of two or more spaces separates the value.
    """
    services, current = {}, None
    for line in text.splitlines():
        m = _HEADER.match(line)
        if m:
            current = services[m.group(2)] = {"type": m.group(1)}
        elif current is not None and line.startswith("  ") and line.strip():
            parts = re.split(r"\s{2,}", line.strip(), 1)
            current[parts[0]] = parts[1] if len(parts) > 1 else ""
    return services


class Monit:
    def __init__(self, cmd="monit", conf=None, timeout=15.0):
        self.cmd = cmd
        self.conf = conf
        self.timeout = timeout

    def how_to_start(self):
        return "monit -I%s" % (" -c %s" % self.conf if self.conf else "")

    def run(self, *args):
        """(exit code, output) of `monit [-c CONF] -B ARGS`."""
        import sh
        try:
            prog = sh.Command(self.cmd)
        except sh.CommandNotFound:
            raise UserError("monit_cmd: '%s' not found (install monit, or set monit_cmd "
                            "to its path)" % self.cmd)
        argv = (["-c", self.conf] if self.conf else []) + ["-B"] + list(args)
        try:
            r = prog(*argv, _ok_code=list(range(256)), _err_to_out=True, _tty_out=False,
                     _in=None, _return_cmd=True, _timeout=self.timeout)
        except sh.TimeoutException:
            raise UserError("monit did not answer '%s' within %gs" % (" ".join(args), self.timeout))
        return r.exit_code, r.stdout.decode(errors="replace")

    def require_running(self):
        code, out = self.run("summary")
        if code != 0:
            said = out.strip().splitlines()[-1] if out.strip() else "exit %d" % code
            raise UserError("monit is not running (or its control socket/HTTP interface is not "
                            "reachable): start it with '%s' from init, with 'set httpd "
                            "unixsocket ... allow USER:PASSWORD' in its control file "
                            "(monit said: %s)" % (self.how_to_start(), said))

    def check(self):
        """`monit -t -v`: (ok, error line, service names, poll cycle or None)."""
        code, out = self.run("-t", "-v")
        names = [m.group(2) for m in map(_NAME.match, out.splitlines()) if m]
        poll = next((int(m.group(1)) for m in map(_POLL.match, out.splitlines()) if m), None)
        error = None
        if code != 0:
            lines = [l for l in out.splitlines() if l.strip()]
            error = lines[-1] if lines else "exit %d" % code
        return code == 0, error, names, poll

    def reload(self):
        code, out = self.run("reload")
        if code != 0:
            raise UserError("monit reload failed: %s" % (out.strip() or "exit %d" % code))

    def action(self, verb, name):
        code, out = self.run(verb, name)
        if code != 0:
            raise UserError("monit %s %s failed: %s" % (verb, name, out.strip() or "exit %d" % code))

    def status(self, name):
        """The service's status fields, or None when monit has no such service."""
        code, out = self.run("status", name)
        if code != 0:
            if "not found" in out or "no service named" in out.lower():
                return None
            self.require_running()
            raise UserError("monit status %s failed: %s" % (name, out.strip() or "exit %d" % code))
        found = parse_status(out)
        # monit matches names without regard to case.
        return found.get(name) or (next(iter(found.values())) if len(found) == 1 else None)
