"""trust.untrusted_part follows symbolic links the way the kernel does and
checks every directory on the way to their targets, not only the targets.

The trees are the test user's own (owners= names it), so this runs without
root; "another user can change it" is a directory writable by all
(0777, not sticky), which no chown is needed for."""

import os

from openrc_sv import trust

MINE = (0, os.geteuid())


def tree(tmp_path):
    """tmp/open (0777, anyone may rename what is in it) holding a/b; and
    tmp/safe/a/b, all 0755."""
    base = tmp_path / "t"
    for d in ("open/a/b", "safe/a/b"):
        (base / d).mkdir(parents=True)
    for d in ("", "open/a", "open/a/b", "safe", "safe/a", "safe/a/b"):
        os.chmod(str(base / d), 0o755)
    os.chmod(str(base / "open"), 0o777)
    return base


def test_a_link_into_a_directory_others_can_change_names_that_directory(tmp_path):
    """The issue: /var/log/x -> /home/nobody/a/b.  b and a are fine, but
    whoever can change /home/nobody can rename a and put their own in."""
    base = tree(tmp_path)
    os.symlink(str(base / "open" / "a" / "b"), str(base / "link"))
    assert trust.untrusted_part(str(base / "link"), MINE) == str(base / "open")
    assert trust.untrusted_part(str(base / "link" / "new"), MINE) == str(base / "open")


def test_a_relative_link_is_resolved_from_its_own_directory(tmp_path):
    base = tree(tmp_path)
    os.symlink("open/a/b", str(base / "link"))
    assert trust.untrusted_part(str(base / "link"), MINE) == str(base / "open")
    os.symlink("../safe/a/b", str(base / "safe" / "up"))
    assert trust.untrusted_part(str(base / "safe" / "up"), MINE) is None


def test_a_link_into_directories_only_the_owners_can_change_passes(tmp_path):
    base = tree(tmp_path)
    os.symlink(str(base / "safe" / "a" / "b"), str(base / "link"))
    assert trust.untrusted_part(str(base / "link"), MINE) is None
    assert trust.untrusted_part(str(base / "link" / "not" / "yet"), MINE) is None


def test_every_link_of_a_chain_is_on_the_way(tmp_path):
    """link -> open/hop -> safe/a/b: the end is safe, but open holds a link
    on the way, which anyone may replace."""
    base = tree(tmp_path)
    os.symlink(str(base / "safe" / "a" / "b"), str(base / "open" / "hop"))
    os.symlink(str(base / "open" / "hop"), str(base / "link"))
    assert trust.untrusted_part(str(base / "link"), MINE) == str(base / "open")


def test_dot_dot_after_a_link_goes_up_from_where_the_link_led(tmp_path):
    """As the kernel resolves it: link/.. is the target's parent, not the
    directory holding the link (os.path.normpath would say the latter)."""
    base = tree(tmp_path)
    os.symlink(str(base / "open" / "a"), str(base / "link"))
    assert trust.untrusted_part(str(base / "link" / ".." / "x"), MINE) == str(base / "open")
    os.symlink(str(base / "safe" / "a" / "b"), str(base / "good"))
    assert trust.untrusted_part(str(base / "good" / ".."), MINE) is None


def test_a_dangling_link_into_a_directory_others_can_change_is_named(tmp_path):
    base = tree(tmp_path)
    os.symlink(str(base / "open" / "gone" / "x"), str(base / "link"))
    assert trust.untrusted_part(str(base / "link"), MINE) == str(base / "open")
    os.symlink(str(base / "safe" / "gone"), str(base / "later"))
    assert trust.untrusted_part(str(base / "later"), MINE) is None


def test_a_link_loop_is_named_not_followed_for_ever(tmp_path):
    base = tree(tmp_path)
    os.symlink(str(base / "b"), str(base / "a"))
    os.symlink(str(base / "a"), str(base / "b"))
    assert trust.untrusted_part(str(base / "a"), MINE) in (str(base / "a"), str(base / "b"))


def test_a_file_on_the_way_is_named(tmp_path):
    base = tree(tmp_path)
    (base / "safe" / "f").write_text("")
    os.symlink(str(base / "safe" / "f"), str(base / "link"))
    assert trust.untrusted_part(str(base / "link" / "x"), MINE) == str(base / "safe" / "f")


def test_a_directory_others_can_change_below_the_link_is_still_named(tmp_path):
    base = tree(tmp_path)
    os.chmod(str(base / "safe" / "a" / "b"), 0o777)
    os.symlink(str(base / "safe" / "a"), str(base / "link"))
    assert trust.untrusted_part(str(base / "link" / "b" / "c"), MINE) == \
        str(base / "safe" / "a" / "b")


def test_a_relative_path_is_taken_from_the_working_directory(tmp_path, monkeypatch):
    base = tree(tmp_path)
    monkeypatch.chdir(str(base))
    assert trust.untrusted_part("open/a", MINE) == str(base / "open")
    assert trust.untrusted_part("safe/a", MINE) is None
