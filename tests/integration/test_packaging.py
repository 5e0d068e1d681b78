"""The wheel built from pyproject.toml carries what the packages install.

Builds the wheel the way a packager does (pip's PEP 517 front end, the
build requirements from the configured local index: this works offline)
and checks its file list: the code, the runscript plugin and the compat
shim as real files (openrc_sv/data/openrc-sv.sh and openrc-sv-compat.sh
are symlinks in the tree), the man pages and
the fork server's init script as data files under share/.
"""

import os
import shutil
import stat
import subprocess
import sys
import zipfile

import pytest

pytestmark = pytest.mark.integration

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    # A copy, so that setuptools' in-tree build/ and egg-info neither pollute
    # the work tree nor feed stale files into the wheel.  Symlinks stay links:
    # the plugin's relative link must resolve inside the copy.
    src = str(tmp_path_factory.mktemp("src") / "openrc-sv")
    shutil.copytree(ROOT, src, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", "bench"))
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                        "-w", str(out), src],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    wheels = [p for p in os.listdir(out) if p.endswith(".whl")]
    assert len(wheels) == 1, wheels
    with zipfile.ZipFile(os.path.join(out, wheels[0])) as z:
        yield z


def _repo_bytes(rel):
    with open(os.path.join(ROOT, rel), "rb") as f:
        return f.read()


def _data(z, rel):
    (name,) = [n for n in z.namelist() if n.split("/", 1)[0].endswith(".data")
               and n.split("/", 1)[1] == "data/" + rel]
    return name


@pytest.mark.parametrize("name", ["openrc-sv.sh", "openrc-sv-compat.sh"])
def test_the_plugin_and_the_shim_are_real_files_with_the_helpers_text(wheel, name):
    info = wheel.getinfo("openrc_sv/data/" + name)
    assert not stat.S_ISLNK(info.external_attr >> 16)
    assert wheel.read(info) == _repo_bytes("init.d-helpers/" + name)


@pytest.mark.parametrize("rel", ["openrc_sv/data/openrc-sv-exec",
                                 "openrc_sv/data/supervise-daemon",
                                 "openrc_sv/supervise_daemon.py",
                                 "openrc_sv/backends/runit/templates/run"])
def test_code_and_package_data(wheel, rel):
    assert wheel.read(rel) == _repo_bytes(rel)


@pytest.mark.parametrize("page", sorted(os.listdir(os.path.join(ROOT, "man"))))
def test_every_man_page_is_installed_under_share_man(wheel, page):
    name = _data(wheel, "share/man/man%s/%s" % (page.rsplit(".", 1)[1], page))
    assert wheel.read(name) == _repo_bytes("man/" + page)


def test_the_fork_server_init_script(wheel):
    name = _data(wheel, "share/openrc-sv/init.d/openrc-sv-forkserver")
    assert wheel.read(name) == _repo_bytes("init.d-helpers/openrc-sv-forkserver")


def test_the_commands(wheel):
    (ep,) = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    text = wheel.read(ep).decode()
    for cmd in ("supervise-daemon", "openrc-sv", "openrc-sv-forkserver"):
        assert "\n%s = " % cmd in text
