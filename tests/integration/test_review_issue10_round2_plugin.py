"""Adversarial review of the issue 10 performance changes, round 2, through
real openrc-run (see tests/unit/test_review_issue10_round2.py for the
shell-level findings): an init script that says `unset IFS` -- the usual
way back to the default splitting -- and writes command_args over several
lines, as many scripts do.  openrc-run's own eval splits it into words; the
plugin's dump, which since 7b0e795 restored "the caller's IFS" by
assignment, left IFS set but empty, and the start was refused (fixed in
9f9d021: an unset IFS is put back unset)."""

import pytest

from sandbox import our_script, wait_for

pytestmark = pytest.mark.integration

SCRIPT = """#!/sbin/openrc-run
unset IFS
supervisor=openrc-sv
sv_backend=native
command=/bin/sleep
command_args="
	1000
"
"""


def test_a_script_that_unsets_ifs_starts_with_its_multi_line_command_args(sandbox):
    sb = sandbox("ours")
    r = sb.run(our_script("openrc-sv"), "setup", "--plugin")
    assert r.returncode == 0, r.stdout + r.stderr
    sb.install_script("svc", SCRIPT)
    r = sb.rc("svc", "start")
    assert r.returncode == 0, r.stdout + r.stderr
    wait_for(lambda: sb.pids_of("sleep 1000"), 10, what="the daemon")
    assert sb.rc("svc", "stop").returncode == 0
