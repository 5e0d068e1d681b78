"""The same init script under the rules of OpenRC before 0.62 and of 0.62+
(issue 9 section 2), through real Debian openrc-run 0.45.

What the sandbox's OpenRC says it is comes from $RC_LIBEXECDIR/version: a
private file bind-mounted over it, inside the sandbox's own mount
namespace, makes the same openrc-run "0.63.3".  The administrator's pin
(supervise_daemon_compat in conf.d or rc.conf.d) is the other way in.

  before 0.62   respawn_max counts over the supervisor's whole life; no
                delay step; options/SVC holds whole seconds
  0.62+         respawn_max counts within 12 seconds; the delay grows by
                128ms per respawn; options/SVC holds the strings as given
"""

import time

import pytest

import initscripts as I
from sandbox import wait_for
from test_backends import install as backend_install
from test_backends import world as backend_world

pytestmark = pytest.mark.integration

PIN = "supervise_daemon_compat"


def pretend_version(sb, version):
    """Make $RC_LIBEXECDIR/version say `version`, in this sandbox only."""
    sb.write("/run/compat-version", version + "\n")
    sb.run("mount", "--bind", "/run/compat-version", sb.libexec + "/version", check=True)
    assert sb.read(sb.libexec + "/version") == version + "\n"


def dropin_service(sb, svc, conf=None, flags=None, **variables):
    I.install_service(sb, svc, flags=flags, **variables)
    if conf is not None:
        sb.write("/etc/conf.d/" + svc, conf)


def start(sb, svc):
    r = sb.rc(svc, "start")
    assert r.returncode == 0, "%s: start failed:\n%s%s" % (svc, r.stdout, r.stderr)
    return wait_for(lambda: _live(sb, svc), 20, what="%s's daemon" % svc)


def _live(sb, svc, other_than=None):
    pid = I.daemon_pid(sb, svc)
    return pid if pid and pid != other_than and sb.alive(pid) else None


def options(sb, svc):
    keys = ("respawn_delay", "respawn_period", "respawn_delay_step", "respawn_delay_cap",
            "respawn_max")
    return {k: sb.value(svc, k) for k in keys}


OPTIONS_045 = {"respawn_delay": "0", "respawn_period": "0", "respawn_delay_step": None,
               "respawn_delay_cap": None, "respawn_max": "1"}
OPTIONS_062 = {"respawn_delay": "0", "respawn_period": "12sec", "respawn_delay_step": "128",
               "respawn_delay_cap": "30000", "respawn_max": "1"}


def test_respawn_budget_is_a_lifetime_before_062_and_12_seconds_after(sandbox):
    """respawn_max=1 and two crashes 13 seconds apart: under 0.62's rules
    the first is forgiven (it fell out of the 12-second period) and the
    daemon is respawned; under the earlier rules the budget is the
    supervisor's whole life and it gives up.  One script per backend,
    the same for both rule sets: the drop-in (supervise-daemon), and the
    plugin with native and runit (the rules reach them through the model).
    This OpenRC says it is 0.63.3; the old rules come from a conf.d pin."""
    sb = sandbox("ours")
    backend_world(sb, "runit")
    pretend_version(sb, "0.63.3")
    services = []
    for flavour, pin in (("new", None), ("old", "0.45")):
        svc = "dropin-" + flavour
        dropin_service(sb, svc, conf=None if pin is None else "%s=%s\n" % (PIN, pin),
                       respawn_max=1)
        services.append(svc)
        for backend in ("native", "runit"):
            svc = "%s-%s" % (backend, flavour)
            backend_install(sb, backend, svc, respawn_max=1)
            if pin is not None:
                conf = sb.read("/etc/conf.d/" + svc)
                sb.write("/etc/conf.d/" + svc, conf + "%s=%s\n" % (PIN, pin))
            services.append(svc)
    pids = {svc: start(sb, svc) for svc in services}

    # What each wrote for tools such as openrc-exporter (runit writes none).
    for svc in ("dropin-new", "native-new"):
        assert options(sb, svc) == OPTIONS_062, svc
    for svc in ("dropin-old", "native-old"):
        assert options(sb, svc) == OPTIONS_045, svc

    first_crash = time.monotonic()
    for svc, pid in pids.items():
        sb.run("kill", "-9", str(pid), check=True)
    for svc, pid in list(pids.items()):
        pids[svc] = wait_for(lambda: _live(sb, svc, other_than=pid), 20,
                             what="%s respawned after its first crash" % svc)
    # The behaviour under test is time passing: 0.62's period is 12 s.
    time.sleep(max(0.0, first_crash + 13.0 - time.monotonic()))
    for svc, pid in pids.items():
        sb.run("kill", "-9", str(pid), check=True)
    for svc, pid in pids.items():
        if svc.endswith("-new"):
            wait_for(lambda: _live(sb, svc, other_than=pid), 20,
                     what="%s respawned: its first crash is out of the 12 s period" % svc)
    for svc in pids:
        if svc.endswith("-old"):
            code = wait_for(lambda: sb.status(svc) not in (0, 8) and sb.status(svc), 30,
                            what="%s to give up: two crashes in its lifetime" % svc)
            assert code == 3, svc
            assert I.daemon_pid(sb, svc) == pids[svc] and not sb.alive(pids[svc])
    for svc in pids:
        if svc.endswith("-new"):
            assert sb.status(svc) == 0, svc
            assert len(I.starts(sb, svc)) == 3, svc


