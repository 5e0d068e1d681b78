"""The runit and monit backends, attacked by the daemon's user.

The attacker is `nobody` (setpriv), as in test_runit_attacks.py and
test_monit_attacks.py, and works only in directories it owns.  Real
runsvdir/runsv and a real monit run in the sandbox.  Five of these were
holes when written (runit_svdir_root, runit_scandir, monit_run_dir and
monit_include_dir not required to be root-only; svlogd as root through
command_user=root; monit_type=native signalling the pid of a pidfile the
user rewrote); now each start is refused or each signal withheld
(openrc_sv/trust.py, MonitBackend._check_native_pid).

Victims: a root process that records every signal it can catch, and root's
files under /run/victim.
"""

import json
import os
import struct
import sys

import pytest

import initscripts as I
from sandbox import wait_for
from test_monit_backend import CONF, INCLUDE, start_monit
from test_monit_backend import service as monit_service
from test_runit_backend import Runit

pytestmark = pytest.mark.integration

HERE = os.path.dirname(os.path.abspath(__file__))
DRIVER = os.path.join(HERE, "_drive_backend.py")
OWNED = "/run/owned"            # the daemon user's own directory
# The root process the attacker would like to see signalled, and where it is.
from test_monit_attacks import AS_NOBODY, VICTIM, VICTIM_DIR  # noqa: E402
from test_monit_attacks import victim_signals as monit_victim_signals  # noqa: E402
# runit's TAI64 label for UNIX time (supervise.py).
TAI_UNIX = 4611686018427387914


# -- helpers ---------------------------------------------------------------------

def as_nobody(sb, shell):
    r = sb.run(*AS_NOBODY, "sh", "-c", shell)
    assert r.returncode == 0, r.stdout + r.stderr
    return r


def owned_dir(sb, path=OWNED):
    sb.run("mkdir", "-p", "-m", "0755", path, check=True)
    sb.run("chown", "nobody:nogroup", path, check=True)


def start_victim(sb):
    sb.run("mkdir", "-p", "-m", "0755", VICTIM_DIR, check=True)
    sb.spawn("sh", "-c", VICTIM)
    return int(wait_for(lambda: (sb.read(VICTIM_DIR + "/pid") or "").strip(), 10,
                        what="the victim"))


def victim_signals(sb, pid):
    """Every signal the victim caught so far ("(killed)" if it is gone)."""
    if not sb.alive(pid):
        return ["(killed)"]
    return monit_victim_signals(sb, pid)


def stat_fields(sb, pid):
    text = sb.run("cat", "/proc/%d/stat" % pid, check=True).stdout
    return text[text.rindex(")") + 2:].split()


def start_ticks(sb, pid):
    return int(stat_fields(sb, pid)[19])


def started_at(sb, pid):
    """When pid started, in UNIX time, as procscan.started_at computes it."""
    btime = next(int(line.split()[1]) for line in
                 sb.run("cat", "/proc/stat", check=True).stdout.splitlines()
                 if line.startswith("btime "))
    return btime + start_ticks(sb, pid) / os.sysconf("SC_CLK_TCK")


def runsv_status(pid, since):
    """20 bytes of supervise/status saying: pid runs since `since`, wanted up."""
    sec = int(since)
    nano = int((since - sec) * 1e9)
    return struct.pack(">QL", sec + TAI_UNIX, nano) + struct.pack("<L", pid) + \
        bytes([0, ord("u"), 0, 1])


def write_as_nobody(sb, path, data):
    """Write bytes to path as nobody."""
    code = "import sys; open(sys.argv[1], 'wb').write(bytes.fromhex(sys.argv[2]))"
    r = sb.run(*AS_NOBODY, "python3", "-c", code, path, data.hex())
    assert r.returncode == 0, r.stderr


def snapshot(sb, top):
    out = {}
    for d, dirs, files in os.walk(sb.host_path(top)):
        for name in sorted(dirs + files):
            p = os.path.join(d, name)
            st = os.lstat(p)
            content = os.readlink(p) if os.path.islink(p) else \
                open(p).read() if os.path.isfile(p) else None
            out[p[len(sb.host_path("")):]] = (content, st.st_uid, st.st_mode)
    return out


def drive(sb, svc, spec, action, *rest, timeout=120):
    r = sb.run(sys.executable, DRIVER, svc, action, *rest,
               env={"DRIVE_MODEL": json.dumps(spec)}, timeout=timeout)
    assert "Traceback" not in r.stderr, r.stderr
    return r


@pytest.fixture
def rt(sandbox):
    return Runit(sandbox("c"))


@pytest.fixture
def msb(sandbox):
    sb = sandbox()
    I.install_programs(sb)
    sb.run("mkdir", "-p", "/run/monit", INCLUDE, check=True)
    start_monit(sb)
    return sb


# -- runit: runit_svdir_root in a directory the daemon's user owns --------------------

