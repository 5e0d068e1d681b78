"""The one user-facing error type, and the exit codes we promise.

Errors are raised deep (a converter, a backend) and caught once at the top
of each command, where they are printed as one line in OpenRC's eerror style.
"""

# Exit codes, documented in supervise-daemon(8) and openrc-sv(8).
EXIT_OK = 0
EXIT_FAILURE = 1      # what OpenRC's own tools return on any error
EXIT_USAGE = 2        # the command line itself is wrong (unknown option, ...)


class UserError(Exception):
    """Something the administrator can fix: bad input, missing tool, ..."""

    def __init__(self, message, exit_code=EXIT_FAILURE):
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code

    def __str__(self):
        return self.message


class UsageError(UserError):
    def __init__(self, message):
        super().__init__(message, EXIT_USAGE)
