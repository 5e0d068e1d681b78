"""The runscript plugin (/etc/rc.conf.d/openrc-sv.conf), through real rc-service.

Installed in each sandbox the way an administrator does it: `openrc-sv setup
--plugin` run inside.  Every other supervisor= value must behave exactly as
without the plugin; supervisor=openrc-sv goes through `openrc-sv`.
"""

import json
import re
import shlex

import pytest

import initscripts as I
from sandbox import wait_for

pytestmark = pytest.mark.integration

HOSTILE_WORDS = ["two  spaces", "it's", 'say "hi"', "$HOME", "`id`", "a;b", "new\nline", ""]


def install_plugin(sb):
    r = sb.run("openrc-sv", "setup", "--plugin")
    assert r.returncode == 0, r.stdout + r.stderr
    assert sb.exists("/etc/rc.conf.d/openrc-sv.conf")


def openrc_sv_script(svc, command_args="", functions="", **variables):
    """An init script with supervisor=openrc-sv running the test daemon."""
    lines = ["#!/sbin/openrc-run", "supervisor=openrc-sv",
             "command=%s" % I.DAEMON,
             "command_args=%s" % shlex.quote((I.statedir(svc) + " " + command_args).strip()),
             "extra_started_commands=reload"]
    lines += ["%s=%s" % (k, shlex.quote(str(v))) for k, v in variables.items()]
    lines.append(functions)
    return "\n".join(lines) + "\n"


def install(sb, svc, text):
    I.install_programs(sb)
    d = I.statedir(svc)
    sb.run("mkdir", "-p", "-m", "0777", d, check=True)
    sb.install_script(svc, text)


def lines(r):
    """stdout and stderr lines, without OpenRC's deptree cache refresh.

    Also without cgroup2_remove's "rmdir: ... Device or resource busy":
    the kernel keeps a zombie in its cgroup until it is reaped, and
    supervise-daemon --stop may return while the supervisor is still a
    zombie of the sandbox's init (reported to the supervisor's owner;
    a matter of the drop-in, not of the plugin, which these tests check).
    """
    return [ln for ln in (r.stdout + r.stderr).splitlines()
            if "Caching service dependencies" not in ln
            and not re.match(r"rmdir: failed to remove '/sys/fs/cgroup/.*': Device or resource busy", ln)]


def our_errors(r):
    return [ln for ln in r.stderr.splitlines() if re.match(r" \* ERROR: \S+: ", ln)
            and "failed to start" not in ln]


def nothing_left(sb, svc):
    assert sb.status(svc) == 3
    assert not sb.exists("/run/openrc/options/%s" % svc)
    assert not sb.exists("/run/openrc/supervise-%s.ctl" % svc)
    assert I.daemons(sb) == [] and I.supervisors(sb, svc) == []


# -- every other supervisor: exactly as before ------------------------------------------

# start-stop-daemon finds its daemon by --exec: a plain binary, not the
# test daemon (a python script), so that stop works.
OTHER = {
    "supervise-daemon": "supervisor=supervise-daemon\ncommand=%s\ncommand_args=%s\n"
                        % (I.DAEMON, I.statedir("svc")),
    "start-stop-daemon": "command=/bin/sleep\ncommand_args=1000\n"
                         "command_background=yes\npidfile=/run/svc.pid\n",
    "invalid": "supervisor=bogus\ncommand=/bin/sleep\ncommand_args=1000\n"
               "command_background=yes\npidfile=/run/svc.pid\n",
}


@pytest.mark.parametrize("kind", sorted(OTHER))
def test_other_supervisors_behave_exactly_as_without_the_plugin(sandbox, kind):
    sb = sandbox("c")
    install(sb, "svc", "#!/sbin/openrc-run\n" + OTHER[kind])

    def daemon():
        return I.daemons(sb) or sb.pids_of("sleep 1000")

    def session():
        out = []
        for action in ("start", "status", "reload", "stop", "status"):
            r = sb.rc("svc", action)
            out.append((action, r.returncode, lines(r)))
            if action == "start":
                assert r.returncode == 0, r.stdout + r.stderr
                wait_for(daemon, 10, what="the daemon")
        wait_for(lambda: not daemon(), 10, what="the daemon to be gone")
        return out

    before = session()
    install_plugin(sb)
    after = session()
    assert after == before
    assert [code for _, code, _ in before] == [0, 0, 1, 0, 3]
    if kind == "invalid":
        assert ' * Invalid supervisor, "bogus", using start-stop-daemon' in before[0][2]


