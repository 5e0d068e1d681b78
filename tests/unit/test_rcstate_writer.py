"""rcstate.RetryingWriter writes only what changed, in one call, and never
trusts a value it cannot know is still there."""

import errno
import os
import shutil

from openrc_sv.rcstate import RetryingWriter, ServiceState


class Recorder:
    """The writer's write(): records each call's keys, writes through, and
    fails with ENOSPC while `full`."""

    def __init__(self, state):
        self.state = state
        self.calls = []
        self.full = False

    def __call__(self, values):
        self.calls.append(sorted(values))
        if self.full:
            raise OSError(errno.ENOSPC, "No space left on device", self.state.path("options"))
        self.state.set_many(values)


def make(tmp_path):
    st = ServiceState("svc", root=str(tmp_path))
    rec = Recorder(st)
    logged = []
    clock = [100.0]
    w = RetryingWriter(st, lambda: clock[0], lambda prio, msg: logged.append(msg), rec)
    return st, w, rec, logged


def options(st):
    return st.path("options", st.name)


def as_if_written_long_ago(w, st):
    """Make options/SVC's mtime an old one, as the writer saw it after its
    last write: a change now then shows whatever the clock's granularity."""
    os.utime(options(st), ns=(10**9, 10**9))
    w._dir_seen = w._dir_identity()


RESPAWN = {"child_pid": 10, "start_time": "2026-01-01 00:00:00", "start_count": 1,
           "child_ident": "10:5", "restarts": 0, "last_exit": "exited 1"}


def test_the_first_write_writes_everything_in_one_call(tmp_path):
    st, w, rec, _ = make(tmp_path)
    w.set_many(RESPAWN)
    assert rec.calls == [sorted(RESPAWN)]
    assert {k: st.get(k) for k in RESPAWN} == {k: str(v) for k, v in RESPAWN.items()}


def test_a_respawn_writes_only_what_changed_in_one_call(tmp_path):
    st, w, rec, _ = make(tmp_path)
    w.set_many(RESPAWN)
    w.set_many(dict(RESPAWN, child_pid=11, child_ident="11:6", restarts=1))
    assert rec.calls[1] == ["child_ident", "child_pid", "restarts"]
    assert st.get("child_pid") == "11" and st.get("last_exit") == "exited 1"


def test_nothing_changed_writes_nothing(tmp_path):
    st, w, rec, _ = make(tmp_path)
    w.set_many(RESPAWN)
    w.set_many(RESPAWN)
    w.set("healthcheck", "ok")
    w.set("healthcheck", "ok")
    assert rec.calls == [sorted(RESPAWN), ["healthcheck"]]


def test_values_compare_as_written_text(tmp_path):
    st, w, rec, _ = make(tmp_path)
    w.set("restarts", 3)
    w.set("restarts", "3")
    assert len(rec.calls) == 1


def test_a_removal_is_a_change_and_is_remembered(tmp_path):
    st, w, rec, _ = make(tmp_path)
    w.set("last_exit", "exited 1")
    w.set("last_exit", None)
    assert st.get("last_exit") is None
    w.set("last_exit", None)
    assert rec.calls == [["last_exit"], ["last_exit"]]


def test_zap_removing_options_makes_every_value_written_again(tmp_path):
    st, w, rec, _ = make(tmp_path)
    w.set_many(RESPAWN)
    as_if_written_long_ago(w, st)
    shutil.rmtree(options(st))          # rc-service SVC zap, a supervisor giving up
    w.set_many(dict(RESPAWN, child_pid=11))
    assert rec.calls[1] == sorted(RESPAWN)
    assert st.get("start_time") == RESPAWN["start_time"] and st.get("child_pid") == "11"


def test_one_file_removed_behind_its_back_is_written_again(tmp_path):
    st, w, rec, _ = make(tmp_path)
    w.set_many(RESPAWN)
    as_if_written_long_ago(w, st)
    os.unlink(os.path.join(options(st), "last_exit"))
    w.set_many(RESPAWN)
    assert st.get("last_exit") == "exited 1"


def test_our_own_removal_of_options_is_noticed_too(tmp_path):
    st, w, rec, _ = make(tmp_path)
    w.set_many(RESPAWN)
    as_if_written_long_ago(w, st)
    st.mark("stopped")
    w.set_many(RESPAWN)
    assert st.get("child_pid") == "10"


def test_a_value_changed_in_place_is_written_when_it_next_changes(tmp_path):
    st, w, rec, _ = make(tmp_path)
    w.set_many(RESPAWN)
    with open(os.path.join(options(st), "child_pid"), "r+") as f:   # the directory is untouched
        f.write("99")
    w.set("child_pid", 12)
    assert st.get("child_pid") == "12"


