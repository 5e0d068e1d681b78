"""Every command line OpenRC 0.63.3's openrc-run passed to supervise-daemon.

The corpus (../shared/openrc-argv/openrc-0.63.3.txt beside the repository,
see its README.md) records one `argv:` line per call, each word in brackets,
followed by the `env:` lines it ran with.  For each line we ask our parser
what it means and compare with what OpenRC 0.63.3's C binary makes of it.

`c_meaning()` below is a small model of that binary's option handling
(src/supervise-daemon/supervise-daemon.c at tag 0.63.3):
  * --respawn-delay/-period/-delay-step/-delay-cap go through
    parse_duration(): strtol() then an exact unit suffix (ms, s, sec,
    seconds, "", m, min, minutes, h, hour); anything else (e.g. "1.5") is
    rejected and the start fails;
  * --healthcheck-timer/-delay use sscanf("%d"): the leading integer in
    seconds, the rest ignored ("1.5" -> 1 s, "10min" -> 10 s);
  * --respawn-max sscanf("%d") >= 0; --umask parse_mode() (octal);
    --ionice "C:D" (class 0 forces data 0, class 3 forces 7);
    --secbits strtoul(base 0); --capabilities cap_iab_from_text();
    --user NAME[:GROUP] (the group defaults to the user's);
    --notify fd:N or socket...; --retry parse_schedule().

Where ours deliberately differs, the difference is listed in DIFFERENCES
and asserted as it is, so that a change on either side shows up here.
Every line is parsed under the rules of the OpenRC that wrote it (0.62's,
see openrc_sv.rcversion), whatever OpenRC this machine has.
"""

import grp
import os
import pwd
import re

import pytest

from openrc_sv import rcversion, sd_args
from openrc_sv import sigs as signal
from openrc_sv.errors import UserError

CORPUS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared",
                      "openrc-argv", "openrc-0.63.3.txt")

if not os.path.exists(CORPUS):
    pytest.skip("OpenRC argv corpus not found at %s (CI has it beside the repository)"
                % os.path.normpath(CORPUS), allow_module_level=True)


def load_corpus(path):
    """[(id, scenario, argv, env)] in file order."""
    cases, scenario, cur = [], "?", None
    for line in open(path, encoding="utf-8"):
        line = line.rstrip("\n")
        if line.startswith("== "):
            scenario = line[3:].split()[0]
        elif line.startswith("argv: "):
            argv = re.findall(r"\[([^\]]*)\]", line[len("argv: "):])
            cur = (scenario, argv, {})
            cases.append(cur)
        elif line.startswith("  env: "):
            key, _, value = line[len("  env: "):].partition("=")
            cur[2][key] = value
        elif line.strip():
            raise AssertionError("corpus line not understood: %r" % line)
    out = []
    for n, (scenario, argv, env) in enumerate(cases):
        out.append(("%02d-%s-%s-%s" % (n, scenario, argv[0], argv[1].lstrip("-")),
                    scenario, argv, env))
    return out


CASES = load_corpus(CORPUS)

# ---------------------------------------------------------------- C's model

_UNITS = {"ms": 1, "miliseconds": 1, "s": 1000, "sec": 1000, "seconds": 1000, "": 1000,
          "m": 60000, "min": 60000, "minutes": 60000, "h": 3600000, "hour": 3600000}


def c_parse_duration(text):
    """parse_duration() of src/shared/timeutils.c: ms, or None when rejected."""
    m = re.match(r"\s*([+-]?\d+)(.*)\Z", text)
    if not m or int(m.group(1)) < 0 or m.group(2) not in _UNITS:
        return None
    return int(m.group(1)) * _UNITS[m.group(2)]


def c_scan_int(text):
    """sscanf("%d"): the leading integer, the rest ignored; None if none."""
    m = re.match(r"\s*([+-]?\d+)", text)
    return int(m.group(1)) if m else None


def c_signal(name):
    name = name.upper()
    if name.isdigit():
        return int(name)
    return int(getattr(signal, name if name.startswith("SIG") else "SIG" + name))


def c_schedule(text):
    """parse_schedule() of OpenRC: a bare number N is SIGTERM/N/SIGKILL/N."""
    if "/" not in text:
        n = c_scan_int(text)
        return [("signal", 15), ("timeout", n * 1000), ("signal", 9), ("timeout", n * 1000)]
    steps = []
    for item in text.split("/"):
        if item == "forever":
            steps.append(("forever", None))
        elif item[:1].isdigit():
            steps.append(("timeout", int(item) * 1000))
        else:
            steps.append(("signal", c_signal(item)))
    return steps


_CAPS = {"cap_net_bind_service": 10, "cap_net_raw": 13, "cap_sys_admin": 21}