@pytest.mark.parametrize("listed", [False, True], ids=["reload-unlisted", "reload-listed-undefined"])
def test_reload_of_other_supervisors_keeps_openrcs_answer(sandbox, listed):
    sb = sandbox("c")
    install(sb, "svc", "#!/sbin/openrc-run\nsupervisor=supervise-daemon\ncommand=%s\n"
            "command_args=%s\n%s" % (I.DAEMON, I.statedir("svc"),
                                     "extra_started_commands=reload\n" if listed else ""))
    assert sb.rc("svc", "start").returncode == 0
    I.wait_daemon(sb, "svc")
    before = sb.rc("svc", "reload")
    install_plugin(sb)
    after = sb.rc("svc", "reload")
    assert (after.returncode, lines(after)) == (before.returncode, lines(before))
    assert before.returncode != 0 and lines(before)


# -- supervisor=openrc-sv, sv_backend=native --------------------------------------------------

def test_native_start_status_restart_stop_in_openrc_style(sandbox):
    sb = sandbox("ours")
    install_plugin(sb)
    install(sb, "svc", openrc_sv_script("svc", sv_backend="native", name="Test daemon"))

    r = sb.rc("svc", "start")
    assert r.returncode == 0 and " * Starting Test daemon ... [ ok ]" in lines(r), r.stdout + r.stderr
    first = I.wait_daemon(sb, "svc")
    assert sb.value("svc", "sv_backend") == "native"

    r = sb.rc("svc", "status")
    assert (r.returncode, lines(r)) == (0, [" * status: started"])

    r = sb.rc("svc", "restart")
    assert r.returncode == 0
    assert lines(r) == [" * Stopping Test daemon ... [ ok ]", " * Starting Test daemon ... [ ok ]"]
    second = I.wait_daemon(sb, "svc", other_than=first)
    assert not sb.alive(first)

    r = sb.rc("svc", "stop")
    assert (r.returncode, lines(r)) == (0, [" * Stopping Test daemon ... [ ok ]"])
    assert not sb.alive(second)
    r = sb.rc("svc", "status")
    assert (r.returncode, lines(r)) == (3, [" * status: stopped"])
    nothing_left(sb, "svc")


def test_native_daemon_gets_every_argument_as_the_same_word(sandbox):
    sb = sandbox("ours")
    install_plugin(sb)
    words = " ".join(shlex.quote(w) for w in HOSTILE_WORDS)
    install(sb, "svc", openrc_sv_script("svc", command_args=words, sv_backend="native"))
    assert sb.rc("svc", "start").returncode == 0
    daemon = I.wait_daemon(sb, "svc")
    # As under openrc-run: each word arrives whole, but supervise_start's
    # unquoted expansion has turned each run of white space into one space.
    assert I.words(sb, "svc", daemon) == [re.sub(r"[ \t\n]+", " ", w) for w in HOSTILE_WORDS]


def test_what_start_pre_changes_reaches_the_daemon(sandbox):
    # The plugin hands over its live shell's variables, not a re-read script.
    sb = sandbox("ours")
    install_plugin(sb)
    install(sb, "svc", openrc_sv_script(
        "svc", sv_backend="native",
        functions='start_pre() { command_args="$command_args --from-start-pre"; }'))
    assert sb.rc("svc", "start").returncode == 0
    daemon = I.wait_daemon(sb, "svc")
    assert I.words(sb, "svc", daemon) == ["--from-start-pre"]


@pytest.mark.parametrize("reload_signal, caught", [(None, "SIGHUP"), ("USR1", "SIGUSR1")])
def test_reload_sends_the_reload_signal(sandbox, reload_signal, caught):
    sb = sandbox("ours")
    install_plugin(sb)
    extra = {"reload_signal": reload_signal} if reload_signal else {}
    install(sb, "svc", openrc_sv_script("svc", sv_backend="native", **extra))
    assert sb.rc("svc", "start").returncode == 0
    daemon = I.wait_daemon(sb, "svc")
    r = sb.rc("svc", "reload")
    assert (r.returncode, lines(r)) == (0, [" * Reloading svc ... [ ok ]"]), r.stdout + r.stderr
    wait_for(lambda: (daemon, caught) in I.signals(sb, "svc"), 5, what=caught + " at the daemon")
    assert sb.alive(daemon)


