"""A daemon's hold on its name (R-G1), kept for its whole life.

A name is one live daemon's, and a daemon acts (claims, adopts, recovers) only while its
hold was confirmed within the last two checks. A hold can be lost while its holder lives:
PostgreSQL's session lock goes with its connection when the server restarts, fails over,
terminates the backend or a proxy drops an idle connection. Each check asks the hold; a
lost one is taken again as soon as the store lets it, and then the daemon recovers the
jobs of the holders it can prove dead (never the live one it lost the name to, who may be
running them on another host). If another daemon took the name meanwhile, this one has
lost it for good: the check says who, and the daemon stops.
"""

from __future__ import annotations

import contextlib
import enum
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager

from qrun.adapters.outages import is_outage
from qrun.core.ports import NameHold, NameTaken

log = logging.getLogger("qrun")


class Standing(enum.Enum):
    HELD = "held"
    REGAINED = "regained"  # lost, and taken again: recover before acting on old work
    LOST = "lost"  # the store cannot be reached to take it again: act on nothing new
    TAKEN = "taken"  # another live daemon holds it now: stop


class _Always:
    """The hold of a third-party store written before holds could be asked."""

    def held(self) -> bool:
        return True


class NameKeeper:
    def __init__(
        self,
        name: str,
        take: Callable[[], AbstractContextManager[NameHold | None]],
        *,
        check_s: float,
        monotonic: Callable[[], float],
        holder: Callable[[], str | None] = lambda: None,
    ) -> None:
        """`take` holds the name once (NameTaken if a live daemon has it); `check_s` is
        how often `check` runs; `holder` names the live holder, where the store can tell."""
        self.name = name
        self._take, self.check_s, self._mono, self._holder = take, check_s, monotonic, holder
        self._stack = contextlib.ExitStack()
        self._hold: NameHold | None = None
        self._confirmed = float("-inf")
        self.taken_by: str | None = None

    def take(self) -> None:
        """Hold the name (at start-up, and again after a loss), or raise NameTaken."""
        self._hold = self._stack.enter_context(self._take()) or _Always()
        self._confirmed = self._mono()

    def acting(self) -> bool:
        """May this daemon claim, adopt and recover now: its hold was confirmed lately.
        A check that hangs (a silent network) ends this within two checks."""
        return self._hold is not None and self._mono() - self._confirmed <= 2 * self.check_s

    def check(self) -> Standing:
        """Ask the hold; take a lost one again. Never raises for an outage."""
        if self.taken_by is not None:
            return Standing.TAKEN
        if self._hold is not None:
            if self._hold.held():
                self._confirmed = self._mono()
                return Standing.HELD
            log.warning(
                "lost the hold on the name %s (its database connection ended); "
                "claiming, adopting and recovering nothing until it is held again",
                self.name,
            )
            self._let_go()
        try:
            self.take()
        except NameTaken as taken:
            self.taken_by = self._holder() or str(taken)
            log.error("another daemon took the name %s meanwhile: %s; stopping", self.name, self.taken_by)
            return Standing.TAKEN
        except Exception as exc:
            if not is_outage(exc):
                raise
            log.warning("waiting for the database to hold the name %s again: %s", self.name, exc)
            return Standing.LOST
        log.warning("holding the name %s again", self.name)
        return Standing.REGAINED

    def _let_go(self) -> None:
        self._hold = None
        try:
            self._stack.close()  # a dead connection's close can fail: it is gone either way
        except Exception as exc:
            log.debug("closing the lost hold failed: %s", exc)
        self._stack = contextlib.ExitStack()

    def close(self) -> None:
        self._hold = None
        self._stack.close()

    def __enter__(self) -> NameKeeper:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
