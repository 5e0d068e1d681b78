"""rcstate.libexecdir(): OpenRC's helper directory, wherever the build put it."""

import os

import pytest

from openrc_sv import rcstate


@pytest.fixture
def fs(tmp_path, monkeypatch):
    """The three layouts under tmp_path, and a stand-in openrc-run there."""
    layouts = tuple(str(tmp_path) + d for d in rcstate.LIBEXEC_LAYOUTS)
    binary = tmp_path / "openrc-run"
    monkeypatch.setattr(rcstate, "LIBEXEC_LAYOUTS", layouts)
    monkeypatch.setattr(rcstate, "_OPENRC_RUN", (str(binary),))

    class FS:
        root = str(tmp_path)

        def tree(self, d, version=False):
            os.makedirs(self.root + d + "/sh", exist_ok=True)
            open(self.root + d + "/sh/openrc-run.sh", "w").close()
            if version:
                with open(self.root + d + "/version", "w") as f:
                    f.write("0.45.2\n")
            return self.root + d

        def compiled(self, d):
            # What a linker leaves: other strings around it, NUL-separated.
            binary.write_bytes(b"\x7fELF\0/run/openrc/openrc-run.sh\0" + (self.root + d).encode()
                               + b"/sh/openrc-run.sh\0%s: exec `%s'\0")

    return FS()


def test_rc_libexecdir_as_openrc_run_exports_it_wins(fs):
    fs.tree("/lib/rc")
    assert rcstate.libexecdir({"RC_LIBEXECDIR": "/opt/rc"}) == "/opt/rc"


@pytest.mark.parametrize("layout", ["/lib/rc", "/usr/lib/rc", "/usr/libexec/rc"])
def test_the_one_tree_there_is(fs, layout):
    fs.compiled("/somewhere/else")       # not even read
    d = fs.tree(layout)
    assert rcstate.libexecdir({}) == d


def test_a_leftover_directory_is_not_a_tree(fs):
    # An upgrade moved OpenRC to /usr/libexec/rc; /lib/rc kept only what
    # no package owned (our own sbin link, a cache).
    os.makedirs(fs.root + "/lib/rc/sbin")
    os.makedirs(fs.root + "/lib/rc/sh")
    assert rcstate.libexecdir({}) == fs.tree("/usr/libexec/rc")


@pytest.mark.parametrize("compiled", ["/lib/rc", "/usr/lib/rc", "/usr/libexec/rc"])
def test_several_trees_openrc_run_decides(fs, compiled):
    for d in ("/lib/rc", "/usr/lib/rc", "/usr/libexec/rc"):
        fs.tree(d, version=True)
    fs.compiled(compiled)
    # "/usr/lib/rc/sh/openrc-run.sh" ends with "/lib/rc/sh/openrc-run.sh":
    # the whole path is read, never a suffix of it.
    assert rcstate.libexecdir({}) == fs.root + compiled


def test_a_custom_prefix_openrc_run_was_built_for(fs):
    fs.tree("/lib/rc")
    fs.tree("/usr/libexec/rc")
    assert rcstate.libexecdir({}) != fs.root + "/opt/openrc/libexec/rc"
    fs.tree("/opt/openrc/libexec/rc")
    fs.compiled("/opt/openrc/libexec/rc")
    assert rcstate.libexecdir({}) == fs.root + "/opt/openrc/libexec/rc"


def test_without_openrc_run_the_tree_with_a_version_file_then_the_newest(fs):
    fs.tree("/lib/rc", version=True)
    fs.tree("/usr/libexec/rc")
    assert rcstate.libexecdir({}) == fs.root + "/lib/rc"
    fs.tree("/usr/libexec/rc", version=True)
    assert rcstate.libexecdir({}) == fs.root + "/usr/libexec/rc"


def test_openrc_run_naming_a_directory_that_is_no_tree_is_not_believed(fs):
    fs.tree("/lib/rc")
    fs.tree("/usr/libexec/rc", version=True)
    fs.compiled("/gone/rc")
    assert rcstate.libexecdir({}) == fs.root + "/usr/libexec/rc"


def test_nothing_installed_names_upstreams_default(fs):
    assert rcstate.libexecdir({}) == fs.root + "/usr/libexec/rc"


@pytest.mark.skipif(not os.path.exists("/sbin/openrc-run"), reason="OpenRC not installed")
def test_the_real_openrc_run_names_its_own_tree():
    d = rcstate.compiled_libexecdir()
    assert d and os.path.isfile(os.path.join(d, "sh", "openrc-run.sh"))