def test_status_says_unsupervised_then_crashed(sandbox):
    sb = sandbox("ours")
    install_plugin(sb)
    install(sb, "svc", openrc_sv_script("svc", sv_backend="native"))
    assert sb.rc("svc", "start").returncode == 0
    daemon = I.wait_daemon(sb, "svc")
    [supervisor] = I.supervisors(sb, "svc")
    sb.run("kill", "-9", str(supervisor), check=True)
    wait_for(lambda: not sb.alive(supervisor), 5, what="the supervisor to die")
    r = sb.rc("svc", "status")
    assert (r.returncode, lines(r)) == (64, [" * status: unsupervised"])
    sb.run("kill", "-9", str(daemon), check=True)
    wait_for(lambda: not sb.alive(daemon), 5, what="the daemon to die")
    r = sb.rc("svc", "status")
    assert (r.returncode, lines(r)) == (32, [" * status: crashed"])


def test_openrc_sv_status_reports_the_native_service(sandbox):
    sb = sandbox("ours")
    install_plugin(sb)
    install(sb, "svc", openrc_sv_script("svc", sv_backend="native"))
    assert sb.rc("svc", "start").returncode == 0
    daemon = I.wait_daemon(sb, "svc")
    r = sb.run("openrc-sv", "status", "svc")
    assert r.returncode == 0, r.stderr
    row = r.stdout.splitlines()[1].split()
    assert row[:4] == ["svc", "native", "started", str(daemon)]
    assert sb.run("openrc-sv", "list").stdout == "svc native\n"


def test_an_unknown_backend_is_one_clear_line_and_leaves_nothing(sandbox):
    sb = sandbox("ours")
    install_plugin(sb)
    install(sb, "svc", openrc_sv_script("svc", sv_backend="bogus"))
    r = sb.rc("svc", "start")
    assert r.returncode != 0
    [line] = our_errors(r)
    assert line.startswith(" * ERROR: svc: sv_backend: unknown backend 'bogus' (valid: ")
    nothing_left(sb, "svc")


def test_a_bad_value_is_one_line_naming_it_and_leaves_nothing(sandbox):
    sb = sandbox("ours")
    install_plugin(sb)
    install(sb, "svc", openrc_sv_script("svc", sv_backend="native", respawn_delay="soon"))
    r = sb.rc("svc", "start")
    assert r.returncode != 0
    [line] = our_errors(r)
    assert line.startswith(" * ERROR: svc: respawn_delay: invalid value 'soon'")
    nothing_left(sb, "svc")


def test_a_service_started_through_openrc_sv_is_stopped_through_it_after_supervisor_changes(sandbox):
    sb = sandbox("ours")
    install_plugin(sb)
    install(sb, "svc", openrc_sv_script("svc", sv_backend="native"))
    assert sb.rc("svc", "start").returncode == 0
    daemon = I.wait_daemon(sb, "svc")
    # The admin switches the script back while the daemon runs.
    sb.write("/etc/conf.d/svc", "supervisor=\n")
    r = sb.rc("svc", "stop")
    assert (r.returncode, lines(r)) == (0, [" * Stopping svc ... [ ok ]"]), r.stdout + r.stderr
    wait_for(lambda: not sb.alive(daemon), 5, what="the daemon to stop")
    nothing_left(sb, "svc")


@pytest.mark.parametrize("supervisor", ["c", "ours"])
def test_openrc_sv_status_reports_supervise_daemon_services_of_either_supervisor(sandbox, supervisor):
    sb = sandbox(supervisor)
    daemon = I.start_service(sb, "svc")
    r = sb.run("openrc-sv", "status", "--json")
    assert r.returncode == 0, r.stderr
    [row] = json.loads(r.stdout)
    assert (row["service"], row["backend"], row["state"], row["pid"]) == (
        "svc", "supervise-daemon", "started", daemon)
    assert row["supervisor_pid"] == I.supervisors(sb, "svc")[0]
    assert sb.run("openrc-sv", "status", "--quiet", "svc").returncode == 0


def test_a_failing_health_check_restarts_the_native_daemon(sandbox):
    sb = sandbox("ours")
    install_plugin(sb)
    install(sb, "svc", openrc_sv_script(
        "svc", sv_backend="native", healthcheck_timer=1,
        functions="healthcheck() { [ ! -e /run/svc.sick ]; }\n"
                  "unhealthy() { touch /run/svc.unhealthy-ran; }"))
    assert sb.rc("svc", "start").returncode == 0
    first = I.wait_daemon(sb, "svc")
    wait_for(lambda: sb.value("svc", "healthcheck") == "ok", 10, what="a passing check")
    sb.write("/run/svc.sick", "")
    I.wait_daemon(sb, "svc", other_than=first, timeout=15)
    assert sb.exists("/run/svc.unhealthy-ran") and not sb.alive(first)

    def health():
        [row] = json.loads(sb.run("openrc-sv", "status", "--json", "svc").stdout)
        return row["health"]
    wait_for(lambda: health() == "failing", 10, what="status to show the failing check")
    sb.run("rm", "/run/svc.sick", check=True)
    wait_for(lambda: health() == "ok", 15, what="status to show the check passing again")


