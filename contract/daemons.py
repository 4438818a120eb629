"""The optional `DaemonRegistry` (R-F4): what live daemons report of themselves, read
back as written, the newest report of each daemon only, old reports dropped."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import attrs
import pytest

from qrun.core.daemons import FORGOTTEN_AFTER, DaemonSeen
from qrun.core.ports import DaemonRegistry, JobStore

from .base import StoreFixtures
from .builders import T0, at


def seen(daemon_id: str, when: int, **kw: Any) -> DaemonSeen:
    values: dict[str, object] = {
        "id": daemon_id,
        "name": "box",
        "host": "h1",
        "pid": 4242,
        "slots": 8,
        "running": 3,
        "queues": None,
        "started_at": T0 + timedelta(microseconds=123457),
        "seen_at": at(when),
    }
    return DaemonSeen(**{**values, **kw})


class StoreDaemons(StoreFixtures):
    @pytest.fixture
    def registry(self, store: JobStore) -> DaemonRegistry:
        if not isinstance(store, DaemonRegistry):
            pytest.skip(f"{type(store).__name__} does not offer DaemonRegistry (optional)")
        return store

    def test_r_f4_reports_read_back_as_written_by_name_host_and_id(self, registry: DaemonRegistry) -> None:
        b = seen("w-b", 5, name="box", host="h2", queues=("mail", "default"), kinds=("command", "send"))
        a = seen("w-a", 6, name="box", host="h2")
        c = seen("w-c", 7, name="alpha", host="h9", slots=64, running=0)
        for report in (b, a, c):
            registry.report(report)
        assert registry.daemons(at(0)) == [c, a, b]

    def test_r_f4_a_new_report_replaces_the_last_and_old_ones_are_not_listed(
        self, registry: DaemonRegistry
    ) -> None:
        registry.report(seen("w-1", 1))
        registry.report(seen("w-2", 2))
        newer = seen("w-1", 10, running=7, queues=("q",))
        registry.report(newer)
        assert registry.daemons(at(10)) == [newer]
        assert [d.id for d in registry.daemons(at(2))] == ["w-1", "w-2"]  # at `since` counts

    def test_r_f4_a_report_drops_those_not_renewed_for_an_hour_and_forget_drops_one(
        self, registry: DaemonRegistry
    ) -> None:
        old, kept = seen("w-old", 0), seen("w-kept", 1)
        registry.report(old)
        registry.report(kept)
        late = attrs.evolve(seen("w-late", 0), seen_at=at(0) + FORGOTTEN_AFTER + timedelta(seconds=1))
        registry.report(late)
        assert [d.id for d in registry.daemons(T0 - timedelta(days=1))] == ["w-kept", "w-late"]
        registry.forget("w-kept")
        registry.forget("w-nobody")
        assert [d.id for d in registry.daemons(T0 - timedelta(days=1))] == ["w-late"]
