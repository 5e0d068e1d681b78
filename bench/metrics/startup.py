"""Start-up: what a process of ours costs before it does any work, beside
C's.  Outside any sandbox: nothing here touches OpenRC's state.

* **interpreter alone**: `python -I -S -c pass`, the floor of every
  command of ours (C column: `/bin/true`, the floor of a C program);
* **supervise-daemon refusing at once**: run without RC_SVCNAME, C's and
  ours print one line and exit 1: the interpreter, our launcher and the
  imports `--start` starts with;
* **the plugin's command refusing at once**: `openrc-sv start --model -
  SVC` as the runscript plugin runs it, with nothing on stdin: everything
  the command imports before it reads the service's variables.

Median of SAMPLES runs each, wall time.
"""

import os
import subprocess
import sys
import tempfile
import time

from bench import stats
from bench.metrics import Figure, takes
from openrc_sv import launcher

SAMPLES = 30


def figures(cfg):
    return [Figure("startup.python", "start-up: interpreter alone (-I -S -c pass)", "ms", 1000,
                   absolute=True),
            Figure("startup.sd", "start-up: supervise-daemon refusing at once", "ms", 1000,
                   absolute=True),
            Figure("startup.cli", "start-up: plugin's openrc-sv refusing at once", "ms", 1000,
                   absolute=True)]


def measure(columns, cfg):
    out = {}
    with tempfile.TemporaryDirectory(prefix="openrc-sv-bench-startup-") as svcdir:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RC_")}
        env["RC_SVCDIR"] = svcdir
        for col in columns:
            if col.kind != "rc" or not takes(col, "startup"):
                continue
            figs = {}
            try:
                for key, argv in commands(col).items():
                    figs[key] = stats.median(_times(argv, env))
            except Exception as e:
                figs["error"] = "%s: %s" % (type(e).__name__, e)
            out[col.key] = figs
    return out


def commands(col):
    if not col.ours:
        return {"startup.python": ["/bin/true"], "startup.sd": ["/sbin/supervise-daemon", "x"]}
    python = col.python or sys.executable
    tree = col.tree or launcher.package_parent()
    out = {"startup.python": [python, "-I", "-S", "-c", "pass"],
           "startup.sd": [python, "-I", "-S", os.path.join(tree, "openrc_sv", "data", "supervise-daemon"), "x"]}
    if col.group == "plugin":
        if col.baseline:
            # The older tree's plugin ran the console script: `site` and all.
            cli = [sys.executable, "-c", "import sys; sys.path.insert(0, %r); "
                   "from openrc_sv.cli import main; sys.exit(main())" % tree]
        else:
            cli = [python, "-I", "-S", "-c", launcher.cli_code(parent=tree)]
        out["startup.cli"] = cli + ["start", "--model", "-", "x"]
    return out


def _times(argv, env):
    xs = []
    for _ in range(SAMPLES):
        t0 = time.monotonic()
        subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, env=env)
        xs.append(time.monotonic() - t0)
    return xs
