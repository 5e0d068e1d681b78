"""openrc-sv-exec hands the daemon its stdin, stdout and stderr and no other
fd, as supervise-daemon does, except those its caller names on purpose in
$OPENRC_SV_EXEC_KEEP_FDS.  Run as the test user: no root needed."""

import os
import subprocess
import sys

import pytest

from openrc_sv import daemon_exec
from openrc_sv.launcher import package_parent

EXE = os.path.join(package_parent(), "openrc_sv", "data", "openrc-sv-exec")

# The daemon: its open fds ("FD TARGET" lines, the directory it lists them
# with left out) and the variable, if it got it.
LISTER = ("import os\n"
          "d = '/proc/self/fd'\n"
          "for n in sorted(os.listdir(d), key=int):\n"
          "    try:\n"
          "        t = os.readlink(d + '/' + n)\n"
          "    except OSError:\n"
          "        continue\n"
          "    if not t.startswith('/proc/'):\n"
          "        print(n, t)\n"
          "print('KEEP', os.environ.get('OPENRC_SV_EXEC_KEEP_FDS'))\n")


def run_exec(tmp_path, leaked, keep=None, report=True):
    """openrc-sv-exec with the fds in `leaked` open and inheritable, the
    lister as its daemon.  Returns (CompletedProcess, {fd: target}, KEEP line)."""
    out = tmp_path / "fds"
    env = {"PATH": "/usr/bin:/bin"}
    if keep is not None:
        env[daemon_exec.KEEP_FDS] = keep
    pre = ["--report", str(tmp_path / "report")] if report else []
    r = subprocess.run([sys.executable, "-I", "-S", EXE] + pre +
                       ["svc", "--stdout", str(out), "--", sys.executable, "-I", "-S", "-c",
                        LISTER], env=env, pass_fds=leaked, capture_output=True, text=True,
                       timeout=30)
    fds, said = {}, None
    if out.exists():
        for line in out.read_text().splitlines():
            word, rest = line.split(" ", 1)
            if word == "KEEP":
                said = rest
            else:
                fds[int(word)] = rest
    return r, fds, said


@pytest.fixture
def leaked(tmp_path):
    """Inheritable fds as runsvdir or a shell might leave them: a file, a
    directory, a pipe end, one far up the table."""
    made = []
    f = os.open(str(tmp_path / "leaked-file"), os.O_RDWR | os.O_CREAT, 0o600)
    made.append(f)
    made.append(os.open(str(tmp_path), os.O_RDONLY | os.O_DIRECTORY))
    r, w = os.pipe()
    made += [r, w]
    made.append(os.dup2(f, 700))
    for fd in made:
        os.set_inheritable(fd, True)
    yield made
    for fd in made:
        os.close(fd)


def test_no_inherited_fd_reaches_the_daemon(tmp_path, leaked):
    r, fds, said = run_exec(tmp_path, leaked)
    assert r.returncode == 0, r.stderr
    assert sorted(fds) == [0, 1, 2], fds
    assert fds[0] == "/dev/null" and fds[1] == str(tmp_path / "fds")
    assert said == "None"
    assert (tmp_path / "report").read_text() == ""


def test_the_fds_the_caller_names_are_kept_and_the_variable_is_not_passed_on(tmp_path, leaked):
    r, fds, said = run_exec(tmp_path, leaked, keep="%d, %d" % (leaked[0], leaked[-1]))
    assert r.returncode == 0, r.stderr
    assert sorted(fds) == [0, 1, 2, leaked[0], leaked[-1]], fds
    assert fds[leaked[-1]] == str(tmp_path / "leaked-file")
    assert said == "None"


def test_the_report_fd_is_not_taken_for_one_to_keep(tmp_path):
    """The report is opened first, close-on-exec, on the lowest free fd:
    naming that number is refused, not a report handed to the daemon."""
    r, fds, _ = run_exec(tmp_path, [], keep="3")
    assert r.returncode == daemon_exec.EXIT_CANNOT_RUN
    assert r.stderr == "openrc-sv-exec: fatal: OPENRC_SV_EXEC_KEEP_FDS: fd 3 was not handed " \
                       "to openrc-sv-exec open\n"
    assert (tmp_path / "report").read_text().startswith("OPENRC_SV_EXEC_KEEP_FDS: fd 3 ")
    assert fds == {}


@pytest.mark.parametrize("value", ["2", "x", "3 -1", "0x3", "99999999", "٣"])
def test_a_bad_keep_list_is_one_line_naming_the_variable(tmp_path, value):
    r, fds, _ = run_exec(tmp_path, [], keep=value, report=False)
    assert r.returncode == daemon_exec.EXIT_CANNOT_RUN
    assert r.stderr == "openrc-sv-exec: fatal: OPENRC_SV_EXEC_KEEP_FDS: invalid value '%s' " \
                       "(expected fd numbers above 2, such as 3)\n" % value
    assert fds == {} and not (tmp_path / "fds").exists()


def test_an_empty_keep_list_keeps_nothing(tmp_path, leaked):
    r, fds, _ = run_exec(tmp_path, leaked, keep="")
    assert r.returncode == 0, r.stderr
    assert sorted(fds) == [0, 1, 2]


def test_close_other_fds_closes_around_the_kept_ones():
    opened = [os.open("/dev/null", os.O_RDONLY) for _ in range(4)]
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            daemon_exec.close_other_fds({opened[1], opened[3]})
            alive = []
            for fd in opened:
                try:
                    os.fstat(fd)
                    alive.append(fd)
                except OSError:
                    pass
            code = 0 if alive == [opened[1], opened[3]] else 2
        finally:
            os._exit(code)
    for fd in opened:
        os.close(fd)
    assert os.waitpid(pid, 0)[1] == 0
