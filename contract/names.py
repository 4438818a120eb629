"""Daemon names (R-G1): one live holder per name, and a hold that says when it ended."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from qrun.core.ports import JobStore, NameLocks, NameTaken

from .base import MakeStore, StoreFixtures


class StoreNameLocks(StoreFixtures):
    """The optional `NameLocks` (R-G1): one live holder per daemon name."""

    @pytest.fixture
    def names(self, store: JobStore) -> NameLocks:
        if not isinstance(store, NameLocks):
            pytest.skip(f"{type(store).__name__} does not offer NameLocks (optional)")
        return store

    def test_r_g1_a_name_has_one_live_holder(self, names: NameLocks) -> None:
        with names.lock_name("box"):
            with pytest.raises(NameTaken, match="box"), names.lock_name("box"):
                pass
            with names.lock_name("other"):  # other names are free meanwhile
                pass

    def test_r_g1_a_released_name_can_be_taken_again(self, names: NameLocks) -> None:
        with names.lock_name("box"):
            pass
        with names.lock_name("box"):
            pass

    def test_r_g1_a_hold_says_it_is_held_while_it_is(self, names: NameLocks) -> None:
        with names.lock_name("box") as hold, names.lock_name("other") as other:
            assert hold.held() and other.held()
            assert hold.held()  # asking again changes nothing


class StoreNameLoss:
    """Opt-in, for a store whose holds can end under a live holder (a lock on a
    connection): subclass it beside `JobStoreContract` and give `lose_name(store, name)`,
    which ends the hold the way production does (PostgreSQL: a terminated backend)."""

    @pytest.fixture
    def lose_name(self) -> Callable[[JobStore, str], None]:
        raise NotImplementedError("give a lose_name fixture")

    def test_r_g1_a_lost_hold_says_so_and_the_name_is_free(
        self, make_store: MakeStore, lose_name: Callable[[JobStore, str], None]
    ) -> None:
        store = make_store()
        assert isinstance(store, NameLocks)
        with store.lock_name("box") as hold:
            assert hold.held()
            lose_name(store, "box")
            deadline = time.monotonic() + 30
            while hold.held():  # the store may learn of it a moment later
                assert time.monotonic() < deadline, "the hold still says it is held"
                time.sleep(0.05)
            assert not hold.held()  # and it stays lost
            with store.lock_name("box") as again:  # no one holds it: it can be taken
                assert again.held()
                with pytest.raises(NameTaken), store.lock_name("box"):
                    pass
