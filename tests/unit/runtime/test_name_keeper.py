"""A daemon's hold on its name (R-G1), around a fake `NameLocks` whose holds can be lost
the way a PostgreSQL session lock is (the real one's loss is tested on a real server)."""

import contextlib

import pytest

from qrun.bootstrap.runtime.names import NameKeeper, Standing
from qrun.core.ports import NameTaken, StoreUnreachable


class Hold:
    def __init__(self, locks):
        self.locks, self.lost = locks, False

    def held(self):
        return not self.lost


class Locks:
    """One name; `lose()` is a dropped connection, `down` an outage, `other` a rival."""

    def __init__(self):
        self.current, self.down, self.other, self.bug = None, False, False, False

    @contextlib.contextmanager
    def lock_name(self):
        if self.bug:
            raise ValueError("a bug")
        if self.down:
            raise StoreUnreachable("cannot connect")
        if self.other or (self.current is not None and not self.current.lost):
            raise NameTaken("a daemon named 'n' is running")
        self.current = hold = Hold(self)
        try:
            yield hold
        finally:
            hold.lost = True

    def lose(self):
        self.current.lost = True


class Mono:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


@pytest.fixture(name="kept")
def _kept():
    locks, mono = Locks(), Mono()
    keeper = NameKeeper("n", locks.lock_name, check_s=10.0, monotonic=mono, holder=lambda: "n@elsewhere:7:ab")
    keeper.take()
    return keeper, locks, mono


def test_a_held_name_is_confirmed_at_each_check(kept):
    keeper, _locks, mono = kept
    assert keeper.acting() and keeper.check() is Standing.HELD
    mono.t = 15.0
    assert keeper.check() is Standing.HELD and keeper.acting()


def test_a_lost_hold_is_taken_again_and_the_daemon_acts_again(kept):
    keeper, locks, _mono = kept
    locks.lose()
    assert keeper.check() is Standing.REGAINED
    assert keeper.acting() and keeper.check() is Standing.HELD


def test_while_the_store_is_down_a_lost_name_is_not_acted_on(kept):
    keeper, locks, mono = kept
    locks.lose()
    locks.down = True
    assert keeper.check() is Standing.LOST and not keeper.acting()
    mono.t = 100.0
    assert keeper.check() is Standing.LOST and not keeper.acting()
    locks.down = False
    assert keeper.check() is Standing.REGAINED and keeper.acting()


def test_a_name_another_daemon_took_is_lost_for_good_and_names_the_taker(kept):
    keeper, locks, _mono = kept
    locks.lose()
    locks.other = True
    assert keeper.check() is Standing.TAKEN and not keeper.acting()
    assert keeper.taken_by == "n@elsewhere:7:ab"
    locks.other = False  # even if it is free later: this daemon already stopped acting
    assert keeper.check() is Standing.TAKEN


def test_a_check_that_hangs_ends_acting_within_two_checks(kept):
    keeper, _locks, mono = kept
    mono.t = 20.0
    assert keeper.acting()
    mono.t = 20.1  # no check confirmed the hold for over two check periods
    assert not keeper.acting()


def test_a_store_error_that_is_not_an_outage_is_not_swallowed(kept):
    keeper, locks, _mono = kept
    locks.lose()
    locks.bug = True
    with pytest.raises(ValueError, match="a bug"):
        keeper.check()


def test_a_third_party_hold_without_held_counts_as_held():
    @contextlib.contextmanager
    def old_style():
        yield None

    keeper = NameKeeper("n", old_style, check_s=1.0, monotonic=lambda: 0.0)
    keeper.take()
    assert keeper.check() is Standing.HELD
