"""The daemon's process attributes: niceness, I/O priority, OOM score,
no_new_privs, capabilities, umask and directory, as /proc shows them."""

import pytest

import initscripts as I

pytestmark = pytest.mark.integration


def status_field(sb, pid, field):
    for line in sb.run("cat", "/proc/%d/status" % pid).stdout.splitlines():
        if line.startswith(field + ":"):
            return line.split(":", 1)[1].strip()


def stat_field(sb, pid, index):
    return sb.run("cat", "/proc/%d/stat" % pid).stdout.rsplit(")", 1)[1].split()[index - 3]


@pytest.mark.parametrize("supervisor", ["c", "ours"])
def test_nice_ionice_and_oom_score_reach_the_daemon(sandbox, supervisor):
    sb = sandbox(supervisor)
    pid = I.start_service(sb, "svc", supervise_daemon_args="--nicelevel 5 --ionice 2:3 --oom-score-adj 123")
    assert stat_field(sb, pid, 19) == "5"                       # nice
    assert sb.run("cat", "/proc/%d/oom_score_adj" % pid).stdout.strip() == "123"
    assert sb.run("ionice", "-p", str(pid)).stdout.strip() == "best-effort: prio 3"
    assert sb.rc("svc", "stop").returncode == 0


@pytest.mark.parametrize("supervisor", ["c", "ours"])
def test_umask_and_directory(sandbox, supervisor):
    sb = sandbox(supervisor)
    pid = I.start_service(sb, "svc", umask="027", directory="/tmp")
    d = I.statedir("svc")
    assert sb.read("%s/umask.%d" % (d, pid)) == "0027"
    assert sb.read("%s/cwd.%d" % (d, pid)) == "/tmp"
    assert sb.rc("svc", "stop").returncode == 0


def test_no_new_privs_as_openrc_045_spells_it(sandbox):
    """deliberately better than C: OpenRC 0.45's supervise-daemon.sh passes
    --no_new_privs, which its own C binary rejects; ours takes it."""
    sb = sandbox("ours")
    pid = I.start_service(sb, "svc", no_new_privs="yes")
    assert status_field(sb, pid, "NoNewPrivs") == "1"
    assert sb.rc("svc", "stop").returncode == 0


def test_ambient_capability_for_an_unprivileged_daemon(sandbox):
    sb = sandbox("ours")
    pid = I.start_service(sb, "svc", command_user="nobody",
                          supervise_daemon_args="--capabilities ^cap_net_bind_service")
    assert I.ids(sb, "svc", pid)[0] != 0
    bind = 1 << 10                                              # CAP_NET_BIND_SERVICE
    assert int(status_field(sb, pid, "CapAmb"), 16) == bind
    assert int(status_field(sb, pid, "CapEff"), 16) == bind    # and effective after exec
    assert sb.rc("svc", "stop").returncode == 0
