"""The privilege variables reach our supervise-daemon as OpenRC passes them."""

import pytest

from openrc_sv.backends import model
from openrc_sv.backends.native import start_options
from openrc_sv.errors import UserError


def build(**v):
    v.setdefault("command", "/bin/sleep")
    return model.from_variables("svc", "/etc/init.d/svc", v, ["1"])


def test_capabilities_secbits_no_new_privs_and_stopgroup_are_passed_on():
    m = build(capabilities="^cap_net_bind_service", secbits="0x2f", no_new_privs="yes",
              stopgroup="", supervise_daemon_args="--nicelevel 5")
    words = start_options(m)
    assert words[words.index("--capabilities") + 1] == "^cap_net_bind_service"
    assert words[words.index("--secbits") + 1] == "0x2f"
    assert "--no-new-privs" in words and "--stop-group" in words
    assert words[-2:] == ["--nicelevel", "5"]


@pytest.mark.parametrize("var,value", [("capabilities", "cap_fly"), ("secbits", "lots"),
                                       ("no_new_privs", "perhaps")])
def test_bad_privilege_values_name_the_variable(var, value):
    with pytest.raises(UserError, match=var):
        build(**{var: value})
