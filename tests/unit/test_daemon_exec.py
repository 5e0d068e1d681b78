"""openrc_sv.daemon_exec (openrc-sv-exec): its command line, and what it
does when it cannot become the daemon.  Parsing needs no root."""

import os
import subprocess
import sys

import pytest

from openrc_sv import daemon_exec
from openrc_sv.errors import UserError


def test_preface_options_come_before_the_service():
    own, opts = daemon_exec.parse(["--report", "/r", "--child-pid", "/c", "svc",
                                   "--umask", "027", "--", "/bin/true", "a b"])
    assert own == {"--report": "/r", "--child-pid": "/c"}
    assert opts.umask == 0o27
    assert opts.argv == ["/bin/true", "a b"]


def test_no_preface_at_all():
    own, opts = daemon_exec.parse(["svc", "--", "/bin/true"])
    assert own == {} and opts.argv == ["/bin/true"]


def test_process_options_are_taken_as_supervise_daemon_takes_them():
    _, opts = daemon_exec.parse(["svc", "--env", "A=b c", "--nicelevel", "5", "--stdout", "/o",
                                 "--stderr", "/e", "--stdin", "/i", "--chdir", "/srv",
                                 "--", "/bin/true"])
    assert (opts.stdout, opts.stderr, opts.stdin, opts.chdir, opts.nicelevel) == \
        ("/o", "/e", "/i", "/srv", 5)


@pytest.mark.parametrize("option", [
    ["--respawn-delay", "2"], ["--respawn-max", "3"], ["--healthcheck-timer", "5"],
    ["--retry", "5"], ["--pidfile", "/run/x.pid"], ["--notify", "fd:3"], ["--stop-group"],
])
def test_a_supervisors_option_is_refused(option):
    with pytest.raises(UserError) as e:
        daemon_exec.parse(["svc"] + option + ["--", "/bin/true"])
    assert str(e.value).startswith("%s is a supervisor's option" % option[0])


@pytest.mark.parametrize("argv", [[], ["--umask", "027", "--", "/bin/true"],
                                  ["--report", "/r"]])
def test_without_a_service_name_it_says_how_to_call_it(argv):
    with pytest.raises(UserError, match="^usage: openrc-sv-exec"):
        daemon_exec.parse(argv)


def test_a_command_that_cannot_run_is_one_line_in_the_report_and_exit_111(tmp_path):
    report = tmp_path / "report"
    r = subprocess.run([sys.executable, "-c", "import sys; from openrc_sv import daemon_exec; "
                        "sys.exit(daemon_exec.main(sys.argv[1:]))",
                        "--report", str(report), "svc", "--", str(tmp_path / "nosuch")],
                       capture_output=True, text=True)
    assert r.returncode == daemon_exec.EXIT_CANNOT_RUN
    # By then stderr is the daemon's (here /dev/null): the report has it.
    assert r.stderr == ""
    [line] = report.read_text().splitlines()
    assert line == "unable to exec '%s': No such file or directory" % (tmp_path / "nosuch")


def test_a_log_that_is_a_fifo_is_refused_with_the_option_named(tmp_path):
    fifo = tmp_path / "out"
    os.mkfifo(fifo)
    r = subprocess.run([sys.executable, "-c", "import sys; from openrc_sv import daemon_exec; "
                        "sys.exit(daemon_exec.main(sys.argv[1:]))",
                        "svc", "--stdout", str(fifo), "--", "/bin/true"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == daemon_exec.EXIT_CANNOT_RUN
    assert r.stderr == "openrc-sv-exec: fatal: --stdout: cannot open '%s' as the daemon's " \
                       "user: is a FIFO\n" % fifo


def test_on_success_the_command_runs_with_its_words_and_the_report_stays_empty(tmp_path):
    report, out = tmp_path / "report", tmp_path / "out"
    r = subprocess.run([sys.executable, "-c", "import sys; from openrc_sv import daemon_exec; "
                        "sys.exit(daemon_exec.main(sys.argv[1:]))",
                        "--report", str(report), "svc", "--stdout", str(out), "--env", "X=a b",
                        "--", "/bin/sh", "-c", 'printf "%s|%s\\n" "$X" "$0"', "w o"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert out.read_text() == "a b|w o\n"
    assert report.read_text() == ""


def test_python_s_own_locale_coercion_does_not_reach_the_daemon(tmp_path):
    """PEP 538 sets LC_CTYPE=C.UTF-8 in a C locale, even under -I: the
    daemon gets the environment it was given, not our interpreter's."""
    import subprocess
    import sys
    from openrc_sv.launcher import package_parent
    exe = os.path.join(package_parent(), "openrc_sv", "data", "openrc-sv-exec")
    out = tmp_path / "env"
    for given, want in (({}, None), ({"LC_CTYPE": "C.UTF-8"}, "C.UTF-8")):
        env = dict(given, PATH="/usr/bin:/bin")
        r = subprocess.run([sys.executable, "-I", "-S", exe, "svc", "--stdout", str(out), "--",
                            "/usr/bin/env"], env=env, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        seen = dict(line.split("=", 1) for line in out.read_text().splitlines() if "=" in line)
        assert seen.get("LC_CTYPE") == want
        out.unlink()
