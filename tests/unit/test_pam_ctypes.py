"""openrc_sv.pam against the real libpam, without root: the service file is
read from a private directory (pam_start_confdir), as this user."""

import ctypes
import ctypes.util
import os
import pwd
import subprocess
import sys

import pytest

from openrc_sv import child, pam, sd_args

ME = pwd.getpwuid(os.getuid()).pw_name


def have_confdir():
    try:
        return hasattr(ctypes.CDLL("libpam.so.0"), "pam_start_confdir")
    except OSError:
        return False


needs_libpam = pytest.mark.skipif(not have_confdir(), reason="needs libpam.so.0 (1.4+)")


@pytest.fixture
def confdir(tmp_path):
    env = tmp_path / "environment"
    env.write_text("FROM_PAM=yes\nPATH=/lib/rc/bin:/opt/bin\n")

    def write(account="pam_permit.so", service=pam.SERVICE):
        (tmp_path / service).write_text(
            "account required %s\n"
            "session required pam_env.so readenv=1 envfile=%s user_readenv=0 conffile=/dev/null\n"
            % (account, env))
        return str(tmp_path)
    return write


@needs_libpam
def test_the_session_is_opened_under_supervise_daemons_name_and_gives_its_environment(confdir):
    d = confdir()
    assert pam.open_session(pam.load(), ME, confdir=d) == [
        ("FROM_PAM", "yes"), ("PATH", "/lib/rc/bin:/opt/bin")]
    # Only that name is configured there: any other service fails.
    with pytest.raises(pam.PamError):
        pam.open_session(pam.load(), ME, service="other", confdir=d)


@needs_libpam
def test_a_refused_account_is_one_line_with_pams_reason(confdir):
    d = confdir(account="pam_deny.so")
    with pytest.raises(pam.PamError) as e:
        pam.open_session(pam.load(), ME, confdir=d)
    assert e.value.strerror and "\n" not in e.value.strerror
    assert e.value.strerror == "Authentication failure"     # pam_deny in account


def test_without_libpam_nothing_happens_as_in_a_c_build_without_pam():
    assert pam.open_session((ctypes, None), ME) == []
    pam.close_session()         # nothing open: nothing to do


def setup_for(*options):
    opts = sd_args.parse(["svc", "--start", *options, "/bin/true"], {"RC_SVCNAME": "svc"})
    return child.Setup(opts, "/lib/rc")


def test_pam_is_used_exactly_when_a_user_is_given():
    assert setup_for("--user", ME).pam
    assert setup_for("--user", "%d:%d" % (os.getuid(), os.getgid())).pam
    assert not setup_for("--group", str(os.getgid())).pam
    assert not setup_for().pam


def test_pams_environment_goes_over_env_home_and_user_and_path_is_filtered_after_it():
    s = setup_for("--user", ME, "--env", "FROM_PAM=env", "--env", "KEEP=1")
    s.add_pam_environment([("FROM_PAM", "pam"), ("HOME", "/pam-home"),
                           ("PATH", "/lib/rc/bin:/usr/bin:/lib/rc/sbin"), ("KEEP", None)])
    assert s.env["FROM_PAM"] == "pam" and s.env["HOME"] == "/pam-home"
    assert s.env["PATH"] == "/usr/bin"
    assert "KEEP" not in s.env


def test_the_supervisor_side_imports_neither_ctypes_nor_pam():
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    code = ("import sys; sys.path.insert(0, %r); from openrc_sv import child, sd_args; "
            "o = sd_args.parse(['svc', '--start', '--user', %r, '/bin/true'], {'RC_SVCNAME': 'svc'}); "
            "child.Setup(o, '/lib/rc'); "
            "print('ctypes' in sys.modules, 'openrc_sv.pam' in sys.modules)" % (repo, ME))
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True)
    assert out.stdout.split() == ["False", "False"], out.stderr


def test_pam_only_where_openrcs_own_binary_was_built_with_it(tmp_path):
    """OpenRC built with -Dpam=false opens no session: neither do we."""
    from openrc_sv import pam
    with_pam, without, script = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    with_pam.write_bytes(b"\x7fELF....libpam.so.0\0libc.so.6\0")
    without.write_bytes(b"\x7fELF....libc.so.6\0libcap.so.2\0")
    script.write_bytes(b"#!/usr/bin/python3 -IS\n# openrc-sv launcher: runs ...\n")
    assert pam.openrc_uses_pam([str(with_pam)]) is True
    assert pam.openrc_uses_pam([str(without)]) is False
    # Ours (a launcher script) is skipped: the next one found decides.
    assert pam.openrc_uses_pam([str(script), str(without)]) is False
    # None found: as the common builds, with PAM.
    assert pam.openrc_uses_pam([str(tmp_path / "none")]) is True
    # Debian's, here, links libpam.
    import os
    if os.path.exists("/sbin/supervise-daemon"):
        assert pam.openrc_uses_pam() is True
