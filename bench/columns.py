"""The supervisors the bench compares: one entry per column.

The first column is the reference, OpenRC's C supervise-daemon; every other
figure is printed as a ratio to it.  Adding a supervisor is adding one
Column to COLUMNS: how to tell it is installed, which Sandbox to use, the
init-script variables that select it, and anything to start before the
services (a fork server, runsvdir, monit).
"""

import glob
import importlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field, replace
from typing import Callable, Optional

from sandbox import have_openrc, our_script, wait_for

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass
class Column:
    key: str
    title: str
    sandbox: str = "c"                   # Sandbox(supervisor=...): "c" or "ours"
    script_vars: dict = field(default_factory=dict)
    kind: str = "rc"                     # "rc": services go through rc-service; "runit": bare runit
    ours: bool = True                    # our code: targets apply
    expect_exe: Optional[str] = None     # every supervision process must run this executable
    needs: Callable[[], Optional[str]] = lambda: None   # why it cannot run, or None
    prepare: Optional[Callable] = None   # prepare(world) before any service starts
    slow: bool = False                   # starts take seconds: only in --full or when named
    max_services: int = 100000           # fleets beyond this are left out (n/a): too slow
    min_uptime: float = 0.0              # kill a daemon only once it is this old (runsv's 1 s rule)
    group: str = "dropin"                # which targets apply: dropin, plugin, merge (targets.py)
    merge: bool = False                  # memory is read once the kernel's page merging settles
    other_pythons: bool = False          # also measured on the other interpreters (memory)
    python: Optional[str] = None         # the interpreter of our code (None: the bench's own)
    tree: Optional[str] = None           # the directory holding the openrc_sv package (None: this one)
    metrics: Optional[tuple] = None      # only these measurements (None: all)
    baseline: bool = False               # an older commit's (--baseline): its CLI ran with `site`
    missing_reason: Optional[str] = None # set by the run: why this column is n/a

    @property
    def prepare_name(self):
        return getattr(self.prepare, "__name__", "") if self.prepare else ""

    def missing(self):
        try:
            return self.needs()
        except Exception as e:            # a half-built backend must not stop the bench
            return "%s: %s" % (type(e).__name__, e)


# -- availability -----------------------------------------------------------------

def _need_openrc():
    if not have_openrc():
        return "needs root and OpenRC"
    return None


def _need_module(name, attr=None):
    try:
        mod = importlib.import_module(name)
    except Exception as e:
        return "%s does not import (%s)" % (name, e)
    if attr and not hasattr(mod, attr):
        return "%s has no %s" % (name, attr)
    return None


def _need_script(name):
    try:
        our_script(name)
    except RuntimeError as e:
        return str(e)
    return None


def _needs_all(*checks):
    def check():
        for c in checks:
            why = c()
            if why:
                return why
        return None
    return check


def _need_backend(name):
    def check():
        from openrc_sv import backends
        try:
            backends.get(name)
        except Exception as e:
            return "backend %s: %s" % (name, getattr(e, "message", e))
        return None
    return check


def _need_programs(*names):
    def check():
        gone = [n for n in names if not shutil.which(n)]
        return "not installed: %s" % " ".join(gone) if gone else None
    return check


# -- preparation --------------------------------------------------------------------

def run_module(python, tree, module, *args):
    """argv running module's main() with that interpreter and the package
    from that tree first on sys.path, as a console script runs it (with
    `site`)."""
    return [python, "-c",
            "import sys; sys.path.insert(0, %r); sys.argv[0] = %r; from %s import main; "
            "sys.exit(main())" % (tree, module, module)] + list(args)


def _start_forkserver(world, *options):
    # As its init script starts it: the console script, with `site`.
    world.spawn(*run_module(world.python, world.tree, "openrc_sv.forkserver", *options))
    wait_for(lambda: world.sb.exists("/run/openrc-sv/forkserver.sock"), 10,
             what="the fork server's socket")


def _start_merging_forkserver(world):
    _start_forkserver(world, "--merge-pages")


def _install_plugin(world):
    if world.column.tree:
        return _install_plugin_from(world, world.column.tree)
    r = world.sb.run(our_script("openrc-sv"), "setup", "--plugin")
    if r.returncode != 0:
        raise RuntimeError("openrc-sv setup --plugin failed: %s%s" % (r.stdout, r.stderr))


BASE_CLI = "/run/bench-base/openrc-sv"


