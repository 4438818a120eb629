"""What proves a daemon dead (R-G1): only what this host can see of its own processes.
A name's hold is no proof, so nothing else here is either."""

from hypothesis import given
from hypothesis import strategies as st

from qrun.core.daemons import WorkerId, proven_dead

names = st.text(st.characters(blacklist_characters="@:", blacklist_categories=("Cs",)), max_size=12)
hosts = st.text(
    st.characters(blacklist_characters="@:", blacklist_categories=("Cs",)), min_size=1, max_size=12
)
pids = st.integers(min_value=1, max_value=2**22)


@given(names, hosts, pids)
def test_a_worker_id_says_its_name_host_and_pid(name, host, pid):
    assert WorkerId.parse(f"{name}@{host}:{pid}:0a1b2c3d") == WorkerId(name, host, pid)


@given(st.text(max_size=30))
def test_any_text_parses_or_is_refused_without_raising(text):
    WorkerId.parse(text)


@given(hosts, pids, st.booleans())
def test_a_holder_on_another_host_is_never_proven_dead(host, pid, runs):
    assert not proven_dead(f"w@{host}:{pid}:x", host=host + "-other", pid=1, runs=lambda _: runs)


def test_a_holder_here_is_dead_when_its_pid_runs_no_process():
    assert proven_dead("w@h:41:x", host="h", pid=7, runs=lambda pid: pid != 41)
    assert not proven_dead("w@h:41:x", host="h", pid=7, runs=lambda pid: True)


def test_a_holder_with_our_own_pid_ended_before_we_began():
    # A container restarted: the new daemon got its predecessor's pid.
    assert proven_dead("w@h:1:old", host="h", pid=1, runs=lambda pid: True)


def test_an_id_that_is_not_a_worker_id_proves_nothing():
    for text in ("", "w", "w@h", "w@h:", "w@h:pid:x", "@:1:x"):
        assert not proven_dead(text, host="h", pid=1, runs=lambda pid: False)
