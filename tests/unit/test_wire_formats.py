"""Round trips of the formats that cross a process boundary, each with one
home: the fork-server request (forkserver_wire), the re-exec hand-off
(handoff), the keys --start writes (statekeys) and the supervisor's own
record (records)."""

import random

import pytest

from openrc_sv import forkserver_wire, handoff, records, sd_args, statekeys

R = random.Random(20260408)
ALPHABET = "ab =|,:/\t\n'\"$é\udc80\udcff-x0"


def _word(r, allow_empty=True):
    n = r.randint(0 if allow_empty else 1, 12)
    return "".join(r.choice(ALPHABET) for _ in range(n))


def _request(r):
    argv = ["supervise-daemon"] + [_word(r) for _ in range(r.randint(0, 6))]
    env = {_word(r, False).replace("=", "_"): _word(r) for _ in range(r.randint(0, 5))}
    return (argv, env, "/" + _word(r), r.randint(0, 0o777),
            [_word(r, False) for _ in range(r.randint(0, 4))],
            ["/run/" + _word(r) for _ in range(r.randint(0, 3))])


@pytest.mark.parametrize("seed", range(200))
def test_fork_server_request_round_trips(seed):
    req = _request(random.Random(seed))
    assert forkserver_wire.decode(forkserver_wire.encode(*req)) == req


def test_fork_server_request_keeps_any_bytes():
    argv = ["supervise-daemon", "svc", "--start", "/bin/x", "--", "\udcff\udc80", ""]
    req = (argv, {"A": "b=c", "E": ""}, "/", 0o22, [], [])
    data = forkserver_wire.encode(*req)
    assert b"\xff\x80" in data
    assert forkserver_wire.decode(data) == req


@pytest.mark.parametrize("cut", [1, 3, 10])
def test_a_truncated_fork_server_request_is_refused(cut):
    data = forkserver_wire.encode(*_request(R))
    with pytest.raises(ValueError):
        forkserver_wire.decode(data[:-cut] if cut < len(data) else b"")


def test_a_fork_server_request_with_trailing_fields_is_refused():
    data = forkserver_wire.encode(["x"], {}, "/", 0, [], []) + b"\0extra"
    with pytest.raises(ValueError):
        forkserver_wire.decode(data)


@pytest.mark.parametrize("streams", ["", "f:3:/var/log/x", "l:4,5|odd:|", "n|n"])
def test_reexec_hand_off_round_trips(streams):
    spec = handoff.encode(4242, (7, 8), streams, 13)
    assert handoff.decode(spec) == (4242, (7, 8), streams, 13)


def test_reexec_hand_off_is_the_format_the_resuming_supervisor_reads():
    # daemonize.resume_supervisor splits on "|" into four fields.
    spec = handoff.encode(10, (3, 4), "s", 2)
    assert spec.split("|") == ["10", "3,4", "s", "2"]


@pytest.mark.parametrize("bad", ["", "1|2|3", "x|1,2|s|0", "1|1|s|0"])
def test_a_malformed_hand_off_is_refused(bad):
    with pytest.raises(ValueError):
        handoff.decode(bad)


@pytest.mark.parametrize("seed", range(50))
def test_start_keys_round_trip(seed):
    r = random.Random(seed)
    args = [_word(r).replace("\udc80", "").replace("\udcff", "") for _ in range(r.randint(0, 5))]
    argv = ["svc", "--start", "--respawn-delay", "%dms" % r.randint(0, 5000)]
    if r.random() < 0.5:
        argv += ["--retry", "TERM/%d/KILL/1" % r.randint(1, 9)]
    opts = sd_args.parse(argv + ["/bin/cmd", "--"] + args, {"RC_SVCNAME": "svc"})
    values = statekeys.start_values(opts, "/run/x.pid")
    exec_, got_argv, pidfile, retry = statekeys.read_start(values.get)
    assert (exec_, got_argv, pidfile, retry) == ("/bin/cmd", ["/bin/cmd"] + args, "/run/x.pid",
                                                 opts.retry_text)
    assert not set(values) & set(statekeys.SUPERVISOR_KEYS)


@pytest.mark.parametrize("seed", range(50))
def test_supervisor_record_round_trips(seed):
    r = random.Random(seed)
    ident = "%d:%d" % (r.randint(2, 1 << 22), r.randint(0, 1 << 40))
    argv = ["/bin/cmd"] + [_word(r) for _ in range(r.randint(0, 5))]
    data = records.encode_record(ident, "/run/p.pid", argv)
    assert records.decode_record(data) == (ident, "/run/p.pid", argv)


@pytest.mark.parametrize("bad", [b"", b"v0\x001:2\x00p\x00x", b"v1\x00nonsense\x00p\x00x", b"v1\x001:2"])
def test_a_record_that_is_not_ours_is_ignored(bad):
    assert records.decode_record(bad) is None


def test_a_record_is_read_only_when_it_is_a_private_file_of_ours(tmp_path):
    from openrc_sv.rcstate import ServiceState
    st = ServiceState("svc", root=str(tmp_path / "run/openrc"))
    records.write_record(st, "12:34", "/run/p.pid", ["/bin/cmd", "a b"])
    assert records.read_record(st) == ("12:34", "/run/p.pid", ["/bin/cmd", "a b"])
    path = records.record_path("svc", st.root)
    import os
    # root keeps records beside the service dir (out of rc-service zap's
    # reach); anyone else, in its own service dir (see records_dir).
    expected = "run/openrc-sv/services/svc" if os.geteuid() == 0 else "run/openrc/openrc-sv/services/svc"
    assert path == str(tmp_path / expected)
    os.chmod(path, 0o666)
    assert records.read_record(st) is None
    records.forget_record(st)
    assert not os.path.exists(path)