def _install_plugin_from(world, tree):
    """The plugin of an exported tree (--at, --baseline): that tree's setup
    writes its own plugin text; the console script it names is replaced
    by one that runs that tree's command as a console script would (the
    venv's interpreter with the whole `site`, the tree first on sys.path).
    A tree whose plugin runs the command without `site` still does so."""
    r = world.sb.run(*run_module(sys.executable, tree, "openrc_sv.cli", "setup", "--plugin"))
    if r.returncode != 0:
        raise RuntimeError("openrc-sv setup --plugin (baseline) failed: %s%s" % (r.stdout, r.stderr))
    world.sb.write(BASE_CLI, "#!%s\nimport sys\nsys.path.insert(0, %r)\nfrom openrc_sv.cli import main\n"
                   "sys.exit(main())\n" % (sys.executable, tree), 0o755)
    conf = "/etc/rc.conf.d/openrc-sv.conf"
    lines = world.sb.read(conf).splitlines(keepends=True)
    lines = ["_openrc_sv_bin=%s\n" % BASE_CLI if ln.startswith("_openrc_sv_bin=") else ln
             for ln in lines]
    world.sb.write(conf, "".join(lines))


def _plugin_runit(world):
    _install_plugin(world)
    # The runit backend links services into $RC_SVCDIR/sv, the scan
    # directory OpenRC's own supervisor=runit uses; someone must watch it.
    os.makedirs(world.sb.host_path("/run/openrc/sv"), exist_ok=True)
    world.spawn("runsvdir", "-P", "/run/openrc/sv")


MONIT_CONF = "/run/monit/monitrc"
# `set daemon 1`: monit notices a dead daemon only at its next poll cycle;
# one second is the shortest it has (30 is the usual), so these are monit's
# best figures.
MONITRC = """\
set daemon 1
set log /run/monit/monit.log
set pidfile /run/monit/monit.pid
set idfile /run/monit/monit.id
set statefile /run/monit/monit.state
set httpd unixsocket /run/monit/monit.sock allow openrc-sv:bench-only
include /run/openrc-monit/*
"""


def _plugin_monit(world):
    _install_plugin(world)
    world.sb.write(MONIT_CONF, MONITRC, 0o600)     # monit refuses a control file others can read
    world.spawn("monit", "-I", "-c", MONIT_CONF)
    wait_for(lambda: world.sb.run("monit", "-c", MONIT_CONF, "-B", "summary").returncode == 0,
             10, what="monit to answer")


def _plugin(backend, prepare=_install_plugin, programs=(), **variables):
    return dict(
        sandbox="ours", group="plugin",
        script_vars=dict({"supervisor": "openrc-sv", "sv_backend": backend}, **variables),
        needs=_needs_all(_need_openrc, lambda: _need_script("openrc-sv"),
                         lambda: _need_module("openrc_sv.cli", "main"),
                         _need_backend(backend), _need_programs(*programs)),
        prepare=prepare,
    )


def _need_ksm():
    try:
        with open("/sys/kernel/mm/ksm/run") as f:
            on = f.read().strip() == "1"
    except OSError:
        return "the kernel has no same-page merging (/sys/kernel/mm/ksm)"
    if not on:
        return ("KSM is off (/sys/kernel/mm/ksm/run is 0); the bench never switches it on: "
                "echo 1 > /sys/kernel/mm/ksm/run to measure merging")
    return None


def _need_merge_option():
    try:
        with open(os.path.join(REPO, "openrc_sv", "forkserver.py")) as f:
            if "--merge-pages" in f.read():
                return None
    except OSError:
        pass
    return "the fork server has no --merge-pages yet (issue 10 part 3)"


COLUMNS = [
    Column("c", "C supervise-daemon", sandbox="c", ours=False,
           script_vars={"supervisor": "supervise-daemon"},
           expect_exe="supervise-daemon",
           needs=_needs_all(_need_openrc, _need_programs("/sbin/supervise-daemon"))),
    Column("dropin", "drop-in", sandbox="ours", other_pythons=True,
           script_vars={"supervisor": "supervise-daemon"}, expect_exe="python",
           needs=_needs_all(_need_openrc, lambda: _need_script("supervise-daemon"))),
    Column("dropin-fs", "drop-in+forkserver", sandbox="ours", other_pythons=True,
           script_vars={"supervisor": "supervise-daemon"}, expect_exe="python",
           needs=_needs_all(_need_openrc, lambda: _need_script("supervise-daemon"),
                            lambda: _need_module("openrc_sv.forkserver", "serve")),
           prepare=_start_forkserver),
    Column("dropin-fs-merge", "forkserver+merging", sandbox="ours", group="merge", merge=True,
           other_pythons=True, metrics=("fleet",),
           script_vars={"supervisor": "supervise-daemon"}, expect_exe="python",
           needs=_needs_all(_need_openrc, _need_merge_option, _need_ksm),
           prepare=_start_merging_forkserver),
    # At most 50 services: the plugin's supervisors are the drop-in's, and
    # 500 starts through openrc-run's evaluation of the script take minutes.
    Column("native", "plugin:native", max_services=50, **_plugin("native")),
    # runsv waits a second before restarting a service that ran less than
    # one: the bench lets the daemon live that long before killing it.
    Column("runit", "plugin:runit", slow=True, min_uptime=1.05, max_services=50,
           **_plugin("runit", _plugin_runit, ("runsvdir", "runsv"))),
    Column("monit", "plugin:monit", slow=True, max_services=50,
           **_plugin("monit", _plugin_monit, ("monit",), monit_conf=MONIT_CONF)),
    Column("bare-runit", "bare runit", kind="runit", ours=False, min_uptime=1.05,
           needs=_need_programs("runsvdir", "runsv")),
]

REFERENCE = COLUMNS[0].key

# Columns that --baseline REV adds: the same, run from REV's tree.
BASELINE_OF = ("dropin", "native")


def export(rev, flag):
    """The package as of a commit, exported from git into a temporary
    directory (git archive: the repository and its working tree are not
    touched).  Returns (the directory, the commit's short name)."""
    import tempfile
    d = tempfile.mkdtemp(prefix="openrc-sv-bench-tree-")
    os.chmod(d, 0o755)
    git = subprocess.run(["git", "-C", REPO, "archive", "--format=tar", rev, "openrc_sv",
                          "init.d-helpers"], capture_output=True)
    if git.returncode != 0:
        shutil.rmtree(d)
        raise SystemExit("bench: %s %s: %s" % (flag, rev, git.stderr.decode(errors="replace").strip()))
    subprocess.run(["tar", "-x", "-C", d], input=git.stdout, check=True)
    short = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", rev], capture_output=True,
                           text=True).stdout.strip() or rev
    return d, short


def at_commit(columns, tree):
    """Our columns running the package from `tree` (--at) instead of the
    working tree, which others may be editing while the bench runs."""
    return [replace(c, tree=tree) if c.ours and c.sandbox == "ours" else c for c in columns]


def baseline_columns(rev):
    """Columns of ours from an older commit (--baseline).  Returns
    (columns, the directory to remove afterwards)."""
    d, short = export(rev, "--baseline")
    out = []
    for key in BASELINE_OF:
        c = by_key(key)
        out.append(replace(c, key=key + "@base", title="%s@%s" % (c.title, short), tree=d,
                           other_pythons=False, max_services=50, baseline=True,
                           metrics=("fleet", "startstop", "startup", "storm", "respawn")))
    return out, d


def interpreters(default=None):
    """Newer CPython builds on this machine, [(python, "3.12.1")]: one per
    minor version above the default's (what a distribution moves to next:
    Alpine ships 3.12), the newest patch release of each.  Looked for as
    pyenv builds ($PYENV_ROOT, ~/.pyenv, /opt/pyenv), /opt/python*, and
    python3.N on the PATH (pyenv's shims resolve to the same builds)."""
    default = default or sys.executable
    pats = []
    roots = [os.environ.get("PYENV_ROOT"), os.path.expanduser("~/.pyenv"), "/root/.pyenv", "/opt/pyenv"]
    for r in filter(None, roots):
        pats.append(os.path.join(r, "versions", "3.*", "bin", "python3"))
    pats += ["/opt/python*/bin/python3", "/opt/python3*/bin/python3"]
    found = glob.glob(pats[0]) if pats else []
    for p in pats[1:]:
        found += glob.glob(p)
    for n in range(9, 20):
        w = shutil.which("python3.%d" % n)
        if w:
            found.append(w)
    mine = _minor(version(default) or "3.0")
    best = {}
    for p in sorted(set(found)):
        if "/shims/" in p:
            continue
        v = version(p)
        if not v or _minor(v) <= mine:
            continue
        if _minor(v) not in best or _release(v) > _release(best[_minor(v)][1]):
            best[_minor(v)] = (os.path.realpath(p), v)
    return [best[k] for k in sorted(best)]


def _release(v):
    return tuple(int(x) for x in v.split(".") if x.isdigit())


def _minor(v):
    return _release(v)[:2]


def version(python):
    try:
        r = subprocess.run([python, "-I", "-S", "-c", "import platform; print(platform.python_version())"],
                           capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    v = r.stdout.strip()
    # A pyenv shim that names no installed version prints nothing.
    return v if r.returncode == 0 and v and v[0].isdigit() else None


def by_key(key):
    for c in COLUMNS:
        if c.key == key:
            return c
    raise KeyError(key)
