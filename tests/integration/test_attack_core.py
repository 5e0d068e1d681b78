"""The daemon's user attacks the trusted core (issue 7, §1).

The daemon runs as `nobody`, which owns the directories its pidfile, logs
and (for one test) its chroot live in.  Acting as `nobody` (setpriv), the
tests plant FIFOs, pre-made files and a forged /etc/group where root's
code will look, and check that root neither opens, writes, signals nor
hands over anything `nobody` could not reach itself.

Three of these were holes when written, each now closed:

  * test_root_does_not_open_a_fifo_planted_as_the_pidfile
        root read (and claimed) the --pidfile with a plain open(),
        following symlinks and blocking on a FIFO; now it reads without
        following or blocking, regular files only, and never opens the
        pidfile for writing (write_pidfile replaces it by rename).
  * test_the_pidfile_is_never_an_inode_the_attacker_made
        rcstate.write_atomic's temp name was predictable and opened
        without O_EXCL; now it is random and O_EXCL.
  * test_a_forged_etc_group_in_the_chroot_gives_the_opener_no_groups
        useropen looked up the supplementary groups after chroot(), in the
        chroot's /etc/group; now they come from the host's, before.

The others pin defences that held from the start.
"""

import errno
import os
import shlex
import stat
import sys
import time

import pytest

import initscripts as I
from sandbox import REPO, wait_for

pytestmark = pytest.mark.integration

ATTACK = "/run/attack"                 # owned by nobody: the attacker's own
VICTIM = "/run/victims/victim"         # root 0644
AS_NOBODY = ("setpriv", "--reuid", "nobody", "--regid", "nogroup", "--clear-groups")
NOBODY = 65534
EXEC = os.path.join(REPO, "openrc_sv", "data", "openrc-sv-exec")


def world(sandbox):
    sb = sandbox("ours")
    I.install_programs(sb)
    sb.run("install", "-d", "-o", "nobody", "-g", "nogroup", "-m", "0755", ATTACK, check=True)
    sb.run("install", "-d", "-m", "0755", "/run/victims", check=True)
    sb.write(VICTIM, "root's own\n", 0o644)
    return sb


def attacker(sb, *cmd):
    """Run cmd as nobody inside the sandbox; it must succeed."""
    return sb.run(*(AS_NOBODY + cmd), check=True)


def install(sb, svc="svc", command=I.DAEMON, command_args=None, **variables):
    d = I.statedir(svc)
    sb.run("mkdir", "-p", "-m", "0777", d, check=True)
    lines = ["#!/sbin/openrc-run", "supervisor=supervise-daemon",
             "command=%s" % command,
             "command_args=%s" % (d if command_args is None else command_args),
             "command_user=nobody:nogroup"]
    lines += ["%s=%s" % (k, shlex.quote(v)) for k, v in variables.items()]
    sb.install_script(svc, "\n".join(lines) + "\n")


def ns_last_pid(sb):
    return int(sb.run("cat", "/proc/sys/kernel/ns_last_pid", check=True).stdout)


def fds_of(sb, pid):
    """{fd: target} of a process in the sandbox, read as root."""
    r = sb.run("sh", "-c", 'cd /proc/%d/fd && for f in *; do echo "$f $(readlink $f)"; done' % pid,
               check=True)
    return dict(line.split(" ", 1) for line in r.stdout.splitlines())


def status_of(sb, pid):
    text = sb.read("/proc/%d/status" % pid)
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)


# -- 1. the pidfile is a FIFO the attacker planted --------------------------------------------

def test_root_does_not_open_a_fifo_planted_as_the_pidfile(sandbox):
    sb = world(sandbox)
    pidfile = ATTACK + "/svc.pid"
    attacker(sb, "mkfifo", "-m", "0666", pidfile)
    install(sb, pidfile=pidfile)
    fifo = sb.host_path(pidfile)
    start = sb.spawn("rc-service", "svc", "start")
    opened_by_root = False
    held = None
    deadline = time.monotonic() + 90
    try:
        while start.poll() is None:
            assert time.monotonic() < deadline, "rc-service svc start hung on the FIFO"
            if not opened_by_root:
                # Opening the write end without blocking succeeds only when
                # someone has the FIFO open (or is waiting in open) to read:
                # nobody but root's start can be.
                try:
                    fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
                except OSError as e:
                    assert e.errno == errno.ENXIO, e
                else:
                    opened_by_root = True
                    # The attacker could hand root any pid here, or keep it
                    # waiting forever; let it go, and give the write-open
                    # (_claim_pidfile) a reader so it cannot hang either.
                    os.write(fd, b"1\n")
                    os.close(fd)
                    held = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
            time.sleep(0.01)    # a polling interval, not a wait for an event
    finally:
        if start.poll() is None:
            start.kill()
        start.wait()
        if held is not None:
            os.close(held)
    assert not opened_by_root, "root opened the attacker's FIFO named by --pidfile"


