import os

import pytest

from openrc_sv import trust
from openrc_sv.errors import UserError


def test_a_directory_another_user_can_change_is_named(tmp_path):
    d = tmp_path / "a" / "b"
    d.mkdir(parents=True)
    if os.geteuid() == 0:
        os.chown(str(tmp_path / "a"), 65534, 65534)
        assert trust.untrusted_part(str(d)) == str(tmp_path / "a")
    else:
        # Ours, not root's: the first part that is ours is named.
        assert trust.untrusted_part(str(d)) is not None
    with pytest.raises(UserError) as e:
        trust.require_root_only("runit_svdir_root", str(d), "runsv runs the scripts there")
    assert str(e.value).startswith("runit_svdir_root: %s: runsv runs the scripts there, and " % d)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs directories only root can change")
def test_root_only_directories_and_sticky_ancestors_pass(tmp_path):
    d = tmp_path / "x"
    d.mkdir(mode=0o755)
    os.chmod(str(tmp_path), 0o1777)             # sticky above, as /tmp: fine
    assert trust.untrusted_part(str(d)) is None
    assert trust.untrusted_part(str(d / "not" / "yet")) is None   # root will create it
    os.chmod(str(d), 0o775)                      # group-writable: not fine
    assert trust.untrusted_part(str(d)) == str(d)
    os.chmod(str(d), 0o1777)                     # sticky as the last part: not fine either
    assert trust.untrusted_part(str(d)) == str(d)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs a link only root owns")
def test_a_link_on_the_way_is_followed_and_both_must_be_roots(tmp_path):
    real = tmp_path / "real"
    real.mkdir(mode=0o755)
    os.chmod(str(tmp_path), 0o755)
    link = tmp_path / "link"
    os.symlink(str(real), str(link))
    assert trust.untrusted_part(str(link)) is None
    os.lchown(str(link), 65534, 65534)
    assert trust.untrusted_part(str(link)) == str(link)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs a directory of another user")
def test_a_users_directory_is_trusted_by_that_user_and_never_by_root(tmp_path):
    os.chmod(str(tmp_path), 0o755)
    d = tmp_path / "run" / "user" / "65534"
    d.mkdir(parents=True, mode=0o700)
    os.chown(str(d), 65534, 65534)
    assert trust.untrusted_part(str(d / "openrc"), (0, 65534)) is None
    assert trust.untrusted_part(str(d / "openrc"), (0,)) == str(d)
    assert trust.untrusted_part(str(d / "openrc"), (0, 1)) == str(d)     # another user's
    os.chmod(str(d), 0o1777)             # sticky is no excuse for the directory itself
    assert trust.untrusted_part(str(d), (0, 65534)) == str(d)


def test_trusted_owners_by_caller(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert trust.trusted_owners() == (0,)
    monkeypatch.setattr(os, "geteuid", lambda: 65534)
    assert trust.trusted_owners() == (0, 65534)