def c_iab(text):
    """cap_iab_from_text(): (inheritable, ambient, bounding-dropped)."""
    inh, amb, bnd = set(), set(), set()
    for item in text.split(","):
        flags = ""
        while item[:1] in ("!", "^", "%"):
            flags, item = flags + item[0], item[1:]
        cap = _CAPS[item]
        if "!" in flags:
            bnd.add(cap)
        if "^" in flags:
            inh.add(cap)
            amb.add(cap)
        elif "%" in flags or not flags:
            inh.add(cap)
    return inh, amb, bnd


def c_meaning(argv, env):
    """What OpenRC 0.63.3's supervise-daemon makes of this call: a dict of
    the values it was given, or {"rejected": option} when it refuses."""
    assert argv[0] == env["RC_SVCNAME"]
    out, rest, i = {}, [], 1
    takes = {"--start": False, "--stop": False, "--signal": True, "--no-new-privs": False,
             "-U": False}
    while i < len(argv):
        a = argv[i]
        i += 1
        if a == "--":
            rest.extend(argv[i:])
            break
        if not a.startswith("-"):
            rest.append(a)
            continue
        val = None
        if takes.get(a, True):
            val, i = argv[i], i + 1
        if a in ("--start", "--stop"):
            out["mode"] = a[2:]
        elif a == "--signal":
            out["mode"], out["signal"] = "signal", c_signal(val)
        elif a == "-U":
            out["user_mode"] = True
        elif a in ("--respawn-delay", "--respawn-period",
                   "--respawn-delay-step", "--respawn-delay-cap"):
            ms = c_parse_duration(val)
            if ms is None:
                return {"rejected": a}
            out[a[2:].replace("-", "_") + "_ms"] = ms
        elif a in ("--healthcheck-timer", "--healthcheck-delay"):
            n = c_scan_int(val)
            if n is None or n < 1:
                return {"rejected": a}
            out[a[2:].replace("-", "_") + "_ms"] = n * 1000
        elif a == "--respawn-max":
            out["respawn_max"] = c_scan_int(val)
        elif a == "--retry":
            out["retry_text"], out["retry"] = val, c_schedule(val)
        elif a == "--umask":
            out["umask"] = int(val, 8)
        elif a in ("--nicelevel", "--oom-score-adj"):
            out[a[2:].replace("-", "_")] = c_scan_int(val)
        elif a == "--ionice":
            c, _, d = val.partition(":")
            c, d = int(c), int(d or 0)
            out["ionice"] = (c, 0 if c == 0 else 7 if c == 3 else d)
        elif a == "--secbits":
            out["secbits"] = int(val, 0)
        elif a == "--capabilities":
            out["capabilities"] = c_iab(val)
        elif a == "--no-new-privs":
            out["no_new_privs"] = True
        elif a == "--user":
            name, _, group = val.partition(":")
            pw = pwd.getpwnam(name)
            out["uid"] = pw.pw_uid
            out["gid"] = grp.getgrnam(group).gr_gid if group else pw.pw_gid
        elif a == "--env":
            k, _, v = val.partition("=")
            out["env"] = out.get("env", []) + [(k, v)]
        elif a == "--notify":
            m = re.match(r"fd:(\d+)", val)
            out["notify"] = ("fd", int(m.group(1))) if m else (
                ("socket", None) if val.startswith("socket") else None)
        elif a in ("--stdout", "--stderr", "--stdin", "--pidfile", "--chdir",
                   "--stdout-logger", "--stderr-logger"):
            out[a[2:].replace("-", "_")] = val
        else:
            raise AssertionError("the model does not know %s: extend c_meaning()" % a)
    if out["mode"] == "start":
        out["exec"], out["args"] = rest[0], rest[1:]
    return out


# ------------------------------------------------------------ differences

# (corpus argv[0], attribute): (C 0.63.3's value, ours, why).  Asserted as
# written: ours must still be the recorded value.
DIFFERENCES = {
    ("v9", "healthcheck_delay_ms"): (
        10000, 600000,
        "--healthcheck-delay 10min: C's sscanf(\"%d\") ignores the unit and waits "
        "10 s; ours honours the unit as parse_duration() does for the respawn "
        "options (issue 9 section 2: C is plainly wrong here)"),
    ("v8", "healthcheck_timer_ms"): (
        1000, 1500,
        "--healthcheck-timer 1.5: C's sscanf(\"%d\") reads 1 s; ours accepts what C "
        "accepts (a working script must not break) and reads what was written, "
        "one and a half seconds (issue 9 section 2, man supervise-daemon DIFFERENCES)"),
}

# The C binary accepts these, ours refuses them.  Each is an xfail(strict):
# when ours starts accepting the line, the test XPASSes and fails, and the
# entry must be removed.  None: ours never refuses what C accepts.
REJECTED_BY_US = {}