def test_runit_forged_service_dir_in_a_user_svdir_root_gets_no_process_signalled(rt):
    """The admin points runit_svdir_root at a directory the daemon's user
    owns.  Before the start, the user plants SVC/ there with our marker, a
    supervise/status naming a root process (pid and start time are public in
    /proc) and a state/retry of USR1.  start's clean-up of "an earlier run"
    takes that for our daemon and runs the stop schedule against it."""
    sb = rt.sb
    owned_dir(sb)
    victim = start_victim(sb)
    status = runsv_status(victim, started_at(sb, victim))
    as_nobody(sb, "mkdir -p %(d)s/svc/supervise %(d)s/svc/state && : >%(d)s/svc/.openrc-sv && "
                  "echo USR1/1 >%(d)s/svc/state/retry" % {"d": OWNED})
    write_as_nobody(sb, OWNED + "/svc/supervise/status", status)
    rt.install("svc", {"command_user": "nobody", "runit_svdir_root": OWNED})
    r = rt.drive("svc", "start")
    if r.returncode != 0:
        # The fix: such a directory is refused, naming the variable.
        assert "runit_svdir_root" in r.stderr, r.stderr
        assert sb.alive(victim) and victim_signals(sb, victim) == []
        return
    try:
        # start returned: its teardown is over, whatever it signalled.
        assert sb.alive(victim), "root killed the victim"
        assert victim_signals(sb, victim) == [], "root signalled a process named by the user"
    finally:
        rt.drive("svc", "stop")


def test_runit_service_dir_swapped_in_a_user_svdir_root_runs_nothing_as_root(rt):
    """After a good start, the user renames root's SVC/ (allowed: the parent
    is the user's) and creates its own SVC/run.  The scan directory's link
    names the path, so the next rescan of runsvdir (here: the admin starts
    another service) starts a runsv, as root, in the user's directory."""
    sb = rt.sb
    owned_dir(sb)
    rt.install("svc", {"command_user": "nobody", "runit_svdir_root": OWNED})
    r = rt.drive("svc", "start")
    if r.returncode != 0:
        assert "runit_svdir_root" in r.stderr, r.stderr
        return
    as_nobody(sb, "mv %(d)s/svc %(d)s/old && mkdir %(d)s/svc && "
                  "printf '#!/bin/sh\\nid -u >%(d)s/pwned\\nexec sleep 1000\\n' >%(d)s/svc/run && "
                  "chmod 755 %(d)s/svc/run" % {"d": OWNED})
    rt.install("other")
    rt.start("other")
    who = wait_for(lambda: sb.read(OWNED + "/pwned"), 30, interval=0.2,
                   what="runsvdir to pick up the swapped directory")
    assert who.strip() != "0", "root ran the daemon user's ./run"


def test_runit_root_svlogd_via_command_user_root_is_refused_in_a_user_logdir(rt):
    sb = rt.sb
    owned_dir(sb, "/run/log/svc")
    as_nobody(sb, "printf '%s\\n' s100 '!sh -c \"id -u >>/run/log/svc/processor-uid; cat\"' "
                  ">/run/log/svc/config")
    rt.install("svc", {"command_user": "root", "runit_logdir": "/run/log/svc"})
    r = rt.drive("svc", "start")
    if r.returncode != 0:
        assert r.stderr.startswith("runit_logdir: /run/log/svc: svlogd would run as root"), \
            r.stderr
        return
    try:
        svlogd = wait_for(lambda: sb.pids_of("svlogd"), 10, what="svlogd")[0]
        sb.run("kill", "-ALRM", str(svlogd), check=True)
        uid = wait_for(lambda: sb.read("/run/log/svc/processor-uid"), 10,
                       what="svlogd's processor to run")
        assert "0" not in uid.split(), "root ran the processor nobody planted"
    finally:
        rt.drive("svc", "stop")


# -- monit: monit_run_dir in a directory the daemon's user owns ------------------------

def test_monit_private_dir_in_a_user_run_dir_runs_and_signals_nothing_for_the_user(msb):
    sb = msb
    owned_dir(sb)
    victim = start_victim(sb)
    spec = monit_service(sb, "svc", command_user="nobody", monit_run_dir=OWNED)
    r = drive(sb, "svc", spec, "start")
    if r.returncode != 0:
        assert "monit_run_dir" in r.stderr, r.stderr
        return
    daemon = wait_for(lambda: I.daemon_pid(sb, "svc"), 10, what="the daemon")
    ident = "%d:%d" % (victim, start_ticks(sb, victim))
    # Then it kills its own daemon, so that monit restarts it.
    as_nobody(sb, "mv %(d)s/svc %(d)s/old && mkdir %(d)s/svc && "
                  "printf '#!/bin/sh\\nid -u >>%(d)s/ran-as\\n' >%(d)s/svc/control && "
                  "chmod 755 %(d)s/svc/control && echo %(i)s >%(d)s/svc/ident && kill -9 %(p)d"
              % {"d": OWNED, "i": ident, "p": daemon})
    # monit finds the daemon gone and runs `control start`: the user's.
    who = wait_for(lambda: sb.read(OWNED + "/ran-as"), 30, interval=0.2,
                   what="monit to run the control script")
    drive(sb, "svc", spec, "stop")
    harm = []
    if "0" in who.split():
        harm.append("monit ran the user's control script as root")
    if not sb.alive(victim) or victim_signals(sb, victim):
        harm.append("stop signalled the process the user's ident named")
    assert harm == []


