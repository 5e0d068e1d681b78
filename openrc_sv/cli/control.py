"""openrc-sv start|stop|reload|signal SVC: drive one service's backend.

These are what the runscript plugin runs inside openrc-run; OpenRC itself
keeps the service's state (starting, started, stopped ...).  Run by hand
they act on the backend only: use rc-service for OpenRC to know.

start records the backend it used (options/SVC/sv_backend), and the other
verbs use that one: changing sv_backend while a service runs must not
leave its daemon behind under the old backend.

Every verb first checks the service dir (evaluate.check_service_dir): all
the service's state is written there, by us and by the backend, so it must
be the caller's own -- a user's $XDG_RUNTIME_DIR/openrc for user services,
never a directory another user could swap files in.
"""

from .. import convert
from ..rcstate import ServiceState
from . import evaluate, output


def _warn(service):
    return lambda message: output.warn(message, service)


def start(service, from_stdin=False):
    evaluate.check_service_dir()
    ev = evaluate.evaluation(service, from_stdin)
    model = evaluate.model(service, ev)             # every value checked first
    backend = evaluate.backend_for(model)
    # Recorded before the start, so that the supervisor's first word on
    # the service (its metrics, see promfile) already names its backend;
    # put back as it was if the start fails.
    st = ServiceState(service)
    before = st.get("sv_backend")
    st.set("sv_backend", backend.name)
    try:
        backend.start()
    except BaseException:
        try:
            st.set("sv_backend", before)
        except OSError:
            pass
        raise
    return 0


def _started_backend(service, from_stdin, strict=False):
    """The backend that runs SERVICE now, with as good a model as we can get
    (strict: the model must be valid, e.g. for its reload_signal)."""
    evaluate.check_service_dir()
    ev = evaluate.evaluation(service, from_stdin)
    if strict:
        model = evaluate.model(service, ev)
    else:
        model = evaluate.lenient_model(service, ev, say=_warn(service))
    return evaluate.backend_for(model, evaluate.recorded_backend(service))


def stop(service, from_stdin=False):
    _started_backend(service, from_stdin).stop()
    return 0


def reload(service, from_stdin=False):
    _started_backend(service, from_stdin, strict=True).reload()
    return 0


def signal(signame, service, from_stdin=False):
    signum = convert.signal_number("signal", signame)
    _started_backend(service, from_stdin).signal(signum)
    return 0
