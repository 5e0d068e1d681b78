"""Adversarial review of issue 9's changes (version rule sets, the pin
read from rc.conf/rc.conf.d/conf.d, user services, the compat shim).

Each test here shows one problem found in review, as a strict xfail: it
passes (and so fails the suite, reminding whoever fixes the code to drop
the mark) once the problem is fixed.  Attacks run as `nobody` (setpriv)
inside a sandbox, as in test_attack_dropin.py.
"""

import os
import signal

import pytest

import initscripts as I
from openrc_sv import launcher
from sandbox import wait_for

pytestmark = pytest.mark.integration

AS_NOBODY = ("setpriv", "--reuid", "nobody", "--regid", "nogroup", "--clear-groups")
RUNTIME = "/run/user/65534"          # nobody's XDG_RUNTIME_DIR: nobody's own
VICTIM = "/run/victims/victim"       # root's, 0644


def _victim(sb):
    sb.run("install", "-d", "-m", "0755", "/run/victims", check=True)
    sb.write(VICTIM, "root's own\n", 0o644)


def _sd(sb, *args, env=None):
    e = {"RC_SVCNAME": "svc"}
    e.update(env or {})
    return sb.run(*(launcher.argv() + ["svc"] + list(args)), env=e)


# -- 1. root's --signal in a user's service dir ------------------------------------

def test_root_signal_in_a_users_service_dir_writes_nothing_through_their_link(sandbox):
    """The issue's own example: root types `supervise-daemon X -U --signal
    HUP` for a user's service, with that user's XDG_RUNTIME_DIR (as `su`
    leaves it).  --start and --stop refuse a service dir root does not own
    (trust.require_service_dir, via ServiceLock), but --signal opens
    $svcdir/supervise-X.ctl for writing with no such check and without
    O_NOFOLLOW: the user's symlink there makes root write "sig 1" over the
    first bytes of any file."""
    sb = sandbox("ours")
    _victim(sb)
    sb.run("mkdir -p %s && chown nobody:nogroup %s && chmod 700 %s"
           % (RUNTIME, RUNTIME, RUNTIME), check=True)
    sb.run(*(AS_NOBODY + ("sh", "-c", "mkdir -p %s/openrc && ln -s %s %s/openrc/supervise-svc.ctl"
                          % (RUNTIME, VICTIM, RUNTIME))), check=True)
    r = _sd(sb, "-U", "--signal", "HUP", env={"XDG_RUNTIME_DIR": RUNTIME})
    assert sb.read(VICTIM) == "root's own\n", "root wrote through nobody's link"
    assert r.returncode != 0
    assert "XDG_RUNTIME_DIR" in r.stderr and "Traceback" not in r.stderr


# -- 2. a pin that goes bad after the start, then SIGHUP (re-exec) -----------------------

def test_a_bad_pin_written_after_the_start_does_not_kill_the_supervisor_at_reexec(sandbox):
    """SIGHUP re-executes the supervisor with its original command line,
    which is parsed again (sd_args.parse, mode reexec) and so re-reads
    supervise_daemon_compat from rc.conf, rc.conf.d and conf.d.  A pin
    that was fine at the start, or absent, and is bad now (a typo saved
    later) makes the new image exit with a UserError: the daemon is left
    running with no supervisor, while OpenRC still says started.  The
    rules should be fixed at the start and carried across the re-exec."""
    sb = sandbox("ours")
    r = _sd(sb, "--start", "/bin/sleep", "1000")
    assert r.returncode == 0, r.stdout + r.stderr
    sup = wait_for(lambda: _pid(sb, "/run/supervise-svc.pid"), 10, what="the supervisor")
    daemon = wait_for(lambda: _daemon(sb), 10, what="the daemon")
    sb.write("/etc/rc.conf.d/typo.conf", "supervise_daemon_compat=0.6x\n")
    sb.run("kill", "-HUP", str(sup), check=True)
    # Either the new image catches SIGTERM again (it has parsed its options
    # and installed its handlers) or it is gone.
    wait_for(lambda: not sb.alive(sup) or _resumed(sb, sup), 10, what="the re-exec")
    assert sb.alive(sup), "the supervisor died at re-exec; daemon %d is left unsupervised" % daemon
    assert _ppid(sb, daemon) == sup