# -- monit: native checks -------------------------------------------------------------

NATIVE = """\
check process nat with pidfile %(d)s/nat.pid
  start program = "/bin/sh -c 'setpriv --reuid nobody --regid nogroup --clear-groups setsid sleep 1000 </dev/null >/dev/null 2>&1 & echo $! > %(d)s/nat.pid'"
  stop program = "/bin/sh -c 'pkill -U nobody -x sleep'"
""" % {"d": OWNED}


def test_monit_native_signal_does_not_follow_a_forged_pidfile(msb):
    """The administrator's own check keeps its pidfile in the daemon's
    directory, as is common.  The daemon's user writes a root process's pid
    there; monit adopts it; `reload` (signal) sends SIGHUP to that process."""
    sb = msb
    owned_dir(sb)
    victim = start_victim(sb)
    sb.write("/etc/conf.d/monit-files/nat", NATIVE)
    spec = {"script": "/etc/init.d/nat", "args": [], "variables": {
        "command": "/bin/sleep", "sv_backend": "monit", "monit_type": "native",
        "monit_conf": CONF}}
    r = drive(sb, "nat", spec, "start")
    assert r.returncode == 0, r.stderr
    # The forged pid, then its own daemon killed: monit looks for the
    # process again, in the pidfile.
    as_nobody(sb, "old=$(cat %(d)s/nat.pid) && rm -f %(d)s/nat.pid && "
                  "echo %(v)d >%(d)s/nat.pid && kill $old" % {"d": OWNED, "v": victim})

    def adopted():
        st = json.loads(drive(sb, "nat", spec, "status").stdout)
        return st.get("pid") == victim
    wait_for(adopted, 20, interval=0.3, what="monit to report the forged pid")
    drive(sb, "nat", spec, "signal", "HUP")
    assert victim_signals(sb, victim) == []


# -- monit: the compatibility pidfile= in the user's directory (defence) ---------------

def test_monit_pidfile_symlink_is_replaced_not_followed_on_respawn_and_stop(msb):
    """pidfile= in the user's directory: the user swaps it for a symlink to
    root's file and kills its daemon.  The launcher (root) writes the
    respawned daemon's pid by rename, replacing the link; stop unlinks the
    path, a link planted again, not its target.  Root's file never changes."""
    sb = msb
    owned_dir(sb)
    sb.run("mkdir", "-p", "-m", "0755", VICTIM_DIR, check=True)
    sb.write(VICTIM_DIR + "/root-file", "root's own\n", 0o644)
    before = snapshot(sb, VICTIM_DIR)
    pidfile = OWNED + "/svc.pid"
    spec = monit_service(sb, "svc", command_user="nobody", pidfile=pidfile)
    r = drive(sb, "svc", spec, "start")
    assert r.returncode == 0, r.stderr
    first = wait_for(lambda: I.daemon_pid(sb, "svc"), 10, what="the daemon")
    wait_for(lambda: (sb.read(pidfile) or "").strip() == str(first), 10, what="the pidfile")

    as_nobody(sb, "rm -f %s && ln -s %s/root-file %s && kill -9 %d"
              % (pidfile, VICTIM_DIR, pidfile, first))
    second = wait_for(lambda: (I.daemon_pid(sb, "svc") != first and sb.alive(
        I.daemon_pid(sb, "svc")) and I.daemon_pid(sb, "svc")), 30, what="the respawn")

    def rewritten():
        p = sb.host_path(pidfile)
        return not os.path.islink(p) and (sb.read(pidfile) or "").strip() == str(second)
    wait_for(rewritten, 20, what="the pidfile to be rewritten by rename")
    st = os.lstat(sb.host_path(pidfile))
    assert st.st_uid == 0 and st.st_mode & 0o777 == 0o644
    assert snapshot(sb, VICTIM_DIR) == before

    as_nobody(sb, "rm -f %s && ln -s %s/root-file %s" % (pidfile, VICTIM_DIR, pidfile))
    r = drive(sb, "svc", spec, "stop")
    assert r.returncode == 0, r.stderr
    assert not sb.exists(pidfile), "the planted link itself is removed"
    assert snapshot(sb, VICTIM_DIR) == before
    assert I.daemons(sb) == []