RULES_0_63 = rcversion.rules(rcversion.CURRENT, "the corpus is OpenRC 0.63.3's")


def ours_as_dict(o, wanted):
    got = {}
    for key in wanted:
        if key in ("uid", "gid"):
            got[key] = o.user[0] if key == "uid" else o.user[1]
        elif key == "user_mode":
            continue            # -U: accepted; what it selects is tested with user services
        else:
            got[key] = getattr(o, key)
    return got


def _params():
    for case_id, scenario, argv, env in CASES:
        marks = ()
        if (argv[0], argv[1]) in REJECTED_BY_US:
            marks = pytest.mark.xfail(strict=True, reason=REJECTED_BY_US[argv[0], argv[1]])
        yield pytest.param(scenario, argv, env, id=case_id, marks=marks)


@pytest.mark.parametrize("scenario,argv,env", list(_params()))
def test_corpus_line_means_what_openrc_means(scenario, argv, env):
    want = c_meaning(argv, env)
    if "rejected" in want:
        with pytest.raises(UserError) as e:
            sd_args.parse(list(argv), dict(env), rules=RULES_0_63)
        assert want["rejected"] in str(e.value)
        return
    o = sd_args.parse(list(argv), dict(env), rules=RULES_0_63)
    assert o.svcname == argv[0]
    got = ours_as_dict(o, want)
    for key in list(want):
        diff = DIFFERENCES.get((argv[0], key))
        if diff is not None:
            c_value, ours_value, why = diff
            assert want[key] == c_value, "the model of C changed: " + why
            assert got[key] == ours_value, "documented difference no longer holds: " + why
            del want[key], got[key]
    want.pop("user_mode", None)
    assert got == want


def test_the_corpus_is_complete():
    # The README's scenario list, and the two values it calls out.
    assert len(CASES) == 93
    by_name = {argv[0]: argv for _, _, argv, _ in CASES if argv[1] == "--start"}
    assert by_name["v5"][2:4] == ["--respawn-delay", "1.5"]
    assert by_name["v8"][2:4] == ["--healthcheck-timer", "1.5"]
    assert c_meaning(by_name["v5"], {"RC_SVCNAME": "v5"}) == {"rejected": "--respawn-delay"}
    assert c_meaning(by_name["v8"], {"RC_SVCNAME": "v8"})["healthcheck_timer_ms"] == 1000


def test_every_documented_difference_is_in_the_corpus():
    names = {argv[0] for _, _, argv, _ in CASES}
    assert {svc for svc, _ in DIFFERENCES} <= names
    assert {svc for svc, _ in REJECTED_BY_US} <= names


# When a start line leaves an option out, C uses its own defaults, which
# changed in 0.62; ours follows the rule set of the calling OpenRC (issue 9
# section 2).  The delay cap before 0.62 is ours alone (C had no step).
C_063_DEFAULTS = {"respawn_delay_ms": 0, "respawn_period_ms": 12000,
                  "respawn_max": 10, "respawn_delay_step_ms": 128,
                  "respawn_delay_cap_ms": 30000}
C_045_DEFAULTS = {"respawn_delay_ms": 0, "respawn_period_ms": 0,
                  "respawn_max": 10, "respawn_delay_step_ms": 0,
                  "respawn_delay_cap_ms": 30000}


@pytest.mark.parametrize("svc", ["stc", "misc2", "ssig", "v7"])
@pytest.mark.parametrize("name,want", [(rcversion.CURRENT, C_063_DEFAULTS),
                                       (rcversion.LEGACY, C_045_DEFAULTS)])
def test_defaults_of_a_start_line_follow_the_calling_openrc(svc, name, want):
    argv, env = next((a, e) for _, _, a, e in CASES if a[0] == svc and a[1] == "--start")
    o = sd_args.parse(list(argv), dict(env), rules=rcversion.rules(name))
    assert {k: getattr(o, k) for k in want} == want


def test_with_nothing_pinned_the_corpus_lines_follow_the_version_file(tmp_path):
    """The corpus's RC_LIBEXECDIR is rewritten; pointed at a version file
    (and with no pin in rc.conf or conf.d), the rules are that version's."""
    argv, env = next((a, e) for _, _, a, e in CASES if a[0] == "stc" and a[1] == "--start")
    (tmp_path / "version").write_text("0.63.3\n")
    env = dict(env, RC_LIBEXECDIR=str(tmp_path), supervise_daemon_compat="auto")
    o = sd_args.parse(list(argv), env)
    assert {k: getattr(o, k) for k in C_063_DEFAULTS} == C_063_DEFAULTS
    assert o.rules.why == "OpenRC 0.63.3 (%s/version)" % tmp_path
