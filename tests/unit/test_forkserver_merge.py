"""openrc-sv-forkserver --merge-pages (forkserver_merge): which mappings are
marked, that the marks are made, and that KSM is never switched on by us.
No root needed."""

import os
import subprocess
import sys

import pytest

from openrc_sv import forkserver_merge as merge

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

MAPS = """\
55d0c0000000-55d0c0001000 r--p 00000000 08:01 123   /usr/bin/python3.11
55d0c0300000-55d0c0340000 rw-p 00300000 08:01 123   /usr/bin/python3.11
55d0c1000000-55d0c1200000 rw-p 00000000 00:00 0     [heap]
7f0000000000-7f0000040000 rw-p 00000000 00:00 0
7f0000040000-7f0000041000 rw-s 00000000 00:05 77    /dev/zero (deleted)
7f0000050000-7f0000051000 ---p 00000000 00:00 0
7f0000060000-7f0000061000 r-xp 00000000 08:01 9     /usr/lib/libc.so.6
7ffc00000000-7ffc00021000 rw-p 00000000 00:00 0     [stack]
7ffc00100000-7ffc00104000 r--p 00000000 00:00 0     [vvar]
ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0 [vsyscall]
"""


def test_private_writable_mappings_are_the_ones_marked():
    assert merge._mergeable_ranges(MAPS) == [
        (0x55d0c0300000, 0x40000),      # the interpreter's data
        (0x55d0c1000000, 0x200000),     # [heap]
        (0x7f0000000000, 0x40000),      # an anonymous mapping (obmalloc arenas)
        (0x7ffc00000000, 0x21000),      # [stack]
    ]


MARK = r'''
from openrc_sv import forkserver_merge as merge
n = merge.mark_mergeable()
heap = False
name = None
for line in open("/proc/self/smaps"):
    first = line.split(None, 1)[0]
    if "-" in first and not first.endswith(":"):
        parts = line.split(None, 5)
        name = parts[5].strip() if len(parts) > 5 else ""
    elif first == "VmFlags:" and name == "[heap]":
        heap = "mg" in line.split()
print(n > 0, heap)
'''


def test_the_heap_is_marked_mergeable():
    if merge.ksm_run() is None:
        pytest.skip("this kernel has no same-page merging (CONFIG_KSM)")
    r = subprocess.run([sys.executable, "-c", MARK], capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=REPO), timeout=60)
    assert r.stdout == "True True\n", r.stderr


def test_ksm_off_is_said_once_and_never_switched_on(monkeypatch):
    said = []
    monkeypatch.setattr(merge, "ksm_run", lambda: "0")
    monkeypatch.setattr(merge, "mark_mergeable", lambda: 3)
    assert merge.enable(said.append) is True
    assert len(said) == 1 and "KSM is not running" in said[0] and "never switch it on" in said[0]


def test_no_ksm_in_the_kernel_carries_on(monkeypatch):
    said = []
    monkeypatch.setattr(merge, "ksm_run", lambda: None)
    assert merge.enable(said.append) is False
    assert len(said) == 1 and "no same-page merging" in said[0]


def test_a_kernel_that_refuses_the_advice_carries_on(monkeypatch):
    said = []

    def refuse():
        raise OSError(22, "the kernel cannot merge pages (no KSM)")
    monkeypatch.setattr(merge, "ksm_run", lambda: "1")
    monkeypatch.setattr(merge, "mark_mergeable", refuse)
    assert merge.enable(said.append) is False
    assert said == ["--merge-pages: the kernel cannot merge pages (no KSM); carrying on without"]


def test_running_ksm_is_not_mentioned(monkeypatch):
    said = []
    monkeypatch.setattr(merge, "ksm_run", lambda: "1")
    monkeypatch.setattr(merge, "mark_mergeable", lambda: 3)
    assert merge.enable(said.append) is True and said == []
