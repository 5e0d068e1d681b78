"""The monit backend's own variables (from conf.d or the init script),
each converted once, with errors naming the variable.

  monit_type         simple (default): openrc-sv writes the check from the
                     init script's variables; native: the administrator's
                     own file $monit_files_dir/SVC is used as it is
  monit_cmd          the monit program (default: monit, found in PATH)
  monit_conf         monit's control file, passed as `monit -c`; it also
                     tells the monit CLI where the running monit's HTTP
                     interface (unix socket or port) is.  Default: monit's
                     own search (~/.monitrc, /etc/monitrc, /etc/monit/monitrc)
  monit_include_dir  where service files go; monit's control file must have
                     `include DIR/*` (default /run/openrc-monit)
  monit_run_dir      control scripts and pidfiles, one directory per service
                     (default /run/openrc-sv/monit)
  monit_files_dir    native files (default /etc/conf.d/monit-files)
  monit_name         native only: the name of the check in the file
                     (default: the service's name)
  monit_cycle        monit's poll cycle (`set daemon N`), in seconds; by
                     default read from monit's control file (`monit -t -v`)
  monit_timeout      how long start and stop wait for monit (default 30sec)
  monit_start_timeout  how long monit waits, after respawn_delay, for the
                     daemon to be running before it calls a start failed
                     (default 5sec; see render.py)
"""

import os
from dataclasses import dataclass
from typing import Optional

from ... import convert
from ...errors import UserError
from . import syntax

TYPES = ("simple", "native")


@dataclass(frozen=True)
class Settings:
    type: str = "simple"
    cmd: str = "monit"
    conf: Optional[str] = None
    include_dir: str = "/run/openrc-monit"
    run_dir: str = "/run/openrc-sv/monit"
    files_dir: str = "/etc/conf.d/monit-files"
    name: str = ""                     # the monit check's name
    cycle: Optional[int] = None        # seconds; None: ask monit
    timeout_ms: int = 30000
    start_timeout_ms: int = 5000


def _dir(key, value):
    if not value.startswith("/"):
        raise UserError("%s: invalid value %r (expected an absolute path)" % (key, value))
    if "\n" in value or "\0" in value:
        raise UserError("%s: invalid value %r (a path cannot contain a line break)" % (key, value))
    return value.rstrip("/") or "/"


def service_name(svc):
    """The service's name as monit and our paths need it: it names the
    check, a file in the include directory and a word of program strings."""
    if svc.startswith(".") or "/" in svc:
        raise UserError("service name %r cannot be used with the monit backend" % svc)
    return syntax.word("service name", svc)


def from_model(model):
    x = model.extra
    get = lambda k: x.get(k) if x.get(k) not in (None, "") else None   # noqa: E731
    kind = get("monit_type") or "simple"
    if kind not in TYPES:
        raise UserError("monit_type: invalid value %r (expected simple or native)" % kind)
    svc = service_name(model.service)
    s = {"type": kind, "name": svc}
    if get("monit_cmd"):
        s["cmd"] = get("monit_cmd")
        if "\n" in s["cmd"] or "\0" in s["cmd"]:
            raise UserError("monit_cmd: invalid value %r (expected the monit program's path)" % s["cmd"])
    if get("monit_conf"):
        s["conf"] = _dir("monit_conf", get("monit_conf"))
    for key, attr in (("monit_include_dir", "include_dir"), ("monit_files_dir", "files_dir")):
        if get(key):
            s[attr] = _dir(key, get(key))
    if get("monit_run_dir"):
        # Its paths become words of monit program strings.
        s["run_dir"] = syntax.word("monit_run_dir", _dir("monit_run_dir", get("monit_run_dir")))
    if get("monit_name"):
        if kind != "native":
            raise UserError("monit_name: only used with monit_type=native (the simple "
                            "check is always named after the service)")
        s["name"] = syntax.string("monit_name", get("monit_name"))
    if get("monit_cycle"):
        ms = convert.duration_ms("monit_cycle", get("monit_cycle"), minimum=1000)
        if ms % 1000:
            raise UserError("monit_cycle: invalid value %r (monit's cycle is a whole "
                            "number of seconds)" % get("monit_cycle"))
        s["cycle"] = ms // 1000
    for key, attr in (("monit_timeout", "timeout_ms"), ("monit_start_timeout", "start_timeout_ms")):
        if get(key):
            s[attr] = convert.duration_ms(key, get(key), minimum=1000)
    return Settings(**s)


def include_file(settings, svc):
    return os.path.join(settings.include_dir, svc + ".monitrc")


def state_dir(settings, svc):
    return os.path.join(settings.run_dir, svc)
