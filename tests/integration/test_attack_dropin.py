"""The daemon's user attacks its own log directory (issue 7, §1.2 and §1.3).

The daemon runs as `nobody`, and `nobody` owns the directory its
output_log/error_log/input_file live in (the usual `checkpath -d -o
$command_user`).  Before or after the start, `nobody` (via setpriv) plants
symlinks to root's files and FIFOs there.  None of it may make root create,
append to, chown or read a file `nobody` could not: every file outside the
attacker's directory is unchanged afterwards.

Each attack runs against our drop-in through rc-service (supervisor=
supervise-daemon), against the plugin's native backend (supervisor=openrc-sv,
sv_backend=native: the same supervisor, started by openrc-sv), against the
monit backend (its launcher opens the files through the same core), and, where
OpenRC 0.45 has the option, against OpenRC's C supervise-daemon as the
reference.

What ours does with a file the daemon's user cannot open: the start fails
at once, with one line naming the option and the path, and leaves nothing
behind (C opens the file in its child after setuid, so the open fails there
too, but each respawn fails the same way while --start has already said
"started").  A reopen that fails keeps the file that was open and says why
in syslog.
"""

import os
import shlex
import stat
import time

import pytest

import initscripts as I
from sandbox import wait_for

pytestmark = pytest.mark.integration

ATTACK = "/run/attack"                 # owned by nobody: the attacker's own
VICTIMS = ("/etc/conf.d", "/etc/init.d", "/run/victims")   # root's
VICTIM = "/run/victims/victim"         # exists: root 0644
SECRET = "/run/victims/secret"         # exists: root 0600
NOWHERE = "/etc/conf.d/ld.so.preload"  # does not exist; root-only directory
AS_NOBODY = ("setpriv", "--reuid", "nobody", "--regid", "nogroup", "--clear-groups")

MODES = ["ours", "native", "monit", "c"]
# runit's own attack tests (svlogd, the service directory, the same log and
# input symlinks) are in test_runit_attacks.py.


def world(sandbox, mode):
    sb = sandbox("c" if mode == "c" else "ours")
    if mode == "native":
        r = sb.run("openrc-sv", "setup", "--plugin")
        assert r.returncode == 0, r.stdout + r.stderr
    elif mode == "monit":
        from test_backends import world as backend_world
        backend_world(sb, "monit")      # the plugin and a running monit
    I.install_programs(sb)
    sb.run("install", "-d", "-o", "nobody", "-g", "nogroup", "-m", "0755", ATTACK, check=True)
    sb.run("install", "-d", "-m", "0755", "/run/victims", check=True)
    sb.write(VICTIM, "root's own\n", 0o644)
    sb.write(SECRET, "SECRET\n", 0o600)
    sb.mode = mode
    return sb


def attacker(sb, *cmd):
    """Run cmd as nobody inside the sandbox; it must succeed."""
    return sb.run(*(AS_NOBODY + cmd), check=True)


def install(sb, svc="svc", **variables):
    d = I.statedir(svc)
    sb.run("mkdir", "-p", "-m", "0777", d, check=True)
    if sb.mode == "native":
        head = ["supervisor=openrc-sv", "sv_backend=native"]
    elif sb.mode == "monit":
        head = ["supervisor=openrc-sv", "sv_backend=monit", "monit_conf=/run/monit/monitrc"]
    else:
        head = ["supervisor=supervise-daemon"]
    lines = ["#!/sbin/openrc-run"] + head + [
        "command=%s" % I.DAEMON, "command_args=%s" % d, "command_user=nobody:nogroup"]
    lines += ["%s=%s" % (k, shlex.quote(v)) for k, v in variables.items()]
    sb.install_script(svc, "\n".join(lines) + "\n")


def snapshot(sb):
    """Every file and directory under root's places, with what may change."""
    seen = {}
    for top in VICTIMS:
        for base, dirs, files in os.walk(sb.host_path(top)):
            for name in [""] + dirs + files:
                p = os.path.join(base, name) if name else base
                st = os.lstat(p)
                content = None
                if stat.S_ISREG(st.st_mode):
                    with open(p, "rb") as f:
                        content = f.read()
                key = p[len(sb.host_path("")):]
                seen[key] = (st.st_mode, st.st_uid, st.st_gid, st.st_size, st.st_mtime_ns, content)
    return seen


def lines_naming(r, text):
    return [ln for ln in (r.stdout + r.stderr).splitlines() if text in ln]


def nothing_left(sb, svc="svc"):
    wait_for(lambda: not I.daemons(sb) and not I.supervisors(sb, svc), 10,
             what="no daemon and no supervisor")
    assert sb.status(svc) == 3
    assert not sb.exists("/run/supervise-%s.pid" % svc)
    assert not sb.exists("/run/openrc/supervise-%s.ctl" % svc)
    assert sb.listdir("/run/openrc/options/" + svc) == []
    assert not sb.exists("/run/openrc/started/" + svc)


VARIABLE = {"--stdout": "output_log", "--stderr": "error_log", "--stdin": "input_file"}


def refused(sb, r, option, path):
    """Ours: the start failed with one line naming the option (the drop-in)
    or the variable (the plugin) and the path."""
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    named = lines_naming(r, path)
    assert len(named) == 1, out
    assert option in named[0] or VARIABLE[option] in named[0], out
    nothing_left(sb)


def c_has_stopped_trying(sb, svc="svc"):
    """C's child fails its open and exits, respawning up to respawn_max=1:
    wait until its supervisor has given up."""
    wait_for(lambda: not I.supervisors(sb, svc), 30, what="C's supervisor to give up")


# -- 1. a symlink to a file that does not exist ------------------------------------------