def test_a_failed_write_forgets_its_values_and_retries_the_newest(tmp_path):
    st, w, rec, logged = make(tmp_path)
    w.set_many(RESPAWN)
    rec.full = True
    w.set_many(dict(RESPAWN, child_pid=11))
    assert w.retry_at == 101.0 and len(logged) == 1
    assert w.get("child_pid") == "11"
    # Back to the value last written: the failed write may have left
    # anything there, so it is written, not skipped.
    w.set_many(dict(RESPAWN, child_pid=10))
    assert rec.calls[-1] == ["child_pid"]
    rec.full = False
    assert w.flush()
    assert st.get("child_pid") == "10" and w.retry_at is None
    assert logged[-1] == "the service state is written again"


def test_a_partly_failed_batch_is_written_whole_next_time(tmp_path):
    st, w, rec, _ = make(tmp_path)
    w.set_many(RESPAWN)

    def half(values):
        rec.calls.append(sorted(values))
        for k in sorted(values)[:1]:
            st.set(k, values[k])
        raise OSError(errno.ENOSPC, "No space left on device")
    w.write = half
    w.set_many(dict(RESPAWN, child_pid=11, restarts=1))
    w.write = rec
    w.set_many(dict(RESPAWN, child_pid=11, restarts=1))
    assert set(rec.calls[-1]) >= {"child_pid", "restarts"}
    assert st.get("child_pid") == "11" and st.get("restarts") == "1"


# A crash loop: set_many(hold=True) within GAP of the last write waits for its end.

def test_held_values_wait_for_the_end_of_the_gap_then_go_in_one_call(tmp_path):
    st, w, rec, _ = make(tmp_path)
    w.set_many(RESPAWN, hold=True)                  # nothing written yet: at once
    assert len(rec.calls) == 1 and w.retry_at is None
    w.set_many(dict(RESPAWN, child_pid=11, child_ident="11:6", restarts=1), hold=True)
    w.set_many(dict(RESPAWN, child_pid=12, child_ident="12:7", restarts=2), hold=True)
    assert len(rec.calls) == 1 and st.get("child_pid") == "10"
    assert w.retry_at == 100.0 + w.GAP and w.get("child_pid") == "12"
    assert w.flush()                                # the loop, at retry_at
    assert rec.calls[1] == ["child_ident", "child_pid", "restarts"]
    assert (st.get("child_pid"), st.get("restarts")) == ("12", "2") and w.retry_at is None


def test_a_hold_after_the_gap_or_without_hold_writes_at_once(tmp_path):
    st, w, rec, _ = make(tmp_path)
    clock = [100.0]
    w.now = lambda: clock[0]
    w.set_many(RESPAWN)
    clock[0] += w.GAP
    w.set_many(dict(RESPAWN, child_pid=11), hold=True)
    assert st.get("child_pid") == "11"
    w.set_many(dict(RESPAWN, child_pid=12), hold=True)       # held ...
    w.set("healthcheck", "ok")                               # ... until a write that is not
    assert rec.calls[-1] == ["child_pid", "healthcheck"] and st.get("child_pid") == "12"


def test_a_failing_write_is_not_held_but_retried_as_before(tmp_path):
    st, w, rec, logged = make(tmp_path)
    w.set_many(RESPAWN)
    rec.full = True
    w.set_many(dict(RESPAWN, child_pid=11))
    assert w.retry_at == 101.0
    w.set_many(dict(RESPAWN, child_pid=12), hold=True)     # tried again, with the next write
    assert rec.calls[-1] == ["child_pid"] and w.retry_at == 102.0 and len(logged) == 1


def test_a_value_that_did_not_change_leaves_the_held_ones_held(tmp_path):
    st, w, rec, _ = make(tmp_path)
    w.set_many(dict(RESPAWN, healthcheck="pending"))
    w.set_many(dict(RESPAWN, child_pid=11), hold=True)
    w.set("healthcheck", "pending")         # a health check scheduled for the new daemon
    assert len(rec.calls) == 1 and w.retry_at == 100.0 + w.GAP
    w.set("healthcheck", "ok")
    assert rec.calls[-1] == ["child_pid", "healthcheck"] and w.retry_at is None


def test_held_values_already_there_are_not_written_again(tmp_path):
    st, w, rec, _ = make(tmp_path)
    w.set_many(RESPAWN)
    w.set_many(dict(RESPAWN, child_pid=11), hold=True)
    assert w.flush() and rec.calls[-1] == ["child_pid"]
    w.set_many(dict(RESPAWN, child_pid=11), hold=True)      # nothing new at all
    assert w.retry_at is not None
    assert w.flush() and len(rec.calls) == 2 and w.retry_at is None


def test_held_values_go_whole_into_an_options_dir_wiped_meanwhile(tmp_path):
    st, w, rec, _ = make(tmp_path)
    w.set_many(RESPAWN)
    as_if_written_long_ago(w, st)
    w.last_write = 100.0
    w.set_many(dict(RESPAWN, child_pid=11), hold=True)
    shutil.rmtree(options(st))          # rc-service SVC zap while it was held
    assert w.flush()
    assert rec.calls[-1] == sorted(RESPAWN)
    assert st.get("start_time") == RESPAWN["start_time"] and st.get("child_pid") == "11"
