"""openrc-sv: a process supervisor for OpenRC systems.

Nothing is imported here on purpose: the long-running supervisor imports
this package, and every module it does not need costs memory per service.
"""

__version__ = "0.1.0"
