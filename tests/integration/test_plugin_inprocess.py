"""The native backend runs our supervise-daemon inside the `openrc-sv`
process (issue 10): what openrc-run, ps and the user see must be what a
separate supervise-daemon gave them -- its warnings, its command line, a
supervisor adopted by init -- and with the fork server running, the server
forks the plugin's supervisor as it forks the drop-in's."""

import pytest

from sandbox import our_script, wait_for

pytestmark = pytest.mark.integration

SCRIPT = """#!/sbin/openrc-run
supervisor=openrc-sv
sv_backend=native
command=/bin/sleep
command_args=1000
%s
"""
SOCK = "/run/openrc-sv/forkserver.sock"


def setup_plugin(sb):
    r = sb.run(our_script("openrc-sv"), "setup", "--plugin")
    assert r.returncode == 0, r.stdout + r.stderr


def supervisor_pid(sb, svc):
    return int(sb.read("/run/supervise-%s.pid" % svc).split()[0])


def stat(sb, pid):
    return sb.read("/proc/%d/stat" % pid).rsplit(")", 1)[1].split()


def words(sb, pid):
    return [w for w in sb.read("/proc/%d/cmdline" % pid).split("\0") if w]


def test_the_supervisor_shows_supervise_daemons_command_line_and_its_warning_reaches_the_user(
        sandbox):
    sb = sandbox("ours")
    setup_plugin(sb)
    # supervise-daemon warns about a period too short for respawn_max delays.
    sb.install_script("svc", SCRIPT % "respawn_delay=10\nrespawn_max=10\nrespawn_period=50")
    r = sb.rc("svc", "start")
    assert r.returncode == 0, r.stdout + r.stderr
    said = (r.stdout + r.stderr).splitlines()
    warnings = [ln for ln in said if "respawn" in ln]
    assert warnings == [" * svc: Please increase the value of --respawn-period to more than "
                        "100 to avoid infinite respawning"], said
    assert not any("Traceback" in ln for ln in said)
    sup = supervisor_pid(sb, "svc")
    w = words(sb, sup)
    assert w[1:3] == ["-I", "-S"] and w[3].endswith("/openrc_sv/data/supervise-daemon")
    assert w[4:6] == ["svc", "--start"] and w[-3:] == ["/bin/sleep", "--", "1000"]
    assert stat(sb, sup)[1] == "1"                      # adopted by init, as before
    daemon = int(wait_for(lambda: sb.value("svc", "child_pid"), 10, what="child_pid"))
    assert stat(sb, daemon)[1] == str(sup)
    assert sb.rc("svc", "status").returncode == 0
    r = sb.rc("svc", "stop")
    assert r.returncode == 0, r.stdout + r.stderr
    assert sb.pids_of("sleep 1000") == [] and not sb.alive(sup)


def test_a_start_that_fails_leaves_nothing_and_names_the_variable(sandbox):
    sb = sandbox("ours")
    setup_plugin(sb)
    sb.install_script("svc", SCRIPT % "output_log=/nonexistent/dir/out.log")
    r = sb.rc("svc", "start")
    assert r.returncode != 0
    errors = [ln for ln in (r.stdout + r.stderr).splitlines() if "ERROR" in ln]
    assert errors and errors[0].startswith(" * ERROR: svc: output_log: "), errors
    assert sb.pids_of("sleep 1000") == [] and sb.pids_of("supervise-daemon svc") == []
    assert not sb.exists("/run/supervise-svc.pid")
    assert sb.value("svc", "sv_backend") in (None, "")


def test_with_the_fork_server_the_server_forks_the_plugins_supervisor(sandbox):
    sb = sandbox("ours")
    setup_plugin(sb)
    server = sb.spawn(our_script("openrc-sv-forkserver"), "--socket", SOCK)
    wait_for(lambda: sb.exists(SOCK), 10, what="fork server socket")
    sb.install_script("svc", SCRIPT % "")
    r = sb.rc("svc", "start")
    assert r.returncode == 0, r.stdout + r.stderr
    sup = supervisor_pid(sb, "svc")
    assert sb.read("/proc/%d/comm" % sup).strip() == "sv-svc"     # the server's fork
    assert stat(sb, sup)[1] == "1"
    daemon = int(wait_for(lambda: sb.value("svc", "child_pid"), 10, what="child_pid"))
    assert stat(sb, daemon)[1] == str(sup)
    assert sb.rc("svc", "stop").returncode == 0
    assert sb.pids_of("sleep 1000") == []
    server.kill()
