"""rcversion.from_openrc_command: `openrc --version` when $RC_LIBEXECDIR has
no version file.  A fake `openrc` on a PATH of our own each time: one that
answers, one that hangs, one whose child keeps the pipe open, one that
cannot run.  And the process that asks never imports subprocess (it
forks into the long-running supervisor).  No root needed."""

import os
import subprocess
import sys
import time

from openrc_sv import rcversion

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def fake_openrc(tmp_path, body):
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    exe = bindir / "openrc"
    exe.write_text("#!/bin/sh\nPATH=/usr/bin:/bin\n" + body)
    exe.chmod(0o755)
    return {"PATH": str(bindir)}


def gone(pid):
    """True once pid is no process, or a zombie nobody will wait for."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def test_the_version_openrc_prints(tmp_path):
    env = fake_openrc(tmp_path, "[ \"$1\" = --version ] && echo 'openrc (OpenRC) 0.63.3'\n")
    assert rcversion.from_openrc_command(env) == (0, 63, 3)


def test_its_exit_status_does_not_matter(tmp_path):
    env = fake_openrc(tmp_path, "echo 'openrc (OpenRC) 0.56'; exit 3\n")
    assert rcversion.from_openrc_command(env) == (0, 56, 0)


def test_a_hanging_openrc_is_killed_after_the_timeout_and_what_it_said_counts(tmp_path):
    env = fake_openrc(tmp_path, "echo $$ >%s/pid; echo 'openrc (OpenRC) 0.45.2'; exec sleep 60\n"
                      % tmp_path)
    t0 = time.monotonic()
    assert rcversion.from_openrc_command(env, timeout=0.5) == (0, 45, 2)
    assert 0.4 < time.monotonic() - t0 < 10, "the timeout was not kept"
    pid = int((tmp_path / "pid").read_text())
    assert gone(pid), "the hung openrc was left running"


def test_a_silent_hanging_openrc_gives_no_version(tmp_path):
    env = fake_openrc(tmp_path, "echo $$ >%s/pid; exec sleep 60\n" % tmp_path)
    t0 = time.monotonic()
    assert rcversion.from_openrc_command(env, timeout=0.5) is None
    assert 0.4 < time.monotonic() - t0 < 10
    assert gone(int((tmp_path / "pid").read_text()))


def test_a_child_left_holding_its_stdout_does_not_hold_us_past_the_timeout(tmp_path):
    env = fake_openrc(tmp_path, "sleep 60 & echo $! >%s/pid; echo 'openrc (OpenRC) 0.62'\n"
                      % tmp_path)
    t0 = time.monotonic()
    try:
        assert rcversion.from_openrc_command(env, timeout=0.5) == (0, 62, 0)
        assert time.monotonic() - t0 < 10
    finally:
        os.kill(int((tmp_path / "pid").read_text()), 9)


def test_an_openrc_that_cannot_run_gives_no_version(tmp_path):
    env = fake_openrc(tmp_path, "")
    (tmp_path / "bin" / "openrc").write_bytes(b"\x7fELF garbage")
    assert rcversion.from_openrc_command(env) is None


def test_relative_path_entries_are_not_searched(tmp_path, monkeypatch):
    fake_openrc(tmp_path, "echo 'openrc (OpenRC) 0.63'\n")
    monkeypatch.chdir(str(tmp_path))
    assert rcversion.from_openrc_command({"PATH": "bin::."}) is None
    assert rcversion.from_openrc_command({"PATH": "bin:%s/bin" % tmp_path}) == (0, 63, 0)


def test_no_openrc_on_the_path_gives_no_version(tmp_path):
    assert rcversion.from_openrc_command({"PATH": str(tmp_path / "none")}) is None


# What a supervise-daemon --start does without a version file, in a fresh
# interpreter: the supervisor is this process after its fork.
CODE = """
import sys
sys.path.insert(0, sys.argv[1])
from openrc_sv import sd_args
opts = sd_args.parse(["x", "--start", "/bin/true"],
                     {"RC_SVCNAME": "x", "RC_LIBEXECDIR": sys.argv[2], "PATH": sys.argv[3]})
print(opts.rules.why if hasattr(opts, "rules") else "")
print(" ".join(m for m in ("subprocess", "threading", "selectors") if m in sys.modules))
"""


def test_the_asking_process_imports_no_subprocess(tmp_path):
    env = fake_openrc(tmp_path, "echo 'openrc (OpenRC) 0.63.3'\n")
    (tmp_path / "libexec").mkdir()
    r = subprocess.run([sys.executable, "-I", "-S", "-c", CODE, REPO, str(tmp_path / "libexec"),
                        env["PATH"]], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split("\n")
    assert lines[1] == "", "imported into the supervisor: %s" % lines[1]


def test_the_asking_process_gets_the_version_through_choose(tmp_path):
    env = fake_openrc(tmp_path, "echo 'openrc (OpenRC) 0.63.3'\n")
    (tmp_path / "libexec").mkdir()
    env["RC_LIBEXECDIR"] = str(tmp_path / "libexec")
    r = rcversion.choose("svc", env, etc=str(tmp_path / "etc"))
    assert (r.name, r.why) == ("0.62", "OpenRC 0.63.3 (openrc --version)")


def test_openrc_gets_no_fd_of_ours(tmp_path):
    env = fake_openrc(tmp_path, "ls /proc/$$/fd >%s/fds; echo 'openrc (OpenRC) 0.63'\n"
                      % tmp_path)
    fd = os.open(str(tmp_path), os.O_RDONLY)
    leaked = os.dup2(fd, 200)       # inheritable, far from what sh uses
    os.close(fd)
    try:
        assert rcversion.from_openrc_command(env) == (0, 63, 0)
    finally:
        os.close(leaked)
    assert "200" not in (tmp_path / "fds").read_text().split()