def test_the_delay_grows_by_128ms_per_respawn_under_062_rules(sandbox):
    """A daemon that exits at once, respawn_max=4: five starts, then the
    supervisor gives up, under both rule sets.  Under 0.62's the nth
    respawn waits n * 128ms first; before 0.62 nothing is added.  The
    0.62 rules come from the version file; the old ones from the pin."""
    sb = sandbox("ours")
    pretend_version(sb, "0.62.3")
    for svc, conf in (("new", None), ("old", "%s=0.56\n" % PIN)):
        dropin_service(sb, svc, conf=conf, flags={"exit-code": "3"}, respawn_max=4)
        r = sb.rc(svc, "start")
        assert r.returncode == 0, r.stdout + r.stderr
    for svc in ("new", "old"):
        wait_for(lambda: sb.exists("/run/openrc/failed/" + svc), 30,
                 what="%s to give up after respawn_max" % svc)
        assert len(I.starts(sb, svc)) == 5, svc
    times = [t for _, t in I.starts(sb, "new")]
    gaps = [b - a for a, b in zip(times, times[1:])]
    for n, gap in enumerate(gaps, 1):
        assert gap >= 0.128 * n - 0.005, "respawn %d came %.3fs after the last start" % (n, gap)


def test_the_pin_in_rc_conf_d_and_conf_d_and_a_bad_one(sandbox):
    """Debian's 0.45 (its own version file): /etc/rc.conf.d pins 0.62 for
    every service, a conf.d says auto for one (detected: 0.45), and a bad
    value is one line naming the variable, with nothing left behind."""
    sb = sandbox("ours")
    sb.write("/etc/rc.conf.d/compat.conf", '%s="0.62"\n' % PIN)
    dropin_service(sb, "pinned", respawn_max=1)
    dropin_service(sb, "auto", conf="%s=auto\n" % PIN, respawn_max=1)
    start(sb, "pinned")
    start(sb, "auto")
    assert options(sb, "pinned") == OPTIONS_062
    assert options(sb, "auto") == OPTIONS_045

    dropin_service(sb, "bad", conf="%s=newest\n" % PIN)
    r = sb.rc("bad", "start")
    out = r.stdout + r.stderr
    assert r.returncode != 0
    assert "supervise_daemon_compat: invalid value 'newest'" in out, out
    assert "Traceback" not in out
    assert sb.status("bad") == 3
    assert not I.supervisors(sb, "bad") and I.daemon_pid(sb, "bad") is None
    assert not sb.exists("/run/supervise-bad.pid")
    assert not sb.exists("/run/openrc/supervise-bad.ctl")