# -- 2. the pidfile's temporary name is planted ------------------------------------------------

def test_the_pidfile_is_never_an_inode_the_attacker_made(sandbox):
    sb = world(sandbox)
    pidfile = ATTACK + "/svc.pid"
    install(sb, pidfile=pidfile)
    # The supervisor's pid is a few above the last one handed out: plant
    # every candidate temp name (the attacker can afford thousands).
    first = ns_last_pid(sb) + 1
    attacker(sb, sys.executable, "-c",
             "import os\n"
             "for n in range(%d, %d):\n"
             "    os.close(os.open('%s.new.%%d' %% n, os.O_CREAT | os.O_WRONLY, 0o666))\n"
             % (first, first + 4000, pidfile))
    r = sb.rc("svc", "start")
    assert r.returncode == 0, r.stdout + r.stderr
    sup = wait_for(lambda: (sb.read(pidfile) or "").strip().isdigit() and sb.read(pidfile),
                   30, what="the supervisor's pidfile")
    assert int(sup) < first + 4000, "the supervisor's pid fell outside the planted range"
    st = os.lstat(sb.host_path(pidfile))
    assert stat.S_ISREG(st.st_mode)
    assert st.st_uid == 0, "root's pidfile is an inode nobody made (and may rewrite at will)"


# -- 3. a forged /etc/group inside a chroot the daemon's user owns ----------------------------

JAIL = "/run/jail"


def test_a_forged_etc_group_in_the_chroot_gives_the_opener_no_groups(sandbox):
    sb = world(sandbox)
    sb.run("install", "-d", "-o", "nobody", "-g", "nogroup", "-m", "0755", JAIL, check=True)
    # The admin's jail: /usr from the system, a log directory the daemon's
    # user owns, and a root file the group root may append to.
    sb.run("mkdir", JAIL + "/usr", check=True)
    sb.run("mount", "--bind", "-o", "ro", "/usr", JAIL + "/usr", check=True)
    for name in ("bin", "lib", "lib64", "sbin"):
        if os.path.islink(sb.host_path("/" + name)):
            sb.run("ln", "-s", os.readlink(sb.host_path("/" + name)), JAIL + "/" + name, check=True)
    sb.run("install", "-d", "-o", "nobody", "-g", "nogroup", "-m", "0755", JAIL + "/log", check=True)
    sb.run("install", "-d", "-m", "0755", JAIL + "/data", check=True)
    secret = JAIL + "/data/root-log"
    sb.write(secret, "root's own\n", 0o620)          # root:root, group root may write
    # The attack: the jail is nobody's, so its /etc/group is too.
    attacker(sb, "mkdir", JAIL + "/etc")
    attacker(sb, "sh", "-c", "printf 'root:x:0:nobody\\nnogroup:x:65534:\\n' > %s/etc/group" % JAIL)
    attacker(sb, "ln", "-s", "/data/root-log", JAIL + "/log/out.log")
    install(sb, command="/bin/sh", command_args="\"-c 'echo pwned by nobody; exec sleep 1000'\"",
            chroot=JAIL, output_log="/log/out.log")
    r = sb.rc("svc", "start")
    out = r.stdout + r.stderr
    try:
        # The daemon (nobody, groups from the real /etc/group) cannot open
        # /data/root-log for writing: neither may whoever opens it for it.
        assert r.returncode != 0, out
        assert "Permission denied" in out, out
    finally:
        sb.rc("svc", "stop")
        assert sb.read(secret) == "root's own\n"


# -- 4. a forged pidfile naming root's process -----------------------------------------------

def test_a_forged_pidfile_never_gets_roots_process_signalled(sandbox):
    """The attacker names a root process in the pidfile before the start,
    and again after the supervisor was killed (the orphan path of --stop).
    Only the daemon is stopped; root's process catches nothing."""
    sb = world(sandbox)
    victim_dir = I.STATE_ROOT + "/victim"
    sb.run("mkdir", "-p", "-m", "0755", victim_dir, check=True)
    victim_proc = sb.spawn(I.DAEMON, victim_dir)
    try:
        victim = wait_for(lambda: (sb.read(victim_dir + "/pid") or "").strip(), 30,
                          what="root's victim process")
        victim = int(victim)
        pidfile = ATTACK + "/svc.pid"
        attacker(sb, "sh", "-c", "echo %d > %s" % (victim, pidfile))
        install(sb, pidfile=pidfile)
        r = sb.rc("svc", "start")
        assert r.returncode == 0, r.stdout + r.stderr
        daemon = wait_for(lambda: I.daemon_pid(sb, "svc"), 30, what="the daemon")
        sup = int(wait_for(lambda: (sb.read(pidfile) or "").strip().isdigit() and sb.read(pidfile),
                           30, what="the supervisor's pidfile"))
        assert sup != victim
        # The supervisor dies (OOM, SIGKILL); its daemon lives on.
        sb.run("kill", "-9", str(sup), check=True)
        wait_for(lambda: not sb.alive(sup), 30, what="the supervisor to die")
        attacker(sb, "sh", "-c", "rm -f %s; echo %d > %s" % (pidfile, victim, pidfile))
        r = sb.rc("svc", "stop")
        assert r.returncode == 0, r.stdout + r.stderr
        wait_for(lambda: not sb.alive(daemon), 30, what="the orphaned daemon to be stopped")
        assert sb.alive(victim)
        assert sb.read(victim_dir + "/signals", "") == ""
    finally:
        victim_proc.kill()
        victim_proc.wait()