@pytest.mark.parametrize("option, variable", [("--stdout", "output_log"), ("--stderr", "error_log")])
@pytest.mark.parametrize("mode", MODES)
def test_a_planted_symlink_cannot_create_a_file_anywhere(sandbox, mode, option, variable):
    sb = world(sandbox, mode)
    log = ATTACK + "/out.log"
    attacker(sb, "ln", "-s", NOWHERE, log)
    install(sb, respawn_max="1", **{variable: log})
    before = snapshot(sb)
    r = sb.rc("svc", "start")
    if mode == "c":
        c_has_stopped_trying(sb)
    else:
        refused(sb, r, option, log)
    assert not sb.exists(NOWHERE)
    assert snapshot(sb) == before


# -- 2. a symlink to root's existing file ------------------------------------------------

@pytest.mark.parametrize("mode", MODES)
def test_a_planted_symlink_cannot_append_to_roots_file(sandbox, mode):
    sb = world(sandbox, mode)
    log = ATTACK + "/out.log"
    attacker(sb, "ln", "-s", VICTIM, log)
    install(sb, respawn_max="1", output_log=log, error_log=log)
    before = snapshot(sb)
    r = sb.rc("svc", "start")
    if mode == "c":
        c_has_stopped_trying(sb)
    else:
        refused(sb, r, "--stdout", log)
    assert snapshot(sb) == before
    assert sb.read(VICTIM) == "root's own\n"


# -- 3. the log swapped for a symlink after the start, then reopened ---------------------------

@pytest.mark.parametrize("how", ["SIGUSR1", "fifo"])
@pytest.mark.parametrize("mode", ["ours", "native"])
def test_a_symlink_swapped_in_after_the_start_is_not_followed_on_reopen(sandbox, mode, how):
    sb = world(sandbox, mode)
    log = ATTACK + "/out.log"
    install(sb, output_log=log)
    r = sb.rc("svc", "start")
    assert r.returncode == 0, r.stdout + r.stderr
    first = I.wait_daemon(sb, "svc")
    wait_for(lambda: "from %d" % first in sb.read(log, ""), 10, what="the first line")
    # The file was created by the daemon's user, not by root.
    st = os.lstat(sb.host_path(log))
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (65534, 0o600)
    attacker(sb, "mv", log, log + ".1")
    attacker(sb, "ln", "-s", VICTIM, log)
    before = snapshot(sb)
    if how == "SIGUSR1":
        sb.run("kill", "-USR1", str(I.supervisor_pid(sb, "svc")), check=True)
    else:
        sb.run("sh", "-c", "echo reopen > /run/openrc/supervise-svc.ctl", check=True)
    # Then make the daemon write again: a respawn prints a line.  The
    # supervisor handles the reopen before the daemon's death (it came
    # first), so the new line shows where the reopen left the output.
    sb.run("kill", "-9", str(first), check=True)
    second = I.wait_daemon(sb, "svc", other_than=first)
    wait_for(lambda: "from %d" % second in sb.read(log + ".1", ""), 10,
             what="the respawned daemon's line in the file that stayed open")
    assert snapshot(sb) == before
    assert sb.read(VICTIM) == "root's own\n"
    assert sb.rc("svc", "stop").returncode == 0


# -- 4. input_file: a symlink to a root-only file -------------------------------------------

@pytest.mark.parametrize("mode", ["ours", "native", "monit"])   # OpenRC 0.45 has no input_file
def test_input_file_cannot_hand_the_daemon_a_root_only_file(sandbox, mode):
    sb = world(sandbox, mode)
    stdin = ATTACK + "/in"
    attacker(sb, "ln", "-s", SECRET, stdin)
    if mode in ("native", "monit"):
        install(sb, input_file=stdin)
    else:
        # supervise-daemon.sh 0.45 does not pass input_file (upstream's
        # passes it as --stdin): say it in supervise_daemon_args.
        install(sb, supervise_daemon_args="--stdin " + stdin)
    before = snapshot(sb)
    r = sb.rc("svc", "start")
    refused(sb, r, "--stdin", stdin)
    assert "SECRET" not in r.stdout + r.stderr
    assert snapshot(sb) == before


# -- 5. output_log is a FIFO -------------------------------------------------------------------

@pytest.mark.parametrize("reader", [False, True], ids=["no-reader", "reader"])
@pytest.mark.parametrize("mode", ["ours", "native", "monit"])
def test_a_fifo_as_output_log_fails_the_start_at_once(sandbox, mode, reader):
    """A FIFO would block the daemon (or the supervisor) until a reader
    comes, and a reader the attacker controls would get the output."""
    sb = world(sandbox, mode)
    log = ATTACK + "/out.log"
    attacker(sb, "mkfifo", "-m", "0666", log)
    if reader:
        # The attacker holds the FIFO open for reading: an open for
        # writing would succeed at once, so only a type check refuses it.
        hold = sb.spawn(*(AS_NOBODY + ("sh", "-c", "exec 3<>%s; exec sleep 1000" % log)))
        wait_for(lambda: sb.pids_of("sleep 1000"), 10, what="the attacker's reader")
    install(sb, output_log=log)
    before = snapshot(sb)
    t0 = time.monotonic()
    r = sb.rc("svc", "start")
    took = time.monotonic() - t0
    refused(sb, r, "--stdout", log)
    assert "FIFO" in lines_naming(r, log)[0]
    assert took < 15
    assert stat.S_ISFIFO(os.lstat(sb.host_path(log)).st_mode)   # the attacker's, left alone
    assert snapshot(sb) == before
    if reader:
        hold.kill()
        hold.wait()
