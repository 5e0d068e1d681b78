"""The control fifo /run/openrc/supervise-SVC.ctl is an interface between
binaries: `supervise-daemon SVC --signal SIG` from either implementation
must reach the daemon under either supervisor ("sig N" written to the fifo).
"""

import time

import pytest

import initscripts as I
from sandbox import our_script, wait_for

pytestmark = pytest.mark.integration

SENDERS = {"c": "/sbin/supervise-daemon", "ours": our_script("supervise-daemon")}


@pytest.mark.parametrize("supervisor, sender", [
    ("c", "c"), ("c", "ours"), ("ours", "c"), ("ours", "ours")],
    ids=["c-supervisor-c-sender", "c-supervisor-ours-sender",
         "ours-supervisor-c-sender", "ours-supervisor-ours-sender"])
def test_signal_option_reaches_the_daemon_through_the_control_fifo(sandbox, supervisor, sender):
    sb = sandbox(supervisor)
    daemon = I.start_service(sb, "svc")
    r = sb.run(SENDERS[sender], "svc", "--signal", "HUP", env={"RC_SVCNAME": "svc"})
    assert r.returncode == 0, r.stdout + r.stderr
    wait_for(lambda: (daemon, "SIGHUP") in I.signals(sb, "svc"), 5, what="SIGHUP at the daemon")
    assert sb.alive(daemon) and sb.status("svc") == 0
    # By number too, as `sig N` is what travels.
    r = sb.run(SENDERS[sender], "svc", "--signal", "10", env={"RC_SVCNAME": "svc"})
    assert r.returncode == 0, r.stdout + r.stderr
    wait_for(lambda: (daemon, "SIGUSR1") in I.signals(sb, "svc"), 5, what="SIGUSR1 at the daemon")


@pytest.mark.parametrize("implementation", ["c", "ours"])
@pytest.mark.parametrize("env", [{}, {"RC_SVCNAME": "other"}], ids=["unset", "different"])
def test_signal_option_requires_rc_svcname_equal_to_the_service(sandbox, implementation, env):
    """supervise-daemon(8): RC_SVCNAME must be set and equal to the first
    argument; otherwise nothing is sent."""
    sb = sandbox(implementation)
    I.start_service(sb, "svc")
    r = sb.run(SENDERS[implementation], "svc", "--signal", "HUP", env=env)
    assert r.returncode != 0
    assert "RC_SVCNAME" in r.stdout + r.stderr or "must be" in r.stdout + r.stderr
    time.sleep(0.2)   # a signal, if one were sent, would have arrived
    assert I.signals(sb, "svc") == []
