"""openrc-sv setup --supervise-daemon --compat-shim, through OpenRC 0.45.

Debian's OpenRC 0.45 has a supervise_start that never passes input_file,
output_logger or error_logger.  The shim (/etc/rc.conf.d/openrc-sv-compat.conf)
makes them reach our supervise-daemon as current OpenRC passes them; a
service with another supervisor must see no difference at all.

Every test runs setup inside the sandbox: its $RC_LIBEXECDIR/sbin is a
private mount (checked before anything is written) and /etc/rc.conf.d a
private tmpfs.  Services start through real rc-service/openrc-run.  The
fork server is left out (--no-forkserver): these tests look at the
supervisor's own command line, which a supervisor forked by the server
does not have; /etc/runlevels gets a tmpfs all the same, so that nothing
here can reach the host's runlevels.
"""

import os

import pytest

import initscripts as I
from sandbox import libexecdir, wait_for

pytestmark = pytest.mark.integration

LIBEXEC = libexecdir() or "/lib/rc"
SBIN = os.path.join(LIBEXEC, "sbin")
LINK = SBIN + "/supervise-daemon"
SHIM = "/etc/rc.conf.d/openrc-sv-compat.conf"
PLUGIN = "/etc/rc.conf.d/openrc-sv.conf"


def openrc_045():
    try:
        with open(os.path.join(LIBEXEC, "version")) as f:
            return f.read().strip().startswith("0.45")
    except OSError:
        return False


if not openrc_045():
    pytestmark = [pytestmark, pytest.mark.skip(reason="the shim is for OpenRC < 0.62; these "
                                                       "tests drive Debian's 0.45")]


def pristine(sandbox):
    """A sandbox as a system before setup: no supervise-daemon of ours yet."""
    sb = sandbox("ours")
    sb.assert_private(SBIN, "/etc/rc.conf.d", "/etc/runlevels")
    sb.run("rm", "-f", LINK, check=True)
    return sb


def setup(sb, *flags, code=0):
    r = sb.run("openrc-sv", "setup", "--no-forkserver", *flags)
    assert r.returncode == code, r.stdout + r.stderr
    return r


def snapshot(sb):
    files = {}
    for d in (SBIN, "/etc/rc.conf.d"):
        for name in sb.listdir(d):
            with open(sb.host_path(d + "/" + name), "rb") as f:
                files[d + "/" + name] = f.read()
    return files


def supervisor_argv(sb, svc):
    [pid] = I.supervisors(sb, svc)
    return sb.read("/proc/%d/cmdline" % pid).split("\0")


def stdin_of(sb, pid):
    return sb.run("readlink", "/proc/%d/fd/0" % pid, check=True).stdout.strip()


def no_new_privs(sb, pid):
    for line in sb.read("/proc/%d/status" % pid).splitlines():
        if line.startswith("NoNewPrivs:"):
            return line.split()[1]
    raise AssertionError("no NoNewPrivs line")


def service_with_all_four(sb, svc):
    d = I.statedir(svc)
    I.install_service(sb, svc,
                      output_logger="%s %s/out" % (I.LOGGER, d),
                      error_logger="%s %s/err" % (I.LOGGER, d),
                      input_file=d + "/in",
                      no_new_privs="yes")
    sb.write(d + "/in", "what the daemon reads\n")
    return d


def start(sb, svc):
    r = sb.rc(svc, "start")
    assert r.returncode == 0, r.stdout + r.stderr
    return I.wait_daemon(sb, svc)


def test_the_shim_makes_loggers_and_input_file_work_under_openrc_045(sandbox):
    sb = pristine(sandbox)
    setup(sb, "--supervise-daemon")
    d = service_with_all_four(sb, "svc")

    # Without the shim: 0.45 passes none of them; the daemon's output goes
    # nowhere and its stdin is /dev/null.
    pid = start(sb, "svc")
    argv = supervisor_argv(sb, "svc")
    for opt in ("--stdout-logger", "--stderr-logger", "--stdin"):
        assert opt not in argv, argv
    assert stdin_of(sb, pid) == "/dev/null"
    # 0.45 spells it --no_new_privs; our supervise-daemon takes it, shim or not.
    assert "--no_new_privs" in argv and no_new_privs(sb, pid) == "1"
    assert sb.rc("svc", "stop").returncode == 0
    assert not sb.exists(d + "/out") and not sb.exists(d + "/err")

    r = setup(sb, "--supervise-daemon", "--compat-shim")
    assert "installed the compat shim %s" % SHIM in r.stderr + r.stdout
    pid = start(sb, "svc")
    wait_for(lambda: "stdout from %d\n" % pid in (sb.read(d + "/out") or ""), 10,
             what="the daemon's stdout in output_logger's file")
    wait_for(lambda: "stderr from %d\n" % pid in (sb.read(d + "/err") or ""), 10,
             what="the daemon's stderr in error_logger's file")
    assert stdin_of(sb, pid) == d + "/in"
    assert no_new_privs(sb, pid) == "1"
    argv = supervisor_argv(sb, "svc")
    assert argv[argv.index("--stdin") + 1] == d + "/in"
    assert argv[argv.index("--stdout-logger") + 1] == "%s %s/out" % (I.LOGGER, d)
    assert argv[argv.index("--stderr-logger") + 1] == "%s %s/err" % (I.LOGGER, d)
    assert sb.rc("svc", "stop").returncode == 0


