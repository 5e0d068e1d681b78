"""openrc_sv.useropen: the daemon's files are opened as the daemon's user.

Without root only the in-process open can be tested (who=None or a root
`who`: what a daemon without command_user gets); the fork that becomes the
daemon's user before it opens is tested when the suite runs as root.
"""

import os
import pathlib
import shutil
import stat
import tempfile

import pytest

from openrc_sv import useropen
from openrc_sv.useropen import READ, WRITE, Who

as_root = pytest.mark.skipif(os.geteuid() != 0, reason="becoming another user needs root")
NOBODY = (65534, 65534, "nobody")


def test_a_new_file_is_created_appending_with_mode_0600(tmp_path):
    path = tmp_path / "out.log"
    fd = useropen.open_as(None, str(path), WRITE)
    try:
        os.write(fd, b"one\n")
        assert os.get_blocking(fd)       # the daemon gets a blocking stream
    finally:
        os.close(fd)
    fd = useropen.open_as(None, str(path), WRITE)
    os.write(fd, b"two\n")
    os.close(fd)
    assert path.read_text() == "one\ntwo\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_fifo_is_refused_for_writing_without_hanging(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(OSError) as e:
        useropen.open_as(None, str(fifo), WRITE)
    assert e.value.strerror == "is a FIFO" and e.value.filename == str(fifo)


def test_a_fifo_with_a_reader_is_refused_for_writing_too(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        with pytest.raises(OSError) as e:
            useropen.open_as(None, str(fifo), WRITE)
        assert e.value.strerror == "is a FIFO"
    finally:
        os.close(reader)


def test_a_fifo_may_be_read_from(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    fd = useropen.open_as(None, str(fifo), READ)     # no writer: must not block
    os.close(fd)


def test_a_directory_is_named_as_one(tmp_path):
    with pytest.raises(OSError) as e:
        useropen.open_as(None, str(tmp_path), READ)
    assert e.value.strerror == "is a directory"


def test_a_character_device_is_fine(tmp_path):
    fd = useropen.open_as(None, "/dev/null", WRITE)
    os.close(fd)


def test_who_without_user_or_chroot_opens_in_process():
    assert Who().is_root and Who(group=0).is_root
    assert not Who(user=NOBODY).is_root
    assert not Who(chroot="/jail").is_root
    assert not Who(group=100).is_root


# -- as the daemon's user (root only) ---------------------------------------------------

@pytest.fixture
def top():
    """A directory everyone can traverse (pytest's tmp_path is root's 0700)."""
    d = tempfile.mkdtemp(prefix="useropen-")
    os.chmod(d, 0o755)
    yield pathlib.Path(d)
    shutil.rmtree(d)


@pytest.fixture
def nobodys_dir(top):
    d = top / "nobody"
    d.mkdir()
    os.chown(d, *NOBODY[:2])
    return d


@as_root
def test_the_file_is_created_by_the_daemons_user(nobodys_dir):
    path = nobodys_dir / "out.log"
    fd = useropen.open_as(Who(user=NOBODY), str(path), WRITE)
    os.close(fd)
    st = path.stat()
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (65534, 65534, 0o600)


@as_root
def test_a_symlink_to_where_the_user_cannot_create_creates_nothing(nobodys_dir, top):
    root_only = top / "root-only"
    root_only.mkdir(mode=0o755)
    target = root_only / "ld.so.preload"
    (nobodys_dir / "out.log").symlink_to(target)
    with pytest.raises(OSError) as e:
        useropen.open_as(Who(user=NOBODY), str(nobodys_dir / "out.log"), WRITE)
    assert e.value.strerror == "Permission denied"
    assert not target.exists()


@as_root
def test_a_symlink_to_roots_file_neither_appends_nor_reads(nobodys_dir, top):
    secret = top / "secret"
    secret.write_text("SECRET\n")
    os.chmod(secret, 0o600)
    (nobodys_dir / "link").symlink_to(secret)
    for flags in (WRITE, READ):
        with pytest.raises(OSError) as e:
            useropen.open_as(Who(user=NOBODY), str(nobodys_dir / "link"), flags)
        assert e.value.strerror == "Permission denied"
    assert secret.read_text() == "SECRET\n"
    st = secret.stat()
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (0, 0o600)


@as_root
def test_a_relative_path_starts_from_the_daemons_directory(nobodys_dir):
    fd = useropen.open_as(Who(user=NOBODY, chdir=str(nobodys_dir)), "rel.log", WRITE)
    os.close(fd)
    assert (nobodys_dir / "rel.log").stat().st_uid == 65534


@as_root
def test_the_fifo_refusal_reaches_the_caller_from_the_child(nobodys_dir):
    fifo = nobodys_dir / "fifo"
    os.mkfifo(fifo)
    os.chown(fifo, *NOBODY[:2])      # nobody's own FIFO: only its type is wrong
    with pytest.raises(OSError) as e:
        useropen.open_as(Who(user=NOBODY), str(fifo), WRITE)
    assert e.value.strerror == "is a FIFO" and e.value.filename == str(fifo)
