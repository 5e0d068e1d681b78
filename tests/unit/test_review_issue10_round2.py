"""Adversarial review of the issue 10 performance changes, round 2: what
the review found (strict xfails until both were fixed in the plugin's
_openrc_sv_dump and _openrc_sv_defined).  Unit tier: the plugin's shell in
dash and bash (and busybox sh where installed), no root.

1. _openrc_sv_dump keeps "the caller's IFS" by saving $IFS and assigning
   it back.  A caller whose IFS is *unset* (`unset IFS`, the usual way
   back to the default splitting) gets IFS set to the empty string: no
   field splitting at all for the rest of the dump.  Then the --start
   words are wrong (command_args "a<newline>b" reaches `eval set --` as
   one word, so the newline ends a command: `b` is run, the eval fails and
   the start is refused with "the shell cannot split command_args"; under
   openrc-run's eval it is two words), and the F records of
   $_openrc_sv_functions become one bogus name " healthcheck unhealthy":
   the script's healthcheck() is lost (no health checks, no unhealthy).
   Before 7b0e795 the dump never touched IFS.

2. _openrc_sv_defined runs `PATH= command -v NAME`.  An empty PATH is not
   "no directories": POSIX (and dash, bash, busybox) read an empty PATH as
   the current directory.  openrc-run runs the script in / (system
   services) or in $HOME (user services), so an executable /healthcheck
   (a common container health probe) or ~/healthcheck makes every script
   "define" healthcheck(): sourcex leaves out the no-op, the model says
   has_healthcheck, the runit backend renders a ./check that runs a
   healthcheck openrc-run does not have.  The old test,
   [ "$(command -v NAME)" = NAME ], printed a path for a program and so
   never took one for a function.
"""

import subprocess

import pytest

from openrc_sv import shellvars

SHELLS = [s for s in ("dash", "bash", "busybox") if subprocess.run(
    ["sh", "-c", "command -v %s" % s], capture_output=True).returncode == 0]


def run_sh(shell, script, cwd=None):
    argv = [shell, "sh", "-c"] if shell == "busybox" else [shell, "-c"]
    return subprocess.run(argv + [script, "sh", shellvars.PLUGIN],
                          capture_output=True, text=True, cwd=cwd)


@pytest.mark.parametrize("shell", SHELLS)
def test_an_unset_ifs_is_left_unset_and_words_split_as_openrc_runs_eval(shell):
    script = r'''
. "$1"
unset IFS
command=/bin/true
command_args="a
b"
_openrc_sv_functions=" healthcheck unhealthy"
_openrc_sv_dump --start | tr '\0' '\n' | sed -n '/^W$/,$p'
echo "ifs:${IFS+set}"
'''
    out = run_sh(shell, script)
    lines = out.stdout.splitlines()
    # What openrc-run's `eval supervise-daemon ... -- $command_args` makes
    # of it with the default splitting: two words, no command run.
    assert lines[:5] == ["W", "A", "a", "A", "b"], (lines, out.stderr)
    assert ["F", "healthcheck", "F", "unhealthy", "END"] == lines[-6:-1], lines
    assert lines[-1] == "ifs:", lines           # still unset after the dump
    assert "not found" not in out.stderr, out.stderr


@pytest.mark.parametrize("shell", SHELLS)
def test_a_program_in_the_working_directory_is_not_a_defined_function(shell, tmp_path):
    # openrc-run's working directory (/ or the user's $HOME) holding a
    # program named like the functions asked about.
    for name in ("healthcheck", "unhealthy", "default_reload", "_openrc_sv_shim_start"):
        p = tmp_path / name
        p.write_text("#!/bin/sh\nexit 0\n")
        p.chmod(0o755)
    script_file = tmp_path / "svc.script"
    script_file.write_text("command=/bin/true\n")     # defines neither function
    script = r'''
. "$1"
RC_SERVICE=%s
sourcex "$RC_SERVICE"
echo "functions:[$_openrc_sv_functions]"
echo "openrc's own default_reload: $_openrc_sv_openrc_reload"
for n in healthcheck unhealthy _openrc_sv_shim_start; do
    _openrc_sv_defined $n && echo "$n defined" || echo "$n not defined"
done
''' % script_file
    out = run_sh(shell, script, cwd=str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "functions:[]",
        "openrc's own default_reload: no",      # none was defined before the plugin
        # sourcex defined the no-ops itself, as it does for any script
        # that has neither: those two are functions now.
        "healthcheck defined", "unhealthy defined",
        "_openrc_sv_shim_start not defined"], out.stdout
