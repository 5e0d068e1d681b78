"""promfile: Prometheus' text format for openrc-sv's metrics, and the
textfile writer's refusals.  promtool (Debian's prometheus package) checks
the output when it is installed; the integration tier runs it always."""

import os
import shutil
import subprocess

import pytest

from openrc_sv import promfile, promvalues


def values(**kw):
    base = {"up": 1, "failed": 0, "start_time": 1700000000.25, "restarts": 2,
            "last_exit": "signal KILL", "health": "ok", "health_runs": 5,
            "health_failures": 1, "watchdog_misses": None}
    base.update(kw)
    return base


def test_label_values_are_escaped():
    assert promfile.escape_label('a\\b"c\nd') == 'a\\\\b\\"c\\nd'
    line = dict(promfile.samples('we"ird\\svc\n', "native", values()))["openrc_sv_up"]
    assert line == 'openrc_sv_up{service="we\\"ird\\\\svc\\n",backend="native"} 1'


def test_help_and_type_once_per_family_then_its_samples():
    text = promfile.render([("a", "native", values()),
                            ("b", "runit", values(last_exit="exit 1")),
                            ("c", "monit", values(up=0, start_time=None))])
    lines = text.splitlines()
    for name, kind, _help, _key in promfile.FAMILIES:
        if name == "openrc_sv_watchdog_misses_total":
            continue
        assert lines.count("# TYPE %s %s" % (name, kind)) == 1
        h = [l for l in lines if l.startswith("# HELP %s " % name)]
        assert len(h) == 1
        # The family's samples follow its TYPE line, together.
        i = lines.index("# TYPE %s %s" % (name, kind))
        rest = [l for l in lines[i + 1:] if not l.startswith("#")]
        block = []
        for l in lines[i + 1:]:
            if l.startswith("#"):
                break
            block.append(l)
        assert all(l.startswith(name + "{") for l in block) and block
        assert len([l for l in rest if l.startswith(name + "{")]) == len(block)
    assert text.endswith("\n")


def test_what_a_backend_does_not_record_is_left_out_not_zero():
    text = promfile.render([("a", "monit", values(last_exit=None, health_runs=None,
                                                   health_failures=None))])
    assert "openrc_sv_health_checks_total" not in text
    assert "openrc_sv_last_exit_code" not in text and "openrc_sv_last_exit_signal" not in text
    assert "openrc_sv_watchdog_misses_total" not in text


def test_last_exit_is_a_code_or_a_signal_number():
    sig = dict(promfile.samples("a", "native", values(last_exit="signal KILL")))
    assert sig["openrc_sv_last_exit_signal"].endswith(" 9") and "openrc_sv_last_exit_code" not in sig
    ex = dict(promfile.samples("a", "runit", values(last_exit="exit 3")))
    assert ex["openrc_sv_last_exit_code"].endswith(" 3") and "openrc_sv_last_exit_signal" not in ex
    odd = dict(promfile.samples("a", "runit", values(last_exit="signal 15")))
    assert odd["openrc_sv_last_exit_signal"].endswith(" 15")
    forked = dict(promfile.samples("a", "native", values(
        last_exit="exit 0; the daemon forked into the background")))
    assert forked["openrc_sv_last_exit_code"].endswith(" 0")


@pytest.mark.parametrize("health, up, want", [("ok", 1, "1"), ("failing", 1, "0"),
                                              ("pending", 1, None), (None, 1, None),
                                              ("hidden", 1, None), ("ok", 0, None)])
def test_health_ok_only_for_a_checked_running_daemon(health, up, want):
    got = dict(promfile.samples("a", "native", values(health=health, up=up)))
    line = got.get("openrc_sv_health_ok")
    assert (line.rsplit(" ", 1)[1] if line else None) == want


def test_start_time_is_a_float_and_absent_while_down():
    got = dict(promfile.samples("a", "native", values()))
    assert got["openrc_sv_start_time_seconds"].endswith(" 1700000000.25")
    assert "openrc_sv_start_time_seconds" not in dict(promfile.samples(
        "a", "native", values(up=0, start_time=None)))


