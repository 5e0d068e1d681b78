#!/usr/bin/python3
"""openrc-sv benchmarks: our supervisors beside OpenRC's C supervise-daemon.

    tools/run bench [--full] [--repeat N] [--services 1,50,500] [--kills N]
                    [--idle-seconds S] [--json [FILE]] [--columns c,dropin,...]
                    [--metrics fleet,startstop,...] [--pythons auto|none|PATH,...]
                    [--baseline REV]

Runs the same init scripts, each in a fresh private namespace (the test
sandbox, tests/sandbox.py), under every supervisor of bench/columns.py that
is installed, and prints one table: C's figures as measured, ours as ratios
to C's from the same run, median [min-max] over --repeat runs, with the
targets.  Needs root and OpenRC.  See bench/README.md.
"""

import argparse
import json
import os
import platform
import resource
import sys
import time
from types import SimpleNamespace

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "tests"))

from bench import columns as C, report  # noqa: E402
from bench.metrics import fleet, health, idle, respawn, startstop, startup, storm  # noqa: E402

# In the order of the table.
METRICS = {"fleet": fleet, "startstop": startstop, "startup": startup, "respawn": respawn,
           "storm": storm, "idle": idle, "health": health}
ORDER = ["mem.", "start.", "stop.", "startup.", "respawn.", "recover.", "storm.", "idle.", "idle_hc.",
         "health."]

QUICK = dict(repeat=3, services="1,50", kills=50, idle_seconds=10.0, storm_seconds=3.0,
             health_rounds=3, cycles=5)
FULL = dict(repeat=3, services="1,50,500", kills=200, idle_seconds=60.0, storm_seconds=5.0,
            health_rounds=10, cycles=10)


def parse(argv):
    p = argparse.ArgumentParser(prog="tools/run bench", description=__doc__.split("\n")[0])
    p.add_argument("--full", action="store_true",
                   help="the long run: 1,50,500 services, every column, 100 kills, 60 s idle")
    p.add_argument("--repeat", type=int, help="runs to take the median over (default 3)")
    p.add_argument("--services", help="service counts for memory, start/stop in a row and "
                   "kill-all recovery (quick 1,50; full 1,50,500)")
    p.add_argument("--kills", type=int, help="kills per run for respawn latency (quick 50, full 200; "
                   "a p99 needs 200, fewer give the max)")
    p.add_argument("--idle-seconds", type=float, help="idle window (quick 10, full 60)")
    p.add_argument("--storm-seconds", type=float, help="crash storm window (quick 3, full 5)")
    p.add_argument("--health-rounds", type=int, help="failed health checks per run (quick 3, full 10)")
    p.add_argument("--cycles", type=int, help="start/stop cycles per run for one service (quick 5, full 10)")
    p.add_argument("--nofile", type=int, default=1024,
                   help="soft RLIMIT_NOFILE the sandboxes inherit (default 1024, the kernel's "
                   "default for init and so for services on an OpenRC boot)")
    p.add_argument("--columns", help="comma-separated column keys (default: all): "
                   + ",".join(c.key for c in C.COLUMNS))
    p.add_argument("--metrics", help="comma-separated measurements (default: all): " + ",".join(METRICS))
    p.add_argument("--pythons", default="auto", metavar="auto|none|PATH,...",
                   help="other interpreters to measure memory on, for 50 services and more "
                   "(auto: pyenv builds and python3.N found on this machine)")
    p.add_argument("--at", metavar="REV",
                   help="run our columns from this git commit instead of the working tree "
                   "(which others may be editing meanwhile)")
    p.add_argument("--baseline", metavar="REV",
                   help="also run drop-in and plugin:native from this git commit (before/after "
                   "in one run)")
    p.add_argument("--json", nargs="?", const="", metavar="FILE",
                   help="also write the results as JSON (no FILE: bench/results/DATE.json)")
    a = p.parse_args(argv)
    base = FULL if a.full else QUICK
    cfg = SimpleNamespace(**{k: getattr(a, k) if getattr(a, k) is not None else v for k, v in base.items()})
    try:
        cfg.services = sorted({int(x) for x in str(cfg.services).split(",") if x.strip()})
    except ValueError:
        p.error("--services: expected comma-separated counts, like 1,50,500, got %r" % cfg.services)
    if not cfg.services or min(cfg.services) < 1:
        p.error("--services: counts must be at least 1, got %r" % a.services)
    if a.nofile < 64:
        p.error("--nofile: must be at least 64, got %d" % a.nofile)
    for k in ("repeat", "kills", "health_rounds", "cycles"):
        if getattr(cfg, k) < 1:
            p.error("--%s: must be at least 1, got %r" % (k.replace("_", "-"), getattr(cfg, k)))
    cfg.metrics = _pick(p, "--metrics", a.metrics, list(METRICS))
    cfg.columns = _pick(p, "--columns", a.columns, [c.key for c in C.COLUMNS])
    if C.REFERENCE not in cfg.columns:
        p.error("--columns: must include %s, the reference every ratio is taken to" % C.REFERENCE)
    cfg.named_columns = bool(a.columns)
    cfg.pythons_arg = a.pythons
    cfg.baseline = a.baseline
    cfg.at = a.at
    cfg.nofile = a.nofile
    cfg.json = a.json
    cfg.mode = "full" if a.full else "quick"
    return cfg


def _pick(p, flag, text, valid):
    if not text:
        return valid
    chosen = [x.strip() for x in text.split(",") if x.strip()]
    bad = [x for x in chosen if x not in valid]
    if bad:
        p.error("%s: unknown %s (valid: %s)" % (flag, ", ".join(bad), ", ".join(valid)))
    return chosen


def interpreter():
    return "%s -> %s, Python %s" % (sys.executable, os.path.realpath(sys.executable),
                                    platform.python_version())


def other_pythons(p, arg):
    """[(path, version)] of the interpreters --pythons names."""
    if arg == "none":
        return []
    if arg == "auto":
        return C.interpreters()
    out = []
    for path in (x.strip() for x in arg.split(",") if x.strip()):
        v = C.version(path)
        if not v:
            p.error("--pythons: %s does not run as a Python interpreter" % path)
        out.append((path, v))
    return out


def limit_files(soft):
    """Give the sandboxes the usual soft limit on open files.  It matters:
    OpenRC's C supervisor marks every possible fd close-on-exec before it
    execs the daemon (one fcntl per fd up to the limit), so its respawn
    cost grows with the limit a shell or container happened to give us."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return soft


def main(argv=None):
    # A TERM (a timeout, a kill) unwinds like ^C: every sandbox's `with`
    # closes it, and the exported trees go, instead of orphaned namespaces.
    import signal
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    cfg = parse(sys.argv[1:] if argv is None else argv)
    cfg.nofile = limit_files(cfg.nofile)
    cfg.python_version = platform.python_version()
    cfg.pythons = other_pythons(argparse.ArgumentParser(prog="tools/run bench"), cfg.pythons_arg)
    cols = [c for c in C.COLUMNS if c.key in cfg.columns]
    made = []
    if cfg.at:
        tree, cfg.at_short = C.export(cfg.at, "--at")
        made.append(tree)
        cols = C.at_commit(cols, tree)
    if cfg.baseline:
        base_cols, base_dir = C.baseline_columns(cfg.baseline)
        made.append(base_dir)
        cols += [c for c in base_cols if c.key.split("@")[0] in cfg.columns]
    cfg.all_columns = cols
    try:
        return _main(cfg, cols)
    finally:
        import shutil
        for d in made:
            shutil.rmtree(d, ignore_errors=True)


def _main(cfg, cols):
    for c in cols:
        c.missing_reason = c.missing()
        if not c.missing_reason and c.slow and cfg.mode == "quick" and not cfg.named_columns:
            c.missing_reason = "slow (seconds per start): left out of the quick run; use --full or --columns"
    if cols[0].missing_reason:
        sys.stderr.write("bench: fatal: unable to run the reference, %s: %s\n"
                         % (cols[0].title, cols[0].missing_reason))
        return 111
    live = [c for c in cols if not c.missing_reason]
    print("interpreter: %s (every row but those naming another)" % interpreter())
    for path, ver in cfg.pythons:
        print("interpreter: %s, Python %s (memory rows marked py%s: drop-in, fork server)"
              % (path, ver, ver))
    if cfg.at:
        print("our code:    commit %s (%s), not the working tree" % (cfg.at_short, cfg.at))
    if cfg.baseline:
        print("baseline:    %s (columns @...: the same supervisors from that commit)" % cfg.baseline)
    print("machine:     %s, %d CPUs, kernel %s; open files limit %d"
          % (platform.machine(), os.cpu_count(), platform.release(), cfg.nofile))
    print("mode:        %s: %d runs; services %s; %d kills; idle %gs; storm %gs; %d health rounds; %d cycles"
          % (cfg.mode, cfg.repeat, ",".join(map(str, cfg.services)), cfg.kills, cfg.idle_seconds,
             cfg.storm_seconds, cfg.health_rounds, cfg.cycles))
    for c in cols:
        if c.missing_reason:
            print("n/a:         %s: %s" % (c.title, c.missing_reason))
    sys.stdout.flush()

    runs = []
    t_begin = time.monotonic()
    for r in range(cfg.repeat):
        # Alternate the order, so that a drift over the run (a warming page
        # cache, a busy neighbour) does not always favour the same column.
        order = live if r % 2 == 0 else [live[0]] + live[:0:-1]
        run = {}
        for name in cfg.metrics:
            t0 = time.monotonic()
            res = METRICS[name].measure(order, cfg)
            for key, figs in res.items():
                figs = dict(figs)
                for k in ("error", "trace"):
                    if k in figs:
                        figs[k + ":" + name] = figs.pop(k)
                run.setdefault(key, {}).update(figs)
            _progress("run %d/%d: %s %.0fs" % (r + 1, cfg.repeat, name, time.monotonic() - t0))
        runs.append(run)
    _progress("")

    figures = [f for name in cfg.metrics for f in METRICS[name].figures(cfg)]
    figures.sort(key=lambda f: next(i for i, p in enumerate(ORDER) if f.key.startswith(p)))
    rows = report.build(figures, cols, runs)
    print()
    print(report.render(rows, cols))
    print()
    print("C: OpenRC's C supervisor, as measured; others: ratio to C in the same run "
          "(or the value, where the target is absolute); median [min-max] over %d runs; %.0fs in all."
          % (cfg.repeat, time.monotonic() - t_begin))
    _print_errors(runs, cols)
    if cfg.json is not None:
        path = _write_json(cfg, cols, runs, rows)
        print("JSON: %s" % path)
    return 0


def _progress(text):
    if sys.stderr.isatty():
        sys.stderr.write("\r\033[K" + text)
        sys.stderr.flush()
    elif text:
        sys.stderr.write(text + "\n")


def _print_errors(runs, cols):
    seen = set()
    for r, run in enumerate(runs):
        for c in cols:
            for key, err in run.get(c.key, {}).items():
                if key.startswith("error:") and (c.key, key) not in seen:
                    seen.add((c.key, key))
                    short = " | ".join(x.strip() for x in err.splitlines() if x.strip())
                    print("error: %s, %s (run %d): %s" % (c.title, key[6:], r + 1, short[:400]))


def _write_json(cfg, cols, runs, rows):
    path = cfg.json
    if not path:
        d = os.path.join(HERE, "results")
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, time.strftime("bench-%Y%m%d-%H%M%S.json"))
    doc = {
        "interpreter": interpreter(),
        "kernel": platform.release(), "cpus": os.cpu_count(),
        "config": {k: v for k, v in vars(cfg).items() if k != "json"},
        "columns": {c.key: {"title": c.title, "missing": c.missing_reason} for c in cols},
        "runs": runs,
        "rows": report.as_json(rows),
    }
    with open(path, "w") as f:
        json.dump(doc, f, indent=1, default=str)
    return path


if __name__ == "__main__":
    sys.exit(main())
