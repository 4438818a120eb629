"""The crash-point hook tests set on real processes (QRUN_TEST_CRASH_AT)."""

import signal
import subprocess
import sys

import pytest

from qrun.adapters import crashpoints

FIRE = "from qrun.adapters import crashpoints as c; h = c.from_env(); h('spawn'); h('claim'); h('claim')"


def fire(env):
    return subprocess.run([sys.executable, "-c", FIRE], env=env, check=False).returncode


def test_unset_it_never_fires():
    assert crashpoints.from_env({}) is crashpoints.never
    assert fire({}) == 0


def test_the_nth_arrival_at_its_point_kills_the_process(tmp_path):
    assert fire({"QRUN_TEST_CRASH_AT": "claim"}) == -signal.SIGKILL
    assert fire({"QRUN_TEST_CRASH_AT": "claim:2"}) == -signal.SIGKILL
    assert fire({"QRUN_TEST_CRASH_AT": "claim:3"}) == 0
    assert fire({"QRUN_TEST_CRASH_AT": "finish"}) == 0


def test_with_a_once_token_only_the_first_process_dies(tmp_path):
    env = {"QRUN_TEST_CRASH_AT": "spawn", "QRUN_TEST_CRASH_ONCE": str(tmp_path / "token")}
    assert fire(env) == -signal.SIGKILL
    assert fire(env) == 0


@pytest.mark.parametrize("spec", ["nowhere", "claim:0", "claim:x", "claim:-1"])
def test_a_malformed_setting_is_refused_with_the_points_named(spec):
    with pytest.raises(ValueError, match=r"QRUN_TEST_CRASH_AT.*claim, prepare, spawn"):
        crashpoints.from_env({"QRUN_TEST_CRASH_AT": spec})
