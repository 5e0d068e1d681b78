import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from sandbox import Sandbox, have_openrc  # noqa: E402

# tools/run test sets this: there, a missing OpenRC is a failure, not a skip.
REQUIRE = os.environ.get("OPENRC_SV_REQUIRE_INTEGRATION") == "1"


def pytest_collection_modifyitems(config, items):
    # Where the suite is required to be complete, let such tests run and fail.
    if have_openrc() or REQUIRE:
        return
    skip = pytest.mark.skip(reason="needs root and OpenRC (apt-get install openrc runit monit)")
    for item in items:
        if "integration" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def sandbox(tmp_path):
    """sandbox(supervisor="ours"|"c", env=None) -> a started Sandbox, closed after the test."""
    made = []

    def make(supervisor="ours", env=None):
        d = tmp_path / ("sb%d" % len(made))
        d.mkdir()
        sb = Sandbox(d, supervisor=supervisor, env=env)
        sb.start()
        made.append(sb)
        return sb

    yield make
    for sb in made:
        sb.close()
