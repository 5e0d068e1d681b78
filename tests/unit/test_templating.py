"""The quoting filters every backend's templates use."""

import subprocess

import jinja2
import pytest

from openrc_sv.backends import files, templating
from openrc_sv.backends.base import RenderedFile
from openrc_sv.errors import UserError

HOSTILE = ["", "plain", "two  spaces", "it's", 'say "hi"', "$HOME", "`id`", "$(id)", "a;b",
           "x > y", "new\nline", "back\\slash", "*", "~root", "-n", "tab\there", "\u00e9"]


def test_shellquote_round_trips_through_a_real_shell():
    script = "printf '%s\\0' " + templating.shelljoin(HOSTILE)
    out = subprocess.run(["sh", "-c", script], capture_output=True, check=True).stdout
    assert out.decode().split("\0")[:-1] == HOSTILE


@pytest.mark.parametrize("value", ['a"b', "a\\b", "a\nb", "a\rb"])
def test_monitquote_refuses_what_monit_strings_cannot_hold(value):
    with pytest.raises(UserError, match="monit"):
        templating.monitquote(value)


def test_monitquote_keeps_spaces_and_shell_characters():
    assert templating.monitquote("/run/a b;$x") == '"/run/a b;$x"'


def test_undefined_template_variables_are_errors(tmp_path):
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "t.j2").write_text("{{ missing }}")
    env = templating.environment(str(tmp_path))
    with pytest.raises(jinja2.UndefinedError):
        env.get_template("t.j2").render()


def test_files_are_written_whole_and_removed(tmp_path):
    target = tmp_path / "d" / "svc.monitrc"
    written = files.write([RenderedFile(str(target), "check\n", 0o600)])
    assert target.read_text() == "check\n" and oct(target.stat().st_mode & 0o777) == "0o600"
    assert sorted(p.name for p in target.parent.iterdir()) == ["svc.monitrc"]   # no temp left
    files.remove(written)
    assert not target.exists()
