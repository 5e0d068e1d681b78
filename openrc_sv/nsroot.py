"""A private OpenRC world: what PID 1 of a fresh mount+PID namespace does.

Used by the demo and by the test sandbox.  Run under
`unshare --mount --pid --fork --mount-proc`, it hides everything a service
writes behind tmpfs (nothing reaches the host), initialises /run/openrc so
that real `rc-service` works without OpenRC having booted, optionally makes
our supervise-daemon the one openrc-run finds, and then reaps orphans:
supervisors daemonize and are re-parented to PID 1, and an unreaped zombie
still answers kill(pid, 0) (OpenRC's C `--stop` would wait on it forever).
When PID 1 exits the kernel kills everything left in the namespace.
"""

import os
import shutil
import signal
import subprocess

# /sys/fs/cgroup too: openrc-run makes a cgroup per service, which would
# otherwise be left behind on the host.
PRIVATE = ["/run", "/etc/init.d", "/etc/conf.d", "/etc/rc.conf.d", "/etc/runlevels",
           "/etc/sv", "/etc/monit-files", "/var/log/openrc-sv", "/sys/fs/cgroup"]
# Made again in the private /etc/runlevels (rc-update refuses a runlevel
# without its directory): `openrc-sv setup` adds the fork server to boot.
RUNLEVELS = ("sysinit", "boot", "default", "nonetwork", "shutdown")

STATE_DIRS = ("started", "starting", "stopping", "inactive", "wasinactive", "failed",
              "exclusive", "options", "daemons", "scheduled", "tmp", "hotplugged")


def stage_sbin(libexec, workdir):
    """A copy of $RC_LIBEXECDIR/sbin with our supervise-daemon launcher in it,
    to bind over the real one inside the namespace."""
    staging = os.path.join(workdir, "rc-sbin")
    os.makedirs(staging, exist_ok=True)
    src = os.path.join(libexec, "sbin")
    for n in os.listdir(src):
        dst = os.path.join(staging, n)
        if not os.path.lexists(dst):
            shutil.copy2(os.path.join(src, n), dst, follow_symlinks=False)
    ours = os.path.join(staging, "supervise-daemon")
    if not os.path.lexists(ours):
        from . import launcher
        with open(ours, "w") as f:
            f.write(launcher.script())
        os.chmod(ours, 0o755)
    return staging


def setup_world(libexec, staging_sbin=None):
    subprocess.run(["mount", "--make-rprivate", "/"], check=True)
    # Unmount the cgroup hierarchies (in this namespace only) rather than
    # just cover them: a covered mount still shows in mountinfo, and
    # openrc-run would then try to make its cgroup in the empty tmpfs.
    subprocess.run(["umount", "-R", "/sys/fs/cgroup"], stderr=subprocess.DEVNULL)
    for d in PRIVATE:
        os.makedirs(d, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", d], check=True)
    for d in RUNLEVELS:
        os.makedirs(os.path.join("/etc/runlevels", d), exist_ok=True)
    for d in STATE_DIRS:
        os.makedirs(os.path.join("/run/openrc", d), exist_ok=True)
    with open("/run/openrc/softlevel", "w") as f:
        f.write("default")
    os.makedirs("/run/lock", exist_ok=True)
    if staging_sbin:
        subprocess.run(["mount", "--bind", staging_sbin, os.path.join(libexec, "sbin")], check=True)


# Where relocate_libexec() keeps what it moves, inside the private /run.
_HOLD = "/run/.openrc-sv-relocate"


def relocate_libexec(tree, dest, keep=()):
    """Show OpenRC's helper directory (`tree`, with whatever is mounted in
    it, such as a staged sbin) at `dest`, as a system built with that
    $RC_LIBEXECDIR has it, and hide it at every other known layout.  Each
    path in `keep` shows the plain tree as well (no sub-mounts: OpenRC's own
    sbin): Debian's openrc-run has its path compiled in and needs it.

    For tests and demos, inside a private mount namespace only."""
    from .rcstate import LIBEXEC_LAYOUTS
    if not _root_is_private():
        raise RuntimeError("relocate_libexec: not in a private mount namespace (setup_world first)")
    hold = os.path.join(_HOLD, "tree")
    os.makedirs(hold, exist_ok=True)
    subprocess.run(["mount", "--rbind", tree, hold], check=True)
    hidden = set()
    for d in LIBEXEC_LAYOUTS + (tree,):
        real = os.path.realpath(d)
        if os.path.isdir(real) and real not in hidden:
            subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", real], check=True)
            hidden.add(real)
    _make_dir(dest)
    subprocess.run(["mount", "--rbind", hold, dest], check=True)
    for k in keep:
        if os.path.realpath(k) == os.path.realpath(dest):
            continue        # one directory (a merged /usr): dest's view stays
        _make_dir(k)
        subprocess.run(["mount", "--bind", hold, k], check=True)


def _root_is_private():
    """setup_world made every mount private; a host's / is usually shared
    (and mounts made under a shared / would reach the host)."""
    private = False
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if fields[4] == "/":      # the last one is on top
                private = not any(x.startswith(("shared:", "master:"))
                                  for x in fields[6:fields.index("-")])
    return private


def _make_dir(path):
    """mkdir path in this namespace only: an existing parent is covered by a
    tmpfs holding its entries (each bound back), so the new directory never
    reaches the host's file system."""
    if os.path.isdir(path):
        return
    parent = os.path.dirname(path)
    if os.path.isdir(parent):
        _shadow(parent)
    else:
        _make_dir(parent)
    os.mkdir(path)


def _shadow(directory):
    real = os.path.realpath(directory)
    hold = os.path.join(_HOLD, "shadow" + real.replace("/", "_"))
    os.makedirs(hold, exist_ok=True)
    subprocess.run(["mount", "--bind", real, hold], check=True)
    mode = os.stat(real).st_mode & 0o7777
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=%04o" % mode, "tmpfs", real], check=True)
    for name in os.listdir(hold):
        src, dst = os.path.join(hold, name), os.path.join(real, name)
        if os.path.islink(src):
            os.symlink(os.readlink(src), dst)
            continue
        if os.path.isdir(src):
            os.mkdir(dst)
        else:
            open(dst, "w").close()
        subprocess.run(["mount", "--bind", src, dst], check=True)


def reap_forever(stop_when=None):
    """Reap children until killed, or until pid ``stop_when`` exits
    (then return its exit status)."""
    # SIGCHLD stays blocked and is taken with sigwait(): one that arrives
    # between waitpid() and the sleep stays pending, never lost.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
    while True:
        try:
            while True:
                pid, status = os.waitpid(-1, 0)
                if stop_when is not None and pid == stop_when:
                    return os.waitstatus_to_exitcode(status)
        except ChildProcessError:
            if stop_when is not None:
                return 1
            signal.sigwait({signal.SIGCHLD})
