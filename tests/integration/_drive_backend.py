"""Drive one backend through its Python API, from inside a test sandbox.

    python _drive_backend.py SVC ACTION [ARG]

ACTION is render, start, stop, status, reload or signal (ARG: a signal name
or number).  The service is described by JSON in $DRIVE_MODEL (or in the
file named by $DRIVE_MODEL_FILE):

    {"script": "/etc/init.d/SVC", "variables": {"command": "...", ...},
     "args": ["word", ...], "functions": ["healthcheck", ...]}

and built with openrc_sv.backends.model.from_variables, so a bad variable
fails as it would for a user; the backend is the one sv_backend names.
status prints the Status as JSON (plus "exit_code") and exits with that
code; render prints the files as JSON; a UserError is printed as one line
on stderr, with its exit code.  The backend's files and processes are made
by this process, so they live in the sandbox's private /run.
"""

import json
import os
import sys

from openrc_sv import convert
from openrc_sv.backends import get
from openrc_sv.backends.model import from_variables
from openrc_sv.errors import UserError


def load_spec():
    if os.environ.get("DRIVE_MODEL_FILE"):
        with open(os.environ["DRIVE_MODEL_FILE"]) as f:
            return json.load(f)
    return json.loads(os.environ["DRIVE_MODEL"])


def main(argv):
    svc, action, rest = argv[0], argv[1], argv[2:]
    spec = load_spec()
    try:
        model = from_variables(svc, spec.get("script", "/etc/init.d/" + svc),
                               spec.get("variables", {}), spec.get("args", []),
                               spec.get("functions", []))
        backend = get(model.backend)(model)
        if action == "render":
            print(json.dumps([{"path": f.path, "mode": f.mode, "content": f.content}
                              for f in backend.render()]))
        elif action == "status":
            st = backend.status()
            print(json.dumps(dict(st.as_dict(), exit_code=st.exit_code)))
            return st.exit_code
        elif action == "signal":
            backend.signal(convert.signal_number("signal", rest[0]))
        elif action in ("start", "stop", "reload"):
            getattr(backend, action)()
        else:
            sys.stderr.write("unknown action %r\n" % action)
            return 2
    except UserError as e:
        sys.stderr.write("%s\n" % e)
        return e.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
