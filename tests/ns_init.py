"""PID 1 of a test sandbox: set up private mounts, then reap orphans.

Run by tests/sandbox.py under `unshare --mount --pid --fork --mount-proc`.
It must reap: supervisors daemonize, so they are re-parented to us, and an
unreaped zombie still answers kill(pid, 0), which would make a stop that
polls for its supervisor (OpenRC's C --stop) wait forever.  When this
process exits the kernel kills everything left in the namespace, so nothing
a test started can outlive it.
"""

import os
import signal
import subprocess
import sys

# Directories hidden behind a private tmpfs: everything a service writes.
PRIVATE = ["/run", "/etc/init.d", "/etc/conf.d", "/etc/rc.conf.d",
           "/etc/sv", "/etc/monit-files", "/var/log/openrc-sv"]


def sh(*cmd):
    subprocess.run(cmd, check=True)


def main():
    libexec = sys.argv[1]
    staging_sbin = sys.argv[2]     # our copy of $libexec/sbin, or "-"
    # The host's mounts must not see ours, nor ours theirs.
    sh("mount", "--make-rprivate", "/")
    for d in PRIVATE:
        os.makedirs(d, exist_ok=True)
        sh("mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", d)
    svc = "/run/openrc"
    for d in ("started", "starting", "stopping", "inactive", "wasinactive",
              "failed", "exclusive", "options", "daemons", "scheduled",
              "tmp", "hotplugged"):
        os.makedirs(os.path.join(svc, d), exist_ok=True)
    with open(os.path.join(svc, "softlevel"), "w") as f:
        f.write("default")
    os.makedirs("/run/lock", exist_ok=True)
    if staging_sbin != "-":
        sh("mount", "--bind", staging_sbin, os.path.join(libexec, "sbin"))

    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    # SIGCHLD stays blocked and is taken with sigwait(), so one that arrives
    # between wait() and the sleep is kept pending, never lost.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
    sys.stdout.write("READY\n")
    sys.stdout.flush()
    while True:
        try:
            while True:
                os.waitpid(-1, 0)
        except ChildProcessError:
            signal.sigwait({signal.SIGCHLD})


if __name__ == "__main__":
    main()
