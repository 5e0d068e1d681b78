"""PID 1 of a test sandbox (see tests/sandbox.py and openrc_sv/nsroot.py)."""

import os
import signal
import sys

from openrc_sv import nsroot


def main():
    libexec, staging = sys.argv[1], sys.argv[2]
    nsroot.setup_world(libexec, None if staging == "-" else staging)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    sys.stdout.write("READY\n")
    sys.stdout.flush()
    nsroot.reap_forever()


if __name__ == "__main__":
    main()
