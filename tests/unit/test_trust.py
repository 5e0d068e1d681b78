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
