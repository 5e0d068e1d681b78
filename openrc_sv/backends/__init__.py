"""The backend registry.

Built-in backends are listed here; a third-party package adds its own with
an entry point in the ``openrc_sv.backends`` group:

    [project.entry-points."openrc_sv.backends"]
    s6 = "my_package.s6:S6Backend"

The value must name a subclass of openrc_sv.backends.base.Backend.
"""

from ..errors import UserError

GROUP = "openrc_sv.backends"

BUILTIN = {
    "native": "openrc_sv.backends.native:NativeBackend",
    "monit": "openrc_sv.backends.monit:MonitBackend",
    "runit": "openrc_sv.backends.runit:RunitBackend",
}


def _load(target):
    # __import__ with a fromlist returns the module itself, as
    # importlib.import_module would, without loading importlib's package
    # (64 KB more in each supervisor the native backend forks: issue 10).
    module, _, attr = target.partition(":")
    return getattr(__import__(module, fromlist=[attr]), attr)


def available():
    """name -> 'module:attr' for every backend we can find."""
    found = dict(BUILTIN)
    try:
        from importlib.metadata import entry_points
        eps = entry_points()
        group = eps.select(group=GROUP) if hasattr(eps, "select") else eps.get(GROUP, [])
        for ep in group:
            found.setdefault(ep.name, ep.value)
    except Exception:   # broken metadata must not stop the built-in backends
        pass
    return found


def get(name):
    """The backend class called ``name``, or a UserError listing the valid ones."""
    if name in BUILTIN:
        # Built-ins win over entry points anyway (available()): no need to
        # scan them, which costs importlib.metadata on every plugin command.
        return _load(BUILTIN[name])
    table = available()
    if name not in table:
        raise UserError("sv_backend: unknown backend '%s' (valid: %s)"
                        % (name, ", ".join(sorted(table))))
    return _load(table[name])