def _pid(sb, path):
    text = sb.read(path)
    return int(text) if text and text.strip().isdigit() else None


def _daemon(sb):
    found = [p for p, _, st, args in sb.ps() if args == "/bin/sleep 1000" and st[0] != "Z"]
    return found[0] if found else None


def _ppid(sb, pid):
    return next((pp for p, pp, _, _ in sb.ps() if p == pid), None)


def _resumed(sb, pid):
    cmd = (sb.read("/proc/%d/cmdline" % pid) or "").split("\0")
    status = sb.read("/proc/%d/status" % pid) or ""
    caught = [int(ln.split()[1], 16) for ln in status.splitlines() if ln.startswith("SigCgt:")]
    return "--reexec" in cmd and caught and caught[0] & (1 << (signal.SIGTERM - 1))


# -- 3. openrc-sv-exec (runit, monit) re-reads the pin and fails ------------------------

def test_openrc_sv_exec_does_not_refuse_a_pin_the_plugin_accepted(sandbox):
    """openrc-sv-exec (what runit's ./run and monit's start program exec)
    parses its process options with sd_args.parse(... --start ...), so it
    runs rcversion.choose: it reads supervise_daemon_compat from rc.conf,
    rc.conf.d and conf.d as root at every daemon start -- although it
    applies no respawn rule -- the librc way, where nothing is evaluated.
    A pin the shell (and so the plugin and sv_backend=native) reads as
    0.62, such as "${SVC_COMPAT:-0.62}", is a bad value there: under
    runit (./run execs openrc-sv-exec, which refuses --compat as a
    supervisor's option) the daemon never runs; under native and monit,
    which get --compat 0.62 from the model, it does.  The same happens at
    every respawn under runit once a pin goes bad after the start.
    This runs openrc-sv-exec exactly as ./run does (minus env -i)."""
    sb = sandbox("ours")
    sb.write("/etc/conf.d/svc", 'supervise_daemon_compat="${SVC_COMPAT:-0.62}"\n')
    r = sb.run(*(_exec_argv() + ["svc", "--", "/bin/true"]))
    assert r.returncode == 0, r.stdout + r.stderr


def _exec_argv():
    """openrc-sv-exec, as runit's ./run and monit's launcher run it."""
    sd = launcher.argv()
    return sd[:-1] + [os.path.join(os.path.dirname(sd[-1]), "openrc-sv-exec")]


# -- 4. the plugin's rule set and its native supervisor's disagree -------------------------

def test_native_supervisor_applies_the_rule_set_the_plugin_chose(sandbox):
    """The man page: `auto` in an init script undoes an rc.conf pin for one
    service, and supervisor=openrc-sv sees the script's variables.  The
    plugin's model (model._respawn) does so: auto, so detect: 0.45.2 here,
    the lifetime budget -- which the runit backend renders into ./finish.
    But for auto the model passes no --compat, so native's supervise-daemon
    (and monit's launcher, which parses its options with sd_args too)
    chooses again by itself, reads the pin in rc.conf.d (it cannot see the
    script's auto) and applies 0.62's 12 s period: the same script counts
    respawns over its lifetime under runit and over 12 s under native."""
    sb = sandbox("ours")
    r = sb.run("openrc-sv", "setup", "--plugin")
    assert r.returncode == 0, r.stdout + r.stderr
    sb.write("/etc/rc.conf.d/pin.conf", "supervise_daemon_compat=0.62\n")
    I.install_programs(sb)
    d = I.statedir("svc")
    sb.run("mkdir", "-p", "-m", "0777", d, check=True)
    sb.install_script("svc", "\n".join([
        "#!/sbin/openrc-run", "supervisor=openrc-sv", "sv_backend=native",
        "command=%s" % I.DAEMON, "command_args=%s" % d,
        "supervise_daemon_compat=auto"]) + "\n")
    r = sb.rc("svc", "start")
    assert r.returncode == 0, r.stdout + r.stderr
    I.wait_daemon(sb, "svc")
    # 0.45's rules, as the model chose them: whole seconds, the lifetime ("0")
    assert sb.value("svc", "respawn_period") == "0"
