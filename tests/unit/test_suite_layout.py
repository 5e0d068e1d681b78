"""The suite has no __init__.py files (rootdir-relative imports), so pytest
imports each test module by its basename: two of one name in different
folders stop `pytest tests` at collection ("import file mismatch")."""

import collections
import os

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_every_test_module_name_is_unique():
    seen = collections.defaultdict(list)
    for folder, _, files in os.walk(TESTS):
        for f in files:
            if f.startswith("test_") and f.endswith(".py"):
                seen[f].append(os.path.relpath(os.path.join(folder, f), TESTS))
    assert {n: p for n, p in seen.items() if len(p) > 1} == {}
