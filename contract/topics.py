"""Topics and events (R-D4), held for every store: pending -> reserved -> consumed, release
and skip on a handler's failure, reservations that run out are handed out again (never
lost), and only the current holder settles (never consumed twice), also under many
concurrent consumers."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest

from qrun.core.ports import DuplicateEvent, EventStore
from qrun.core.topics import EventStatus, Settle, TopicEvent

from .base import StoreFixtures
from .builders import T0, at, built
from .races import together

_n = iter(range(10**9))


def event(topic: str = "t", **kw: Any) -> TopicEvent:
    kw.setdefault("id", f"ev-{next(_n):06d}")
    kw.setdefault("published_at", T0)
    return TopicEvent(topic=topic, **kw)


class StoreTopics(StoreFixtures):
    def test_r_d4_published_events_are_pending_and_reserved_oldest_first(self, store: EventStore) -> None:
        es = [event(published_at=at(i), payload={"n": i}) for i in (3, 1, 2)]
        store.publish(es)
        assert store.available("t", at(5)) == 3
        got = store.reserve("t", "c1", limit=2, now=at(5), until=at(65))
        assert [e.payload["n"] for e in got] == [1, 2]
        assert all(
            e.status is EventStatus.RESERVED and e.reserved_by == "c1" and e.deliveries == 1 for e in got
        )
        assert store.available("t", at(5)) == 1

    def test_r_d4_other_topics_are_untouched(self, store: EventStore) -> None:
        store.publish([event("a"), event("b")])
        [got] = store.reserve("a", "c1", limit=5, now=at(1), until=at(60))
        assert got.topic == "a"
        assert [e.status for e in store.events("b")] == [EventStatus.PENDING]

    def test_r_d4_a_publish_is_all_or_nothing(self, store: EventStore) -> None:
        first = event()
        store.publish([first])
        with pytest.raises(DuplicateEvent):
            store.publish([event(), event(id=first.id)])
        assert len(store.events("t")) == 1

    def test_r_d4_the_lifecycle_pending_reserved_consumed(self, store: EventStore) -> None:
        e = event(payload={"x": [1, "two"]})
        store.publish([e])
        [r] = store.reserve("t", "c1", limit=1, now=at(1), until=at(60))
        assert store.settle([r.id], "c1", Settle.CONSUME, now=at(2)) == [e.id]
        [done] = store.events("t")
        assert (done.status, done.settled_at, done.reserved_by, done.payload) == (
            EventStatus.CONSUMED,
            at(2),
            None,
            {"x": [1, "two"]},
        )
        assert store.reserve("t", "c2", limit=1, now=at(999), until=at(1999)) == []

    def test_r_d4_a_failed_handler_releases_the_event_for_the_next_try(self, store: EventStore) -> None:
        e = event()
        store.publish([e])
        store.reserve("t", "c1", limit=1, now=at(1), until=at(60))
        assert store.settle([e.id], "c1", Settle.RELEASE, now=at(2), note="boom") == [e.id]
        [again] = store.reserve("t", "c2", limit=1, now=at(3), until=at(60))
        assert (again.id, again.deliveries, again.note) == (e.id, 2, "boom")

    def test_r_d4_a_skipped_event_is_kept_with_its_reason_and_not_handed_out(self, store: EventStore) -> None:
        e = event()
        store.publish([e])
        store.reserve("t", "c1", limit=1, now=at(1), until=at(60))
        store.settle([e.id], "c1", Settle.SKIP, now=at(2), note="malformed")
        [kept] = store.events("t", EventStatus.SKIPPED)
        assert (kept.id, kept.note, kept.settled_at) == (e.id, "malformed", at(2))
        assert store.available("t", at(999)) == 0

    def test_r_d4_an_event_whose_consumer_died_is_handed_out_again(self, store: EventStore) -> None:
        e = event()
        store.publish([e])
        store.reserve("t", "dead", limit=1, now=at(1), until=at(30))
        assert store.reserve("t", "c2", limit=1, now=at(29), until=at(90)) == []
        [r] = store.reserve("t", "c2", limit=1, now=at(30), until=at(90))
        assert (r.id, r.reserved_by, r.deliveries) == (e.id, "c2", 2)

    def test_r_d4_only_the_current_holder_settles_so_nothing_is_consumed_twice(
        self, store: EventStore
    ) -> None:
        e = event()
        store.publish([e])
        store.reserve("t", "slow", limit=1, now=at(1), until=at(30))
        store.reserve("t", "fast", limit=1, now=at(31), until=at(90))
        assert store.settle([e.id], "slow", Settle.CONSUME, now=at(32)) == []
        assert store.settle([e.id], "fast", Settle.CONSUME, now=at(33)) == [e.id]
        assert store.settle([e.id], "fast", Settle.CONSUME, now=at(34)) == []
        assert store.settle(["nope"], "fast", Settle.SKIP, now=at(34)) == []

    def test_r_d4_concurrent_consumers_consume_every_event_exactly_once(self, store: EventStore) -> None:
        events = [event(published_at=T0 + timedelta(microseconds=i)) for i in range(80)]
        store.publish(events)
        seen: list[str] = []
        guard = threading.Lock()

        def consume(i: int) -> list[str]:
            mine: list[str] = []
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                got = store.reserve("t", f"c{i}", limit=3, now=at(1), until=at(60))
                if not got:
                    with guard:
                        if len(seen) == len(events):
                            return mine
                    time.sleep(0.001)
                    continue
                ids = [e.id for e in got]
                if i % 3 == 0 and ids:  # some handlers fail once: release, someone retries
                    store.settle(ids[:1], f"c{i}", Settle.RELEASE, now=at(1))
                    ids = ids[1:]
                settled = store.settle(ids, f"c{i}", Settle.CONSUME, now=at(2))
                assert settled == ids
                mine += settled
                with guard:
                    seen.extend(settled)
            return mine

        consumed = [e for ids in together(self.race_threads, consume) for e in ids]
        assert Counter(consumed) == Counter(e.id for e in events)
        assert {e.status for e in store.events("t")} == {EventStatus.CONSUMED}

    def test_r_d4_a_reservation_that_ends_before_it_starts_takes_nothing(self, store: EventStore) -> None:
        store.publish([event()])
        assert store.reserve("t", "c1", limit=1, now=at(5), until=at(5)) == []
        assert store.reserve("t", "c1", limit=0, now=at(5), until=at(9)) == []
        assert store.available("t", at(5)) == 1

    def test_reserve_reads_only_its_own_topic_whichever_name_sorts_last(self, store: EventStore) -> None:
        store.publish([event("alpha", id="e1"), event("omega", id="e2")])
        got = store.reserve(built("ome", "ga"), "c", limit=5, now=T0, until=at(60))
        assert [e.id for e in got] == ["e2"]
        assert store.available(built("al", "pha"), T0) == 1
        mine = store.reserve(topic=built("alpha"), consumer="c", limit=1, now=T0, until=at(60))
        assert [e.id for e in mine] == ["e1"]

    def test_a_reserve_with_a_negative_limit_or_a_past_deadline_takes_nothing(
        self, store: EventStore
    ) -> None:
        # SQL reads LIMIT -1 as "no limit"; a reservation over before it starts is none.
        store.publish([event("t", id="e1"), event("t", id="e2")])
        assert store.reserve("t", "c", limit=-1, now=at(10), until=at(60)) == []
        assert store.reserve("t", "c", limit=5, now=at(10), until=at(5)) == []
        pending = store.events(topic="t", status=EventStatus.PENDING, limit=10)
        assert [e.id for e in pending] == ["e1", "e2"]

    def test_an_event_id_twice_in_one_publish_is_refused_whole(self, store: EventStore) -> None:
        with pytest.raises(DuplicateEvent):
            store.publish([event(id="x1"), event(id="x2"), event(id="x1")])
        assert store.events("t") == []

    def test_events_lists_at_most_a_thousand_unless_asked(self, store: EventStore) -> None:
        store.publish([event(id=f"n{i:04d}") for i in range(1001)])
        assert len(store.events("t")) == 1000
        assert len(store.events("t", limit=1001)) == 1001
