"""The long-running supervisor imports only what it needs (the brief:
no jinja2, no sh, no argparse in the loop)."""

import subprocess
import sys

HEAVY = ("jinja2", "sh", "argparse", "json", "subprocess", "gettext", "socket", "ctypes", "enum", "signal")

CODE = """
import sys
from openrc_sv import supervise_daemon, daemonize, supervisor, health, logpipes, orphans, sd_args
sd_args.parse(["x", "--start", "--healthcheck-timer", "5", "--stdout-logger", "cat",
               "/bin/true"], {"RC_SVCNAME": "x"})
print(" ".join(sorted(sys.modules)))
"""


def test_supervisor_modules_import_nothing_heavy():
    out = subprocess.run([sys.executable, "-S", "-c", CODE], capture_output=True, text=True,
                         check=True).stdout.split()
    assert "openrc_sv.supervisor" in out
    assert [m for m in HEAVY if m in out] == []
