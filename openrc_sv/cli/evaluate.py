"""From a service name to a ServiceModel and its backend.

The variables always come from a shell's evaluation: inside openrc-run the
plugin pipes its live shell's report to us (``--model -``, so whatever
start_pre() changed is seen); anywhere else shellvars re-runs the loading
sequence of openrc-run in a fresh /bin/sh.

User services (OpenRC 0.60+'s user mode, RC_USER_SERVICES=yes): the
service dir is the user's own (rcstate.svcdir), their scripts are found
where librc finds them (user_script_dirs), and only a backend that can run
a user's services is used (backend_for).
"""

import os
import sys

from .. import shellvars
from ..backends import get as backend_class
from ..backends.model import BACKEND_PREFIXES, ServiceModel, from_variables
from ..errors import UserError
from ..rcstate import ServiceState, svcdir, user_mode, user_script_dirs

def evaluation(service, from_stdin=False):
    """The shell's evaluation of SERVICE: from the plugin on stdin, or fresh."""
    if from_stdin:
        data = sys.stdin.buffer.read()
        ev = shellvars.parse(data)
        svcname = ev.variables.get("RC_SVCNAME")
        if svcname and svcname != service:
            raise UserError("the model on stdin is for '%s', not '%s'" % (svcname, service))
        return ev
    return shellvars.read(service, script_of(service))


def script_of(service):
    """RC_SERVICE when openrc-run runs us for this service, else the usual place."""
    if os.environ.get("RC_SVCNAME") == service and os.environ.get("RC_SERVICE"):
        return os.environ["RC_SERVICE"]
    if user_mode():
        # Never /etc/init.d: a user's service is not the system's of that name.
        st = ServiceState(service)
        return st.init_script() or os.path.join(user_script_dirs()[0], "init.d", service)
    return ServiceState(service).init_script() or shellvars.script_path(service)


def check_service_dir():
    """The service dir must be one only the caller (or root) can change:
    see trust.require_service_dir.  Root's is, and so is a user's own
    $XDG_RUNTIME_DIR/openrc; an inherited one of someone else's is not."""
    from .. import trust
    path = svcdir()
    trust.require_service_dir(path)
    return path


def model(service, ev):
    """The validated model: any bad value is a UserError naming it."""
    script = ev.variables.get("RC_SERVICE") or script_of(service)
    return from_variables(service, script, ev.variables, ev.args, ev.functions, ev.sd_args)


def bare_model(service, variables=None):
    """A model that only names the service and its backend's own variables.

    Stopping, signalling or asking about a service must work even when its
    configuration has since become invalid: those verbs only need to find
    what start left behind.
    """
    v = variables or {}
    return ServiceModel(
        service=service, script=v.get("RC_SERVICE") or script_of(service),
        command=v.get("command") or "", backend=v.get("sv_backend") or "native",
        extra={k: val for k, val in v.items()
               if k.startswith(BACKEND_PREFIXES) and k != "sv_backend"})


def lenient_model(service, ev, say=None):
    """model(), or bare_model() with a warning when the variables are invalid."""
    try:
        return model(service, ev)
    except UserError as e:
        if say:
            say("%s; going on with what the service was started with" % e)
        return bare_model(service, ev.variables)


def recorded_backend(service):
    """The backend the service was started with (set by `openrc-sv start`)."""
    return (ServiceState(service).get("sv_backend") or "").strip() or None


def backend_for(m, name=None):
    """An instance of the backend NAME (default: the model's sv_backend)."""
    name = name or m.backend
    try:
        cls = backend_class(name)
    except (ImportError, AttributeError) as e:
        # Listed (built in or by an entry point) but not importable.
        raise UserError("sv_backend: backend '%s' cannot be loaded (%s)" % (name, e))
    if user_mode() and not getattr(cls, "user_services", False):
        raise UserError("sv_backend=%s does not run user services (user mode, "
                        "RC_USER_SERVICES=yes): use sv_backend=native, which runs them "
                        "as you" % name)
    m.backend = name
    return cls(m)
