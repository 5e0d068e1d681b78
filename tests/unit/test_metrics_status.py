"""One status for every backend (issue 11 §5): the last exit spelt one way,
health pending until the current daemon's first check, the reason a
service is down, and the same fields in `status --json` and `metrics`."""

import os
import struct
import time

import pytest

from openrc_sv.backends import base
from openrc_sv.backends.base import Status
from openrc_sv.backends.runit import facts


@pytest.mark.parametrize("text, want", [
    ("signal 15", "signal TERM"), ("signal TERM", "signal TERM"), ("signal SIGKILL", "signal KILL"),
    ("signal kill", "signal KILL"), ("exit 3", "exit 3"), ("  exit 0\n", "exit 0"),
    ("signal 9; the daemon forked", "signal KILL; the daemon forked"),
    ("signal 200", "signal 200"), ("", None), (None, None), ("something else", "something else"),
])
def test_one_spelling_of_the_last_exit(text, want):
    assert base.normalise_exit(text) == want
    assert Status("s", "b", "started", last_exit=text).as_dict()["last_exit"] == want
    # Set after construction, as runit's status fills it in: the table
    # (which reads the attribute) shows the same spelling as --json.
    later = Status("s", "b", "started")
    later.last_exit = text
    assert later.last_exit == want


@pytest.mark.parametrize("text, kind", [
    ("respawned more than 2 times within 1min (last: exit 3)", base.DOWN_GAVE_UP),
    ('respawned "/bin/x" too many times (3 in 12s), giving up', base.DOWN_GAVE_UP),
    ("stop status: exit 78", base.DOWN_STOP_STATUS),
    ("not respawned: exit 0 (respawn_on=failure)", base.DOWN_NOT_RESPAWNED),
    ("watchdog: no WATCHDOG=1 within 5s, 3 times", base.DOWN_WATCHDOG),
    ("the moon was full", base.DOWN_OTHER), ("", None), (None, None),
])
def test_the_kind_of_a_down_reason_is_read_from_its_words(text, kind):
    assert base.down_kind(text) == kind
    s = Status("s", "b", "stopped")
    s.set_down_reason(text)
    assert (s.down_reason, s.failed) == (kind, kind not in (None, base.DOWN_NOT_RESPAWNED))


def test_health_is_pending_until_the_current_daemons_first_check():
    assert base.health_of("failing", 100.0, 150.0) == "pending"   # its predecessor's result
    assert base.health_of("failing", 151.0, 150.0) == "failing"
    assert base.health_of(None, None, 150.0) == "pending"
    assert base.health_of(None, None, None) is None
    assert base.health_of("hidden", 100.0, 150.0) == "hidden"
    assert base.health_of("ok", None, 150.0) == "ok"


def test_json_fields_are_the_same_for_every_backend():
    d = Status("s", "runit", "started", pid=5, uptime=10.0).as_dict()
    for k in Status.FIELDS:
        assert k in d
    assert abs(d["started_at"] - (time.time() - 10.0)) < 2


# -- runit: the files its ./finish, giveup and health watcher leave ---------------

TAI = 4611686018427387914


def runsv_status(svdir, since, pid, state=1, want=b"u"):
    data = struct.pack(">QL", int(since) + TAI, int((since % 1) * 1e9)) + struct.pack("<L", pid) \
        + b"\0" + want + b"\0" + bytes([state])
    os.makedirs(os.path.join(svdir, "supervise"), exist_ok=True)
    with open(os.path.join(svdir, "supervise", "status"), "wb") as f:
        f.write(data)


def put(svdir, name, text):
    os.makedirs(os.path.join(svdir, "state"), exist_ok=True)
    with open(os.path.join(svdir, "state", name), "w") as f:
        f.write(text)


def test_runit_facts_health_pending_for_a_new_daemon(tmp_path):
    d = str(tmp_path / "svc")
    os.makedirs(os.path.join(d, "health"))
    now = time.time()
    runsv_status(d, now - 1, os.getpid())
    put(d, "health", "failing %.3f healthcheck failed (exit 1)\n" % (now - 1.5))
    put(d, "last_exit", "signal 15\n")
    put(d, "respawn", "0 1 1\n")
    put(d, "health_runs", "4\n")
    put(d, "health_failures", "1\n")
    f = facts.Facts(d)
    assert f.health_now() == "pending"
    v = f.metric_values()
    assert v["up"] == 1 and v["restarts"] == 1 and v["health_runs"] == 4
    assert v["health"] == "pending" and v["failed"] == 0
    assert abs(v["start_time"] - (now - 1)) < 0.01
    put(d, "health", "ok %.3f healthcheck passed\n" % (now - 0.5))
    assert facts.Facts(d).health_now() == "ok"


def test_runit_facts_given_up_and_not_respawned(tmp_path):
    d = str(tmp_path / "svc")
    runsv_status(d, time.time() - 5, 0, state=0, want=b"d")
    put(d, "failed", "respawned more than 2 times within 1min (last: exit 3)\n")
    f = facts.Facts(d)
    assert f.failed and f.metric_values()["up"] == 0 and f.metric_values()["failed"] == 1
    assert f.health_now() is None          # no health watcher
    assert f.metric_values()["health_runs"] is None
    put(d, "failed", "not respawned: exit 0 (respawn_on=failure)\n")
    assert not facts.Facts(d).failed


# -- native: options/SVC ------------------------------------------------------------

def test_native_status_reads_the_keys_of_base(tmp_path, monkeypatch):
    from openrc_sv.backends import native
    from openrc_sv.rcstate import ServiceState
    monkeypatch.setenv("RC_SVCDIR", str(tmp_path))
    for sub in ("options", "started", "failed"):
        (tmp_path / sub).mkdir()
    st = ServiceState("svc")
    st.set_many({"last_exit": "signal KILL", "healthcheck": "pending", "health_runs": "3",
                 "health_failures": "1", "restarts": "2",
                 "down_reason": "stop status: exit 78"})
    s = native.state_status("svc")
    assert s.state == "stopped" and s.last_exit == "signal KILL" and s.health == "pending"
    assert (s.health_runs, s.health_failures, s.watchdog_misses) == (3, 1, None)
    assert (s.down_reason, s.down_detail) == ("stop-status", "stop status: exit 78")
    assert s.failed