# -- 5. what the daemon holds under the drop-in --------------------------------------------

def test_the_dropin_daemon_holds_no_fd_of_roots_and_no_privilege(sandbox):
    """Files opened for it by the helper (SCM_RIGHTS arrives without
    close-on-exec) and everything the root supervisor holds stay out of
    the daemon, at start and after a reopen and a respawn."""
    sb = world(sandbox)
    attacker(sb, "sh", "-c", "echo input > %s/in" % ATTACK)
    install(sb, output_log=ATTACK + "/out.log", error_log=ATTACK + "/err.log",
            supervise_daemon_args="--stdin %s/in" % ATTACK)
    r = sb.rc("svc", "start")
    assert r.returncode == 0, r.stdout + r.stderr
    first = I.wait_daemon(sb, "svc", timeout=30)

    def check(pid):
        fds = fds_of(sb, pid)
        assert sorted(fds) == ["0", "1", "2"], fds
        assert fds["0"] == ATTACK + "/in"
        st = status_of(sb, pid)
        assert st["Uid"].split() == [str(NOBODY)] * 4
        assert st["Gid"].split() == [str(NOBODY)] * 4
        assert st["Groups"].split() in ([], [str(NOBODY)])
        assert int(st["CapPrm"], 16) == 0 and int(st["CapEff"], 16) == 0
        assert st["TracerPid"].strip() == "0"

    check(first)
    sup = I.supervisor_pid(sb, "svc")
    sb.run("kill", "-USR1", str(sup), check=True)
    sb.run("kill", "-9", str(first), check=True)
    second = I.wait_daemon(sb, "svc", other_than=first, timeout=30)
    check(second)
    assert sb.rc("svc", "stop").returncode == 0


# -- 6. openrc-sv-exec, as runsv or monit runs it ----------------------------------------------

def test_openrc_sv_exec_leaves_nothing_of_root_in_the_daemon(sandbox):
    """Root's --report fd stays out of the daemon, the daemon has no id,
    group or capability of root's, and a symlink the attacker planted as
    --stdout is not followed to root's file."""
    sb = world(sandbox)
    sb.run("install", "-d", "-m", "0700", "/run/rootstate", check=True)
    report, child_pid = "/run/rootstate/report", "/run/rootstate/child_pid"
    cmd = (sys.executable, "-I", "-S", EXEC, "--report", report, "--child-pid", child_pid,
           "svc", "--user", "nobody:nogroup", "--stdout", ATTACK + "/out.log",
           "--", "/bin/sleep", "1000")
    proc = sb.spawn(*cmd)
    pid = None
    try:
        pid = int(wait_for(lambda: (sb.read(child_pid) or "").strip(), 30, what="--child-pid"))
        wait_for(lambda: "sleep" in (sb.read("/proc/%d/comm" % pid) or ""), 30,
                 what="the exec of the daemon")
        fds = fds_of(sb, pid)
        assert sorted(fds) == ["0", "1", "2"], fds
        assert fds["0"] == "/dev/null" and fds["1"] == ATTACK + "/out.log", fds
        st = status_of(sb, pid)
        assert st["Uid"].split() == [str(NOBODY)] * 4
        assert st["Gid"].split() == [str(NOBODY)] * 4
        assert st["Groups"].split() in ([], [str(NOBODY)])
        assert int(st["CapPrm"], 16) == 0 and int(st["CapEff"], 16) == 0
        out = os.lstat(sb.host_path(ATTACK + "/out.log"))
        assert (out.st_uid, stat.S_IMODE(out.st_mode)) == (NOBODY, 0o600)
        assert sb.read(report) == ""
        cp = os.lstat(sb.host_path(child_pid))
        assert cp.st_uid == 0
    finally:
        proc.kill()
        proc.wait()
        if pid is not None:
            sb.run("kill", "-9", str(pid))

    # Now the attacker swaps out.log for a symlink to root's file.
    attacker(sb, "rm", ATTACK + "/out.log")
    attacker(sb, "ln", "-s", VICTIM, ATTACK + "/out.log")
    r = sb.run(*cmd[:-2], "/bin/true", timeout=60)
    assert r.returncode == 111, r.stdout + r.stderr
    assert "--stdout" in sb.read(report, "")
    assert sb.read(VICTIM) == "root's own\n"
    assert os.lstat(sb.host_path(VICTIM)).st_uid == 0
