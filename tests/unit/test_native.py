"""openrc_sv.backends.native: the supervise-daemon command line built from the
model, as /lib/rc/sh/supervise-daemon.sh builds it, and the status read
from the supervisor's state files."""

import os
import shlex
import subprocess
import sys

import pytest

from openrc_sv.backends import native
from openrc_sv.backends.model import from_variables
from openrc_sv.rcstate import ServiceState


def model(args=(), **variables):
    # Pinned: the host's OpenRC must not change what is expected here.
    v = {"command": "/bin/sleep", "supervise_daemon_compat": "0.45"}
    v.update(variables)
    return from_variables("foo", "/etc/init.d/foo", v, list(args), ())


def test_each_variable_becomes_the_option_supervise_daemon_sh_passes():
    m = model(args=["1000"], retry="TERM/3/KILL/2", directory="/srv", chroot="/jail",
              input_file="/dev/null", output_log="/var/log/o", error_log="/var/log/e",
              output_logger="logger -t o", error_logger="logger -t e", pidfile="/run/foo.pid",
              respawn_delay="2", respawn_max="4", respawn_period="60",
              healthcheck_delay="5", healthcheck_timer="30", healthcheck_timeout="7",
              command_user="root", umask="027", notify="fd:3")
    opts = native.start_options(m)
    pairs = dict(zip(opts[::2], opts[1::2]))
    assert pairs == {
        "--retry": "TERM/3sec/KILL/2sec", "--chdir": "/srv", "--chroot": "/jail",
        "--stdin": "/dev/null", "--stdout": "/var/log/o", "--stderr": "/var/log/e",
        "--stdout-logger": "logger -t o", "--stderr-logger": "logger -t e",
        "--pidfile": "/run/foo.pid", "--respawn-delay": "2sec", "--respawn-max": "4",
        "--respawn-period": "1min", "--healthcheck-delay": "5sec",
        "--healthcheck-timer": "30sec", "--healthcheck-timeout": "7sec",
        "--user": "root", "--umask": "0027", "--notify": "fd:3", "--compat": "0.45"}


def test_unset_variables_add_no_option():
    assert native.start_options(model()) == ["--respawn-max", "10", "--compat", "0.45"]


def test_stopsig_alone_is_passed_as_a_retry_schedule():
    assert native.start_options(model(stopsig="INT"))[:2] == ["--retry", "INT/5sec/KILL/5sec"]


def test_the_command_line_keeps_every_argument_one_word():
    words = ["two  spaces", "it's", "$HOME", "`id`", "a;b", "new\nline", ""]
    b = native.NativeBackend(model(args=words))
    tail = b.start_words()
    assert tail[:2] == ["foo", "--start"]
    assert tail[tail.index("--") - 1:] == ["/bin/sleep", "--"] + words
    # describe() is the same line, quoted for a shell.
    line = b.describe()
    assert shlex.split(line)[-len(words):] == words
    assert line.startswith("RC_SVCNAME=foo ")


def test_native_writes_no_files():
    assert native.NativeBackend(model()).render() == []


def test_our_supervise_daemon_is_run_lean_not_openrcs():
    argv = native.supervise_daemon_argv()
    assert argv[:3] == [sys.executable, "-I", "-S"]        # no site: see openrc_sv.launcher
    assert argv[3].endswith("/openrc_sv/data/supervise-daemon") and os.path.isfile(argv[3])
    assert "/sbin/supervise-daemon" not in " ".join(argv)


# -- status from the state files ---------------------------------------------------

@pytest.fixture
def svcdir(tmp_path, monkeypatch):
    monkeypatch.setenv("RC_SVCDIR", str(tmp_path))
    return tmp_path


@pytest.fixture
def process():
    """A live process we can name as a supervisor or a daemon."""
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield p.pid
    p.kill()
    p.wait()


def _ident(pid):
    from openrc_sv import procinfo
    return procinfo.identity(pid)


def test_nothing_recorded_is_stopped(svcdir):
    assert native.state_status("foo").state == "stopped"


def test_supervisor_and_daemon_alive_is_started_with_the_recorded_details(svcdir, process):
    st = ServiceState("foo")
    st.set_many({"supervisor_ident": _ident(os.getpid()), "child_ident": _ident(process),
                 "child_pid": process, "restarts": "2", "last_exit": "signal KILL",
                 "healthcheck": "ok", "start_time": "2024-01-01 00:00:00"})
    s = native.state_status("foo")
    assert (s.state, s.pid, s.supervisor_pid) == ("started", process, os.getpid())
    assert (s.restarts, s.last_exit, s.health) == (2, "signal KILL", "ok")
    assert s.uptime is not None and s.uptime < 60
    assert s.exit_code == 0


def test_a_daemon_without_its_supervisor_is_unsupervised(svcdir, process):
    ServiceState("foo").set_many({"child_pid": process, "start_time": "2024-01-01 00:00:00"})
    s = native.state_status("foo")
    assert s.state == "unsupervised" and s.exit_code == 64


def test_state_left_behind_with_nothing_running_is_crashed(svcdir):
    ServiceState("foo").set_many({"child_pid": "999999", "start_time": "2024-01-01 00:00:00"})
    s = native.state_status("foo")
    assert s.state == "crashed" and s.exit_code == 32


def test_a_reused_pid_is_not_taken_for_the_daemon(svcdir, process):
    # child_ident pairs the pid with its start time: another process with
    # that pid is not our daemon.
    ServiceState("foo").set_many({"child_pid": process, "child_ident": "%d:1" % process})
    assert native.state_status("foo").pid is None


def test_a_supervisor_waiting_to_respawn_is_starting(svcdir):
    ServiceState("foo").set("supervisor_ident", _ident(os.getpid()))
    s = native.state_status("foo")
    assert s.state == "starting" and s.exit_code == 8


def test_supervise_daemon_args_keep_quoted_words_as_openrcs_eval_does():
    # As the shell evaluated them (the plugin's S records) ...
    m = from_variables("foo", "/etc/init.d/foo",
                       {"command": "/bin/sleep", "supervise_daemon_args": "--env 'A=b c'"},
                       [], (), ["--env", "A=b c"])
    assert native.start_options(m)[-2:] == ["--env", "A=b c"]
    # ... or, without the shell's words, split as the shell would.
    m = model(supervise_daemon_args="--env 'A=b c' --nicelevel 5")
    assert native.start_options(m)[-4:] == ["--env", "A=b c", "--nicelevel", "5"]


def test_start_stop_daemon_args_stand_in_for_unset_supervise_daemon_args():
    m = model(start_stop_daemon_args="--env X=1")
    assert native.start_options(m)[-2:] == ["--env", "X=1"]


def test_supervise_daemon_args_with_an_open_quote_name_the_variable():
    from openrc_sv.errors import UserError
    with pytest.raises(UserError, match="^supervise_daemon_args: invalid value"):
        model(supervise_daemon_args="--env 'A=b")
