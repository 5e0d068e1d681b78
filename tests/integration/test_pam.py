"""PAM for command_user, ours against OpenRC's C supervise-daemon.

Debian's /sbin/supervise-daemon links libpam: for a daemon with --user it
opens a PAM session named "supervise-daemon" (account check, then
session), and the daemon gets PAM's environment.  Each sandbox has a
private /etc/pam.d (a copy in its /run, bound over /etc/pam.d) whose
supervise-daemon file records every PAM call through pam_exec and sets
variables with pam_env; the same service is run by C's binary and by ours.
"""

import pytest

import initscripts as I
from sandbox import wait_for

pytestmark = pytest.mark.integration

RECORD = "/run/pam.record"
HOOK = "/run/pam-hook.sh"
PAM_ENV = "/run/pam.env"


def private_pam(sb, account="pam_permit.so"):
    sb.write(HOOK, '#!/bin/sh\necho "$PAM_TYPE $PAM_SERVICE $PAM_USER $(id -u)" >> %s\n' % RECORD,
             0o755)
    sb.write(PAM_ENV, "FROM_PAM=yes\nOVER=pam\nHOME=/pam-home\n"
             "PATH=/lib/rc/bin:/opt/pam/bin:/usr/bin:/bin\n")
    sb.run("sh", "-c", "mkdir /run/pam.d && cp -a /etc/pam.d/. /run/pam.d/ "
           "&& mount --bind /run/pam.d /etc/pam.d", check=True)
    sb.write("/etc/pam.d/supervise-daemon",
             "account required pam_exec.so quiet %s\n"
             "account required %s\n"
             "session required pam_exec.so quiet %s\n"
             "session required pam_env.so readenv=1 envfile=%s user_readenv=0 conffile=/dev/null\n"
             % (HOOK, account, HOOK, PAM_ENV))


def record(sb):
    return sb.read(RECORD, "").splitlines()


def run_one(sb):
    private_pam(sb)
    pid = I.start_service(sb, "svc", command_user="nobody",
                          supervise_daemon_args="--env OVER=env --env KEPT=env")
    env = I.environ(sb, "svc", pid)
    calls = record(sb)
    assert sb.rc("svc", "stop").returncode == 0
    return calls, env


@pytest.fixture
def boxes(sandbox):
    return sandbox("c"), sandbox("ours")


def test_the_session_and_the_daemons_environment_are_openrcs(boxes):
    c, ours = (run_one(sb) for sb in boxes)
    # Account check then session, under supervise-daemon's name, for the
    # daemon's user, while still root.
    assert c[0] == ["account supervise-daemon nobody 0", "open_session supervise-daemon nobody 0"]
    assert ours[0] == c[0]
    keys = ("FROM_PAM", "OVER", "KEPT", "HOME", "USER", "PATH")
    assert {k: c[1].get(k) for k in keys} == {
        "FROM_PAM": "yes", "OVER": "pam", "KEPT": "env", "HOME": "/pam-home", "USER": "nobody",
        "PATH": "/opt/pam/bin:/usr/bin:/bin"}
    assert {k: ours[1].get(k) for k in keys} == {k: c[1].get(k) for k in keys}


def test_no_user_no_pam(boxes):
    for sb in boxes:
        private_pam(sb)
        I.start_service(sb, "svc")
        assert record(sb) == []
        assert sb.rc("svc", "stop").returncode == 0


def test_a_refused_account_c_respawns_a_dying_child_ours_fails_the_start_with_one_line(boxes):
    c, ours = boxes
    for sb in boxes:
        private_pam(sb, account="pam_deny.so")
        I.install_service(sb, "svc", command_user="nobody")

    # C: --start reports success; each child dies in PAM ("pam error:
    # Authentication failure" on a stderr nobody reads) and is respawned.
    r = c.rc("svc", "start")
    assert r.returncode == 0, r.stdout + r.stderr
    wait_for(lambda: len(record(c)) >= 2, 10, what="C's child to retry PAM")
    assert I.starts(c, "svc") == []
    c.rc("svc", "stop")

    # Ours: the start fails, saying why; nothing is left running.
    r = ours.rc("svc", "start")
    assert r.returncode != 0
    assert ("unable to open PAM session 'supervise-daemon' for user 'nobody': "
            "Authentication failure") in r.stdout + r.stderr
    assert record(ours) == ["account supervise-daemon nobody 0"]
    assert I.starts(ours, "svc") == []
    assert I.supervisors(ours, "svc") == []
    assert ours.status("svc") != 0
