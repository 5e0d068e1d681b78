"""Bad input, on every backend: one line naming the variable and its value,
a non-zero exit, and nothing left behind.

Each case is an init script (plus conf.d) with one bad value, started with
`rc-service SVC start` under supervisor=openrc-sv with sv_backend native,
runit and monit.  After the failed start, for that service there must be:
no test daemon, no OpenRC started/starting mark, no options left but
what OpenRC itself keeps, no runit service directory or scandir link, no
monit control file or include, and monit must not know the service.
The output must name the variable (and the start of its value) on one line,
and hold no Python traceback.

One sandbox per backend serves all of its cases (each case has its own
service name), so that ~130 starts take a minute, not ten.
"""

import shlex

import pytest

import initscripts as I
from sandbox import Sandbox, wait_for
from test_backends import world

pytestmark = pytest.mark.integration

BACKENDS = ["native", "runit", "monit"]

# (variable, value, where: None = the init script; "conf" = conf.d as an
# export; backends it applies to, None = all[, other variables the script
# sets, all good]).  A case naming sv_backend among its other variables
# must be refused with a line that names the backend too.
CASES = [
    ("respawn_delay", "\u00b2", None),
    ("respawn_delay", "9" * 5000, None),
    # Not "1fortnight": before 0.62 OpenRC reads its leading 1 (sscanf), and
    # so do we; and respawn_period=0 is the whole lifetime (issue 9).
    ("respawn_delay", "fortnight", None),
    ("respawn_max", "-1", None),
    ("respawn_max", "ten", None),
    ("respawn_period", "\u0663", None),
    ("respawn_delay_step", "-1", None),
    ("respawn_delay_cap", "forever", None),
    ("respawn_on", "sometimes", None),
    ("respawn_on", "failure", ("monit",)),          # monit never sees the exit status
    ("respawn_stop_status", "78 NOSIG", None),
    ("respawn_stop_status", "256", None),
    ("respawn_stop_status", "78", ("monit",)),
    ("respawn_delay_factor", "0.5", None),
    ("respawn_delay_factor", "2", None),            # without respawn_delay to multiply
    ("respawn_reset_after", "soon", None),
    ("healthcheck_timer", "0", None),
    ("healthcheck_delay", "soon", None),
    ("healthcheck_timeout", "-5", None),
    ("retry", "TERM/forever/TERM", None),
    ("retry", "FOO/5", None),
    ("retry", "//", None),
    ("stopsig", "NOSUCH", None),
    ("stopsig", "999", None),
    ("umask", "089", None),
    ("umask", "12345", None),
    ("command_user", "nosuchuser", None),
    ("command_user", "nobody:nosuchgroup", None),
    ("command", "/nonexistent/daemon", None),
    ("command", "/etc/passwd", None),
    ("directory", "/nonexistent", None),
    ("chroot", "/nonexistent", None),
    ("output_log", "/run", None),
    ("error_log", "/run", None),
    ("output_log", "/nonexistent-dir/x.log", None),
    ("error_log", "/nonexistent-dir/y.log", None),
    ("input_file", "/nonexistent", None),
    ("input_file", "/run", None),
    ("notify", "bogus", None),
    ("watchdog_timer", "soon", None),
    ("watchdog_timer", "0", None),
    ("watchdog_timer", "30s", None),                # without notify=socket:ready
    ("watchdog_timer", "30s", ("native",), {"notify": "fd:3"}),
    # No notify socket on runit or monit: refused, whatever notify says.
    ("watchdog_timer", "30s", ("runit", "monit"), {"notify": "socket:ready", "sv_backend": ""}),
    ("capabilities", "^cap_bogus", ("native",)),
    ("secbits", "zz", ("native",)),
    ("no_new_privs", "maybe", None),
    ("sv_backend", "nosuch", None),
    ("runit_scandir", "relative", ("runit",)),
    ("runit_svdir_root", "relative", ("runit",)),
    ("runit_logdir", "relative", ("runit",)),
    ("monit_type", "bogus", ("monit",)),
    ("reload_signal", "NOPE", None),
    ("command_args", "'unbalanced", None),
    ("SSD_NICELEVEL", "99", "conf"),
    ("SSD_IONICELEVEL", "9:9", "conf"),
    ("SSD_OOM_SCORE_ADJ", "5000", "conf"),
]


def _applies(case, backend):
    where = case[2]
    return not isinstance(where, tuple) or backend in where


PARAMS = [pytest.param(b, i, id="%s-%s=%s" % (b, c[0], c[1][:12].encode("unicode_escape").decode()))
          for b in BACKENDS for i, c in enumerate(CASES) if _applies(c, b)]


@pytest.fixture(scope="module")
def worlds(tmp_path_factory):
    made = {}

    def get(backend):
        if backend not in made:
            sb = Sandbox(tmp_path_factory.mktemp("bad-" + backend), supervisor="ours")
            sb.start()
            world(sb, backend)
            made[backend] = sb
        return made[backend]
    yield get
    for sb in made.values():
        sb.close()