# -- the plugin evaluates the script as openrc-run does ----------------------------------

def _script(svc, supervisor, command_args, extra=""):
    """A script whose top level counts its loads and whose command_args is
    the shell text given (written in single quotes, evaluated by openrc-run)."""
    return ("#!/sbin/openrc-run\n"
            "echo x >> /run/loads.%s\n"
            "supervisor=%s\nsv_backend=native\n"
            "command=%s\n"
            "spaced='v  a l'\n"
            "command_args=%s\n%s"
            % (svc, supervisor, I.DAEMON, shlex.quote(command_args), extra))


# command_args as an admin may write it.  openrc-run word-splits and globs
# the unquoted value, then evals the words joined by spaces: a newline is
# only a separator, never the end of a command.
ARGS_CASES = {
    "quotes": """one 'two words' "three  spaced" back\\\\slash \\$HOME""",
    "newline": "first\ntouch /run/pwned-by-newline",
    "newline-quoted": "'a\nb' c",
    "tabs": "a\tb\t\tc",
    "glob": "/run/globs/* /run/nomatch-*",
    "subst": '$(echo sub one) "$(echo sub two)"',
    "expansion": '$spaced "${spaced}x" \'$spaced\'',
    "semicolon": "a\\;b 'c;d'",
}


@pytest.mark.parametrize("case", sorted(ARGS_CASES))
def test_command_args_reach_the_daemon_as_openrc_run_splits_them(sandbox, case):
    """Differential: the same command_args under OpenRC's C supervise-daemon
    and under supervisor=openrc-sv give the daemon the same words."""
    sb = sandbox("c")
    install_plugin(sb)
    sb.run("mkdir -p /run/globs && touch /run/globs/g1 /run/globs/g2", check=True)
    got = {}
    for svc, supervisor in (("refsvc", "supervise-daemon"), ("plugsvc", "openrc-sv")):
        install(sb, svc, _script(svc, supervisor, I.statedir(svc) + " " + ARGS_CASES[case]))
        r = sb.rc(svc, "start")
        assert r.returncode == 0, r.stdout + r.stderr
        daemon = I.wait_daemon(sb, svc)
        got[svc] = wait_for(lambda: I.words(sb, svc, daemon), 5, what="argv of " + svc)
    assert got["plugsvc"] == got["refsvc"]
    assert not sb.exists("/run/pwned-by-newline")
    if case == "newline":
        assert got["refsvc"] == ["first", "touch", "/run/pwned-by-newline"]


def _loads(sb, svc):
    return len(sb.read("/run/loads." + svc, "").splitlines())


def test_the_plugin_loads_the_script_no_more_often_than_openrc(sandbox):
    sb = sandbox("c")
    install_plugin(sb)
    for svc, supervisor in (("refsvc", "supervise-daemon"), ("plugsvc", "openrc-sv")):
        install(sb, svc, _script(svc, supervisor, I.statedir(svc)))
    # The first rc-service refreshes the dependency cache, which loads
    # every script once: not part of what is counted.
    sb.run("rc-update", "-u", check=True)
    counts = {}
    for svc in ("refsvc", "plugsvc"):
        row = []
        for action in ("start", "status", "stop", "status"):
            before = _loads(sb, svc)
            r = sb.rc(svc, action)
            assert "Caching service dependencies" not in r.stdout + r.stderr
            if action == "start":
                assert r.returncode == 0, r.stdout + r.stderr
                I.wait_daemon(sb, svc)
            row.append(_loads(sb, svc) - before)
        counts[svc] = row
    ref, ours = counts["refsvc"], counts["plugsvc"]
    assert ref[0] >= 1 and ref[1] >= 1, counts
    assert all(o <= r for o, r in zip(ours, ref)), counts


def test_native_takes_supervise_daemon_args_with_quoted_words(sandbox):
    """supervise_daemon_args goes through supervise_start's eval: quotes
    group words, under the plugin as under OpenRC."""
    sb = sandbox("ours")
    install_plugin(sb)
    install(sb, "svc", openrc_sv_script(
        "svc", sv_backend="native", supervise_daemon_args="--env 'SPACED=b  c' --env PLAIN=1"))
    r = sb.rc("svc", "start")
    assert r.returncode == 0, r.stdout + r.stderr
    daemon = I.wait_daemon(sb, "svc")
    env = I.environ(sb, "svc", daemon)
    assert (env.get("SPACED"), env.get("PLAIN")) == ("b c", "1")
