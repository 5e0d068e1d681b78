"""StopSchedule, driven by hand: signals go to a list, the clock is a number."""

from openrc_sv.stopper import StopSchedule, run_blocking


def sched(steps, group=False):
    sent = []
    s = StopSchedule(steps, 42, group, send=sent.append)
    return s, sent


def quiet(*_):
    pass


def test_signals_up_to_each_timeout_then_kill_when_it_runs_out():
    s, sent = sched([("signal", 15), ("timeout", 2000), ("signal", 9), ("timeout", 1000)])
    s.begin(10.0, quiet)
    assert sent == [15] and s.deadline == 12.0
    s.advance(12.0, quiet)
    assert sent == [15, 9] and s.deadline == 13.0
    s.advance(13.0, quiet)
    assert sent == [15, 9, 9] and s.deadline is None      # a stop must stop


def test_forever_repeats_what_follows_it():
    s, sent = sched([("signal", 15), ("timeout", 1000), ("forever", None),
                     ("signal", 9), ("timeout", 1000)])
    s.begin(0.0, quiet)
    for t in range(1, 6):
        s.advance(float(t), quiet)
        assert s.deadline == t + 1.0
    assert sent == [15, 9, 9, 9, 9, 9]


def test_forever_last_waits_for_the_exit_without_killing():
    s, sent = sched([("signal", 15), ("timeout", 1000), ("forever", None)])
    s.begin(0.0, quiet)
    s.advance(1.0, quiet)
    assert sent == [15] and s.deadline is None


def test_without_send_a_group_is_signalled_through_kill(monkeypatch):
    import openrc_sv.stopper as stopper
    seen = []
    monkeypatch.setattr(stopper.os, "kill", lambda pid, sig: seen.append((pid, sig)))
    s = StopSchedule([("signal", 15), ("timeout", 1000)], 42, group=True)
    s.begin(0.0, quiet)
    assert seen == [(-42, 15)]


def test_run_blocking_returns_at_once_for_a_process_already_gone():
    sent = []
    assert run_blocking([("signal", 15), ("timeout", 5000)], 2 ** 22 + 7, lambda: False,
                        send=sent.append) is True
    assert sent == []


def test_run_blocking_stops_a_process_that_exits_on_term():
    alive = [True]

    def send(sig):
        if sig == 15:
            alive[0] = False
    assert run_blocking([("signal", 15), ("timeout", 5000)], 2 ** 22 + 7, lambda: alive[0],
                        send=send) is True