def _install(sb, backend, svc, var, value, where, others=None):
    d = I.statedir(svc)
    sb.run("mkdir", "-p", "-m", "0777", d, check=True)
    variables = {"command": I.DAEMON, "command_args": d}
    variables.update((k, v) for k, v in (others or {}).items() if k != "sv_backend")
    conf = "sv_backend=%s\n" % backend
    if backend == "monit":
        conf += "monit_conf=/run/monit/monitrc\n"
    if where == "conf":
        conf += "export %s=%s\n" % (var, shlex.quote(value))
    else:
        variables[var] = value
    lines = ["#!/sbin/openrc-run", "supervisor=openrc-sv"]
    for k, v in variables.items():
        if var == "command_args" and k == "command_args":
            # As written, unquoted inside: the shell must choke on it.
            lines.append("command_args=\"%s %s\"" % (d, v))
        elif k == "sv_backend":
            continue
        else:
            lines.append("%s=%s" % (k, shlex.quote(v)))
    if var == "sv_backend":
        conf = "sv_backend=%s\n" % shlex.quote(value)
    sb.install_script(svc, "\n".join(lines) + "\n", conf)


def _leftovers(sb, svc):
    left = []
    for mark in ("started", "starting", "stopping", "inactive"):
        if sb.exists("/run/openrc/%s/%s" % (mark, svc)):
            left.append("OpenRC mark %s" % mark)
    # OpenRC's own bookkeeping may stay; nothing of ours may.
    ours = [k for k in sb.listdir("/run/openrc/options/" + svc)
            if k not in ("pidfile", "command", "argv_0", "name")]
    if ours:
        left.append("options: %s" % ours)
    if [p for p, _, st, args in sb.ps() if I.statedir(svc) + " " in args + " "
            and not st.startswith("Z")]:
        left.append("a process of %s" % svc)
    for path in ("/run/openrc/sv/" + svc, "/run/openrc/sv/%s.health" % svc,
                 "/run/openrc/openrc-sv/runit/" + svc, "/run/supervise-%s.pid" % svc,
                 "/run/openrc/supervise-%s.ctl" % svc):
        if sb.exists(path):
            left.append(path)
    left += ["monit file %s" % n for n in sb.listdir("/run/openrc-monit") if svc in n]
    return left


def _monit_knows(sb, svc):
    r = sb.run("monit", "-c", "/run/monit/monitrc", "summary")
    return "'%s'" % svc in r.stdout


@pytest.mark.parametrize("backend, index", PARAMS)
def test_bad_value_is_one_line_and_leaves_nothing(worlds, backend, index):
    var, value, where = CASES[index][:3]
    others = CASES[index][3] if len(CASES[index]) > 3 else {}
    sb = worlds(backend)
    svc = "bad%d" % index
    _install(sb, backend, svc, var, value, where, others)
    r = sb.rc(svc, "start")
    out = r.stdout + r.stderr
    assert r.returncode != 0, "%s=%r was accepted:\n%s" % (var, value, out)
    assert "Traceback" not in out, out
    # The shell's own complaint about command_args cannot quote it back.
    head = value[:20] if var != "command_args" else ""
    naming = [line for line in out.splitlines() if var in line and head in line
              and ("sv_backend=" + backend in line or "sv_backend" not in others)]
    assert naming, "no line names %s and %r:\n%s" % (var, head, out)
    assert all(len(line) < 400 for line in naming), out
    wait_for(lambda: not _leftovers(sb, svc), 15,
             what="nothing left for %s=%r: %s" % (var, value, _leftovers(sb, svc)))
    if backend == "monit":
        assert not _monit_knows(sb, svc)


# -- a full file system where the backend writes its files ----------------------------

FULL = {"runit": "/run/openrc/openrc-sv", "monit": "/run/openrc-sv"}


@pytest.mark.parametrize("backend", sorted(FULL))
def test_a_full_file_system_is_one_line_and_leaves_nothing(sandbox, backend):
    sb = sandbox("ours")
    world(sb, backend)
    where = FULL[backend]
    sb.run("mkdir", "-p", where, check=True)
    sb.run("mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", where, check=True)
    sb.run("sh", "-c", "dd if=/dev/zero of=%s/filler bs=4k 2>/dev/null; true" % where)
    _install(sb, backend, "full", "name", "full", None)
    r = sb.rc("full", "start")
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    assert "Traceback" not in out, out
    # One line, naming the file that could not be written.
    assert [line for line in out.splitlines()
            if "No space left on device" in line and where in line], out
    wait_for(lambda: not _leftovers(sb, "full"), 15,
             what="nothing left: %s" % _leftovers(sb, "full"))
    # At most the backend's own (empty) top directory beside the filler.
    assert set(sb.listdir(where)) <= {"filler", backend}, sb.listdir(where)
    assert sb.listdir("%s/%s" % (where, backend)) == []
    if backend == "monit":
        assert not _monit_knows(sb, "full")