@pytest.mark.skipif(not shutil.which("promtool"), reason="promtool (Debian: prometheus)")
def test_promtool_accepts_it():
    text = promfile.render([("a", "native", values()), ('b"x', "runit", values(up=0))])
    r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("name, ok", [("sshd", True), ("net.eth0", True), ("a/b", False),
                                      (".hidden", False), ("", False), ("x\ny", False)])
def test_file_names(name, ok):
    got = promfile.file_name(name)
    assert (got is not None) == ok
    if ok:
        assert got == "openrc-sv-%s.prom" % name and promfile.service_of(got) == name


def test_the_setting_is_read_as_librc_reads_rc_conf(tmp_path):
    etc = tmp_path
    (etc / "rc.conf").write_text('# openrc_sv_textfile_dir="/nope"\nrc_parallel="NO"\n')
    assert promfile.configured_dir(str(etc)) is None
    (etc / "rc.conf.d").mkdir()
    (etc / "rc.conf.d" / "metrics.conf").write_text('openrc_sv_textfile_dir="/var/lib/tf"\n')
    (etc / "rc.conf.d" / "other.txt").write_text('openrc_sv_textfile_dir="/not/this"\n')
    assert promfile.configured_dir(str(etc)) == "/var/lib/tf"


def test_a_user_never_publishes(tmp_path, monkeypatch):
    (tmp_path / "rc.conf").write_text('openrc_sv_textfile_dir="%s"\n' % tmp_path)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert promfile.Publisher.configured("svc", "native", etc=str(tmp_path)) is None
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert promfile.Publisher.configured("svc", "native", etc=str(tmp_path),
                                         environ={"RC_USER_SERVICES": "yes"}) is None
    assert promfile.Publisher.configured("svc", "native", etc=str(tmp_path), environ={})


def test_a_directory_others_can_change_is_refused_once(tmp_path):
    # tmp_path is not root's alone (or, as root, pytest's tmp is 0700
    # under a root-owned /tmp: make it group-writable to be sure).
    d = tmp_path / "tf"
    d.mkdir()
    os.chmod(d, 0o777)
    pub = promfile.Publisher(str(d), "svc", "native")
    first = pub.publish(values())
    assert first and promfile.SETTING in first and "root" in first
    assert pub.complaint == first
    assert pub.publish(values()) == first and pub.complaint is None
    assert os.listdir(d) == []
    assert promfile.Publisher("relative/dir", "svc", "native").publish(values())


@pytest.mark.skipif(os.geteuid() != 0, reason="writing needs a root-owned directory")
def test_writes_atomically_and_never_through_a_link(tmp_path):
    base = tmp_path / "root-only"
    base.mkdir(mode=0o755)
    # every directory above must be root's alone: pytest's tmp_path is under /tmp (sticky)
    d = base / "tf"
    d.mkdir(mode=0o755)
    target = tmp_path / "elsewhere"
    target.write_text("keep\n")
    os.symlink(str(target), str(d / "openrc-sv-svc.prom"))
    pub = promfile.Publisher(str(d), "svc", "native")
    err = pub.publish(values())
    if err and "can be changed" in err:
        pytest.skip("tmp_path is not in a root-only tree here: %s" % err)
    assert err is None
    assert target.read_text() == "keep\n"
    assert not os.path.islink(d / "openrc-sv-svc.prom")
    assert "openrc_sv_up{" in (d / "openrc-sv-svc.prom").read_text()
    assert sorted(os.listdir(d)) == ["openrc-sv-svc.prom"]


def test_one_constructor_keeps_a_stopped_daemons_start_time_and_health_out():
    down = promvalues.values(False, failed=True, start_time=1700000000.0, restarts=3,
                           last_exit="signal KILL", health="ok", health_runs=4)
    up = promvalues.values(True, start_time=1700000000.0, restarts=3, health="ok")
    assert (down["up"], down["failed"], down["start_time"], down["health"]) == (0, 1, None, None)
    assert (down["restarts"], down["last_exit"], down["health_runs"]) == (3, "signal KILL", 4)
    assert (up["up"], up["start_time"], up["health"]) == (1, 1700000000.0, "ok")
    names = [n for n, _ in promfile.samples("svc", "native", down)]
    assert "openrc_sv_start_time_seconds" not in names and "openrc_sv_health_ok" not in names
    assert "openrc_sv_last_exit_signal" in names