def test_the_shim_works_with_the_runscript_plugin_too(sandbox):
    sb = pristine(sandbox)
    setup(sb, "--supervise-daemon", "--compat-shim")
    setup(sb, "--plugin")
    # C-locale order: the shim is sourced first, the plugin's default_start wins
    # and hands supervise-daemon services to the shim.
    assert sorted(sb.listdir("/etc/rc.conf.d")) == ["openrc-sv-compat.conf", "openrc-sv.conf"]
    d = service_with_all_four(sb, "svc")
    pid = start(sb, "svc")
    wait_for(lambda: "stdout from %d\n" % pid in (sb.read(d + "/out") or ""), 10,
             what="the daemon's stdout in output_logger's file")
    assert stdin_of(sb, pid) == d + "/in"
    assert sb.rc("svc", "stop").returncode == 0


# Debian's start-stop-daemon (dpkg's) finds the daemon by its executable:
# the interpreter, not the script.
SSD_SCRIPT = """#!/sbin/openrc-run
command=/usr/bin/python3
command_args="{daemon} {state}"
command_background=yes
pidfile=/run/{svc}.pid
input_file={state}/in
"""


def uncached(text):
    # openrc-run rebuilds its dependency cache when /etc/init.d changed: the
    # first start after a new script says so, whichever run that is.
    return text.replace(" * Caching service dependencies ... [ ok ]\n", "")


def environment(sb, path):
    # What differs between any two starts: openrc-run's pids.
    def same(v):
        name = v.split("=", 1)[0]
        return name + "=(a pid)" if name in ("RC_OPENRC_PID", "RC_RUNSCRIPT_PID") else v
    return sorted(same(v) for v in sb.read(path).split("\0"))


def run_others(sb):
    """Start and stop a start-stop-daemon service and a supervise-daemon one
    that sets none of the four; return what each run and each daemon saw."""
    seen = {}
    I.install_programs(sb)
    ssd = I.statedir("ssd")
    sb.run("mkdir", "-p", ssd, check=True)
    sb.run("chmod", "0777", ssd, check=True)
    sb.write(ssd + "/in", "x\n")
    sb.install_script("ssd", SSD_SCRIPT.format(daemon=I.DAEMON, state=ssd, svc="ssd"))
    r = sb.rc("ssd", "start")
    assert r.returncode == 0, r.stdout + r.stderr
    seen["ssd start"] = (uncached(r.stdout), r.stderr)
    pid = int(wait_for(lambda: sb.read(ssd + "/pid"), 10, what="ssd's daemon"))
    wait_for(lambda: sb.read("%s/env.%d" % (ssd, pid)) is not None, 10, what="ssd's env")
    seen["ssd env"] = environment(sb, "%s/env.%d" % (ssd, pid))
    seen["ssd argv"] = sb.read("%s/argv.%d" % (ssd, pid))
    seen["ssd stdin"] = stdin_of(sb, pid)
    r = sb.rc("ssd", "stop")
    assert r.returncode == 0, r.stdout + r.stderr
    seen["ssd stop"] = (r.stdout, r.stderr)
    sb.run("rm", "-rf", ssd, check=True)

    I.install_service(sb, "plain", respawn_delay="1")
    pid = start(sb, "plain")
    seen["plain supervisor argv"] = supervisor_argv(sb, "plain")
    seen["plain env"] = environment(sb, "%s/env.%d" % (I.statedir("plain"), pid))
    seen["plain stdin"] = stdin_of(sb, pid)
    assert sb.rc("plain", "stop").returncode == 0
    sb.run("rm", "-rf", I.statedir("plain"), check=True)
    return seen


def test_other_supervisors_and_services_without_the_variables_see_no_difference(sandbox):
    sb = pristine(sandbox)
    setup(sb, "--supervise-daemon")
    without = run_others(sb)
    setup(sb, "--supervise-daemon", "--compat-shim")
    assert sb.exists(SHIM)
    with_shim = run_others(sb)
    for key in without:
        assert with_shim[key] == without[key], key
    # input_file is not start-stop-daemon's in 0.45, and the shim keeps it so.
    assert with_shim["ssd stdin"] == "/dev/null"


def test_undo_removes_the_shim_and_nothing_else(sandbox):
    sb = pristine(sandbox)
    sb.write("/etc/rc.conf.d/local.conf", "# the administrator's\n")
    before = snapshot(sb)
    setup(sb, "--supervise-daemon", "--compat-shim")
    setup(sb, "--plugin")
    # --undo --plugin leaves the shim (and the link) in place.
    setup(sb, "--undo", "--plugin")
    assert sb.exists(SHIM) and sb.exists(LINK) and not sb.exists(PLUGIN)
    r = setup(sb, "--undo", "--supervise-daemon")
    assert "removed %s" % SHIM in r.stderr + r.stdout
    assert snapshot(sb) == before


def test_a_second_install_changes_nothing(sandbox):
    sb = pristine(sandbox)
    setup(sb, "--supervise-daemon", "--compat-shim")
    first = snapshot(sb)
    r = setup(sb, "--supervise-daemon", "--compat-shim")
    assert "%s is already installed" % SHIM in r.stderr + r.stdout
    assert snapshot(sb) == first


def test_a_foreign_file_of_that_name_is_refused_and_left_alone(sandbox):
    sb = pristine(sandbox)
    sb.write(SHIM, "# mine\nfoo=bar\n")
    before = snapshot(sb)
    r = setup(sb, "--supervise-daemon", "--compat-shim", code=1)
    assert r.stderr.splitlines() == [
        " * ERROR: openrc-sv: refusing to replace %s: it was not installed by openrc-sv "
        "(move it away first)" % SHIM]
    assert snapshot(sb) == before       # not even the link was installed
    r = setup(sb, "--undo")
    assert " * WARNING: openrc-sv: left %s alone: it was not installed by openrc-sv" % SHIM \
        in r.stderr
    assert sb.read(SHIM) == "# mine\nfoo=bar\n"
