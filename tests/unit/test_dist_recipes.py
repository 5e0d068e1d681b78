"""dist/: the Alpine APKBUILD and the Gentoo ebuild.

What Debian offers to check them without abuild or portage: the shell's
own syntax check (`sh -n` for the APKBUILD, which abuild sources with a
POSIX shell; `bash -n` for the ebuild, which is bash: PYTHON_COMPAT is an
array) and that every file of this repository they name exists.
"""

import glob
import os
import re
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DIST = os.path.join(ROOT, "dist")
APKBUILD = os.path.join(DIST, "APKBUILD")
EBUILD = os.path.join(DIST, "gentoo", "openrc-sv-0.1.0.ebuild")
RECIPES = [APKBUILD, EBUILD]

# Paths inside the source tree start with one of these directories.
TREE_PATH = re.compile(r"(?<![\w/$.-])((?:init\.d-helpers|man|dist|tests|openrc_sv)/[\w.*/-]*)")


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def named_tree_paths(text):
    # Comment lines are left out: they tell how to make the release tarball.
    code = "\n".join(l for l in text.splitlines() if not l.lstrip().startswith("#"))
    return sorted(set(p.rstrip("/") for p in TREE_PATH.findall(code)))


def shell_var(text, name):
    m = re.search(r"^%s=(?:\"([^\"]*)\"|(\S*))" % name, text, re.M)
    return None if m is None else m.group(1) if m.group(1) is not None else m.group(2)


@pytest.mark.parametrize("shell,path", [
    ("sh", APKBUILD),
    ("sh", os.path.join(DIST, "openrc-sv.post-install")),
    ("bash", EBUILD),
])
def test_syntax(shell, path):
    r = subprocess.run([shell, "-n", path], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("recipe", RECIPES, ids=["APKBUILD", "ebuild"])
def test_every_repo_file_named_exists(recipe):
    paths = named_tree_paths(read(recipe))
    assert paths, "the recipe names no file of the tree?"
    for p in paths:
        assert glob.glob(os.path.join(ROOT, p)), "%s names %s, which is not in the tree" % (
            os.path.relpath(recipe, ROOT), p)


@pytest.mark.parametrize("recipe", RECIPES, ids=["APKBUILD", "ebuild"])
def test_both_install_the_fork_server_script_and_every_man_page(recipe):
    paths = named_tree_paths(read(recipe))
    assert "init.d-helpers/openrc-sv-forkserver" in paths
    assert "dist/openrc-sv-forkserver.confd" in paths
    covered = set()
    for p in paths:
        covered.update(glob.glob(os.path.join(ROOT, p)))
    for page in glob.glob(os.path.join(ROOT, "man", "*.[0-9]")):
        assert page in covered, "%s does not install %s" % (recipe, page)


def test_apkbuild_shape():
    text = read(APKBUILD)
    assert shell_var(text, "pkgname") == "openrc-sv"
    assert set(shell_var(text, "subpackages").split()) == {"$pkgname-doc", "$pkgname-openrc"}
    assert "gpep517 build-wheel" in text and "python3 -m installer" in text
    for local in shell_var(text, "install").split():
        assert os.path.exists(os.path.join(DIST, local.replace("$pkgname", "openrc-sv")))


def test_ebuild_shape():
    text = read(EBUILD)
    assert re.search(r"^inherit .*\bdistutils-r1\b", text, re.M)
    assert "newinitd " in text and "newconfd " in text and "doman " in text


@pytest.mark.parametrize("path", [APKBUILD, EBUILD, os.path.join(DIST, "openrc-sv.post-install")])
def test_setup_is_never_run_by_the_package(path):
    # `openrc-sv setup` changes how OpenRC runs every service: only the
    # administrator runs it.  The recipes may only mention it in a message.
    for line in read(path).splitlines():
        code = line.split("#", 1)[0]
        if "openrc-sv setup" in code:
            assert re.match(r"\s*(elog|einfo|echo|\*)\b|\s*\*", line), line


@pytest.mark.skipif(not shutil.which("shellcheck"), reason="shellcheck is not installed")
def test_shellcheck_apkbuild():
    r = subprocess.run(["shellcheck", "-s", "sh", "-e", "SC2034,SC2154,SC2164", APKBUILD],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout
