"""A service's metric values, as every backend and command reports them
to promfile (its own module: runit's Facts makes them, and promfile reads
Facts, so neither may import the other)."""


def values(running, failed=False, start_time=None, restarts=None, last_exit=None,
           health=None, health_runs=None, health_failures=None, watchdog_misses=None):
    """The one place a service's values for derive() and samples() are
    made, whichever backend or command reports them: a start time and a
    health belong to a running daemon only, so a stopped or crashed one
    exports neither (its last health would read as the current one)."""
    return {"up": 1 if running else 0, "failed": 1 if failed else 0,
            "start_time": start_time if running else None, "restarts": restarts,
            "last_exit": last_exit, "health": health if running else None,
            "health_runs": health_runs, "health_failures": health_failures,
            "watchdog_misses": watchdog_misses}
